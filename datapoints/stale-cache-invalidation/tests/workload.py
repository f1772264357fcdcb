"""Concurrent readers and writers against a set of instances, recorded in a History."""

import os
import random
import threading
import time

import directory_data
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
              updates_per_writer=12, hot_bias=0.9):
    """Writers update disjoint sets of users one update at a time, rotating
    over writer_instances; readers read a profile and one of its teams back to
    back, each through a random instance of reader_instances, mostly for users
    that are being updated right now. Returns the list of unexpected errors."""
    hot = []
    hot_lock = threading.Lock()
    done = threading.Event()
    errors = []
    users = list(directory_data.USERS)

    def writer(i):
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
