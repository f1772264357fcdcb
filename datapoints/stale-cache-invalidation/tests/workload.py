"""Concurrent readers and writers against a set of instances, recorded in a History."""

import os
import random
import threading
import time

import directory_data
from history import History, append_events, describe, find_stale_reads
from service import Client


class Recorder:
    """Issues directory requests from one thread and records each in the history."""

    def __init__(self, history, thread):
        self.history = history
        self.thread = thread
        self.client = Client()

    def _run(self, kind, inst, target, method, path, body, observe):
        op = self.history.invoke(kind, inst.name, target, self.thread)
        try:
            result = self.client.request(inst, method, path, body)
        except Exception as err:
            self.history.fail(op, err)
            raise
        self.history.complete(op, observe(result))
        return result

    def read_profile(self, inst, user):
        return self._run("read-profile", inst, f"user:{user}", "GET", f"/users/{user}", None,
                         lambda p: {p["id"]: p["version"]})

    def read_team(self, inst, team):
        return self._run("read-team", inst, f"team:{team}", "GET", f"/teams/{team}", None,
                         lambda page: {m["id"]: m["version"] for m in page["members"]})

    def update(self, inst, user, title):
        return self._run("update", inst, f"user:{user}", "PATCH", f"/users/{user}", {"title": title},
                         lambda p: {p["id"]: p["version"]})

    def close(self):
        self.client.close()


def warm(history, instances):
    """Reads every profile and team page once through each instance."""
    rec = Recorder(history, "warm")
    try:
        for inst in instances:
            for user in directory_data.USERS:
                rec.read_profile(inst, user)
            for team in directory_data.TEAMS:
                rec.read_team(inst, team)
    finally:
        rec.close()


def trial_seed():
    return int(os.environ.get("RACEBENCH_TRIAL", "1"))


def run_mixed(history, writer_instances, reader_instances, *, writers=3, readers=6,
              updates_per_writer=12, hot_bias=0.9, shared_users=False):
    """Writers update users one update at a time, rotating over
    writer_instances: disjoint sets of users, or with shared_users every
    writer goes through the same users in the same order, each on another
    instance, so one profile is updated by several instances at once. Readers
    read a profile and one of its teams back to back, each through a random
    instance of reader_instances, mostly for users that are being updated
    right now. Returns the list of unexpected errors."""
    hot = []
    hot_lock = threading.Lock()
    done = threading.Event()
    errors = []
    users = list(directory_data.USERS)

    def writer(i):
        if shared_users:
            mine = list(users)
            random.Random(trial_seed() * 1000).shuffle(mine)
        else:
            rng = random.Random(trial_seed() * 1000 + i)
            mine = users[i::writers]
            rng.shuffle(mine)
        rec = Recorder(history, f"writer-{i}")
        try:
            for k in range(updates_per_writer):
                user = mine[k % len(mine)]
                inst = writer_instances[(i + k) % len(writer_instances)]
                with hot_lock:
                    hot.append(user)
                try:
                    rec.update(inst, user, f"title {k} by writer {i}")
                finally:
                    with hot_lock:
                        hot.remove(user)
        except Exception as err:
            errors.append(f"writer-{i}: {err}")
        finally:
            rec.close()

    def reader(j):
        rng = random.Random(trial_seed() * 1000 + 100 + j)
        rec = Recorder(history, f"reader-{j}")
        try:
            while not done.is_set():
                with hot_lock:
                    candidates = list(hot)
                user = rng.choice(candidates) if candidates and rng.random() < hot_bias else rng.choice(users)
                team = rng.choice(directory_data.teams_of(user))
                first, second = rng.choice(reader_instances), rng.choice(reader_instances)
                if rng.random() < 0.7:
                    rec.read_profile(first, user)
                    rec.read_team(second, team)
                else:
                    rec.read_team(first, team)
                    rec.read_profile(second, user)
        except Exception as err:
            errors.append(f"reader-{j}: {err}")
        finally:
            rec.close()

    reader_threads = [threading.Thread(target=reader, args=(j,), name=f"reader-{j}") for j in range(readers)]
    writer_threads = [threading.Thread(target=writer, args=(i,), name=f"writer-{i}") for i in range(writers)]
    for t in reader_threads:
        t.start()
    time.sleep(0.05)
    for t in writer_threads:
        t.start()
    for t in writer_threads:
        t.join(60)
    time.sleep(0.05)
    done.set()
    for t in reader_threads:
        t.join(30)
    return errors


class Background:
    """Runs fn in a thread; join() returns its result or raises its error."""

    def __init__(self, fn, name="background"):
        self.result, self.error = None, None
        self.thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            self.error = err

    @property
    def done(self):
        return not self.thread.is_alive()

    def join(self, timeout):
        self.thread.join(timeout)
        return self.done


def wait_for(predicate, timeout, step=0.005):
    """Waits until predicate() is true (an event, not a fixed time); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def read_all_views(rec, instances, user):
    """Reads the user's profile and every team page it is on, through each
    instance; returns problems where a page and the profile disagree."""
    problems = []
    for inst in instances:
        profile = rec.read_profile(inst, user)["version"]
        for team in directory_data.teams_of(user):
            page = rec.read_team(inst, team)
            shown = {m["id"]: m["version"] for m in page["members"]}.get(user)
            if shown != profile:
                problems.append(f"user {user}: team {team} on {inst.name} shows v{shown} "
                                f"while the profile there is v{profile}")
    return problems


def expect_database_versions(rec, instances, users):
    """Once nothing runs any more, every view must show what Postgres holds."""
    versions = directory_data.db_versions()
    problems = []
    for user in users:
        for inst in instances:
            got = rec.read_profile(inst, user)["version"]
            if got != versions[user]:
                problems.append(f"user {user}: profile on {inst.name} is v{got}, the database has v{versions[user]}")
            for team in directory_data.teams_of(user):
                page = rec.read_team(inst, team)
                shown = {m["id"]: m["version"] for m in page["members"]}.get(user)
                if shown != versions[user]:
                    problems.append(f"user {user}: team {team} on {inst.name} shows v{shown}, "
                                    f"the database has v{versions[user]}")
    return problems


CUT_USERS = [8, 3, 12, 5, 16, 7, 20, 9]  # 8, 12, 16 and 20 are in two teams
MAX_WRITES_EXPLORED = len(CUT_USERS)


def stall_update_at_each_write(fleet, out_dir, name, then):
    """Round k: the update through c is held at its (k+1)-th write to Redis;
    a and b read the user's views; then `then` is "release" (the write goes
    on) or "sever" (c's Redis connections are reset and the held writes are
    lost). Stops at the first k the update gets through without a hold."""
    a, b, c = fleet["a"], fleet["b"], fleet["c"]
    history = History()
    warm(history, [a, b])
    rec = Recorder(history, "reader")
    upd = Recorder(history, "updater")
    problems, explored = [], 0
    try:
        for k, user in enumerate(CUT_USERS):
            c.redis_link.hold_writes(after=k)
            job = Background(lambda: upd.update(c, user, f"cut after {k} writes"), name="updater")
            wait_for(lambda: c.redis_link.holding or job.done, 15)
            if not c.redis_link.holding:
                job.join(15)
                c.redis_link.release()
                break
            explored += 1
            for _ in range(2):
                problems += read_all_views(rec, [a, b], user)
            if then == "sever":
                c.redis_link.sever()
            else:
                c.redis_link.release()
            job.join(15)
            if not job.done:
                problems.append(f"user {user}: the update through c did not finish after its stall")
            problems += read_all_views(rec, [a, b], user)
        else:
            problems.append(f"the update still wrote to Redis after {MAX_WRITES_EXPLORED} writes")
        if then == "sever":
            # c must have reconnected: it serves reads and updates again
            upd.update(c, 24, "after the resets")
            problems += read_all_views(rec, [a, b, c], 24)
    finally:
        rec.close()
        upd.close()
    with open(os.path.join(out_dir, f"cut-points-{name}.txt"), "w") as f:
        f.write(f"stalled at {explored} write(s)\n")
    check_history(fleet, history, out_dir, name, problems)


def check_history(fleet, history, out_dir, name, problems=()):
    """Writes the history, appends timeline events for stale reads, asserts
    there is none (and no other problem), and that the service's connections
    all came through the test's proxies."""
    history.write(os.path.join(out_dir, f"history-{name}.jsonl"))
    stale = find_stale_reads(history.ops)
    append_events(os.path.join(out_dir, "events.jsonl"), history.ops, stale)
    problems = list(problems)
    assert not stale, describe(stale) + ("\n" + "\n".join(problems[:10]) if problems else "")
    assert not problems, "\n".join(problems[:10])
    fleet.assert_connections_through_links()
