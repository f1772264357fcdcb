"""Cold cache and Redis restarts: the cache is emptied (eviction, a Redis
restart without persistence) and refilled by reads while updates run.

A cold-key refill race is not accepted (prompt.md): a read that loaded a
profile or built a team page from the database before an update must not
store it in Redis after that update finished. The tests force the race by
construction: the reading instance's Redis traffic is held at its first write
(its fill, which comes after its database read) while another instance
updates the same profile to the end; then the fill goes on.

Two more tests force, the same way, the interleavings in which a read that
lost the race for an empty key answers a row the cache does not hold: a
profile miss whose fill finds the key already filled with an OLDER row (by a
team page built before the update committed), and a team page build whose
WATCH was aborted by such an older fill. Either read must show what the cache
holds (or make the cache hold what it shows): otherwise it shows the newer
version and the next reader, served from the cache, the older one.

The restart test empties Redis, flushes its script cache (SCRIPT FLUSH: a
restarted Redis has none) and resets every instance's Redis connections, then
runs concurrent updates (writers sharing users across instances) and reads:
every request must be served and no read may go back.
"""

import os
import time

import directory_data
from history import History
from service import Client
from workload import (Background, Recorder, check_history, expect_database_versions, run_mixed,
                      wait_for, warm)

FILL_WAIT = 3.0  # seconds a read may take to reach its first Redis write (a fix may not write at all)
STEP_WAIT = 5.0  # seconds a request let go may take to finish before the next one is let go


def _refill_race(fleet, out_dir, name, rounds, read):
    a, b, c = fleet["a"], fleet["b"], fleet["c"]
    history = History()
    rec = Recorder(history, "reader")
    filler = Recorder(history, "filler")
    upd = Recorder(history, "updater")
    problems = []
    try:
        for n, (user, target, warm_profiles) in enumerate(rounds):
            directory_data.redis_client().flushdb()
            if warm_profiles:
                for u in directory_data.USERS:
                    rec.read_profile(a, u)
            b.redis_link.hold_writes(after=0)
            job = Background(lambda: read(filler, b, target), name="filler")
            wait_for(lambda: b.redis_link.holding or job.done, FILL_WAIT)
            upd.update(a, user, f"updated while b refills, round {n}")
            b.redis_link.release()
            job.join(15)
            if job.error is not None:
                problems.append(f"round {n}: the read through b failed: {job.error}")
            problems += expect_database_versions(rec, [a, b, c], [user])
    finally:
        rec.close()
        filler.close()
        upd.close()
    check_history(fleet, history, out_dir, name, problems)


def test_profile_refill_racing_an_update(fresh, out_dir):
    """b loads a profile from Postgres into an empty cache; a updates it and
    finishes before b's fill reaches Redis."""
    rounds = [(2, 2, False), (9, 9, False), (16, 16, False), (21, 21, False)]
    _refill_race(fresh, out_dir, "test_profile_refill_racing_an_update", rounds,
                 lambda rec, inst, user: rec.read_profile(inst, user))


def test_team_page_refill_racing_an_update(fresh, out_dir):
    """b builds a team page (from cached profiles, or from Postgres into an
    empty cache); a updates one of its members and finishes before b's page
    reaches Redis."""
    rounds = [(7, 1, True), (8, 2, False), (9, 3, True), (16, 4, False), (11, 5, True), (12, 6, False)]
    for user, team, _ in rounds:
        assert team in directory_data.teams_of(user)
    _refill_race(fresh, out_dir, "test_team_page_refill_racing_an_update", rounds,
                 lambda rec, inst, team: rec.read_team(inst, team))


class _Interleaving:
    """Requests of one round, each started with its instance's Redis link
    armed at the first write and let go one at a time, in the order the test
    chooses. A request that reaches no write within FILL_WAIT (a fix may
    write elsewhere, or not at all) runs on unheld; so does one that waits
    for another held request: every wait is bounded, and nothing is judged
    from the order alone, only from the history."""

    def __init__(self):
        self.jobs = []
        self.held = 0

    def start(self, inst, fn, name):
        inst.redis_link.hold_writes(after=0)
        job = Background(fn, name=name)
        wait_for(lambda: inst.redis_link.holding or job.done, FILL_WAIT)
        self.held += inst.redis_link.holding
        self.jobs.append((name, job))
        return job

    @staticmethod
    def let_go(inst, job):
        inst.redis_link.release()
        job.join(STEP_WAIT)

    def finish(self, round_no):
        problems = []
        for name, job in self.jobs:
            if not job.join(15):
                problems.append(f"round {round_no}: the {name} did not finish after its instance was let go")
            elif job.error is not None:
                problems.append(f"round {round_no}: the {name} failed: {job.error}")
        return problems


def _lost_race_rounds(fleet, out_dir, name, rounds, play):
    """For each (user, team) round, empties the cache and runs
    play(plan, recorders, user, team, round); once every request of the round
    finished, every view must show the database's version, and at the end the
    history must hold no stale read. The number of requests held at a write is written for humans to
    interleavings-<name>.txt; it is not judged."""
    history = History()
    recs = {role: Recorder(history, role) for role in ("filler", "builder", "updater", "checker")}
    problems, held = [], []
    try:
        for n, (user, team) in enumerate(rounds):
            assert team in directory_data.teams_of(user)
            directory_data.redis_client().flushdb()
            plan = _Interleaving()
            try:
                play(plan, recs, user, team, n)
            finally:
                for inst in fleet.instances.values():
                    inst.redis_link.release()
            problems += plan.finish(n)
            held.append(plan.held)
            problems += expect_database_versions(recs["checker"], [fleet["a"], fleet["b"], fleet["c"]], [user])
    finally:
        for rec in recs.values():
            rec.close()
    with open(os.path.join(out_dir, f"interleavings-{name}.txt"), "w") as f:
        f.write(f"requests held at a write, per round: {held} (3 each when every hold was reached)\n")
    check_history(fleet, history, out_dir, name, problems)


LOST_RACE_ROUNDS = [(7, 1), (8, 5), (21, 3)]  # 8 is in two teams


def test_lost_profile_fill_shows_the_cached_version(fresh, out_dir):
    """A profile miss that reads the updated row but loses its fill to an
    older one must not answer the newer row while the cache holds the older.

    Each round, over an empty cache: c builds a team page from the database
    (the old row of the user) and is held at its first write (the EXEC that
    would store the page and the rows); a updates the user, commits, and is
    held at its first write (the cache step); b reads the profile, a miss
    that loads the new row, and is held at its fill. Then c's page goes on
    and stores the old row, then b's fill, which finds the key filled; b's
    answer is checked against reads through c and b that come after it,
    served from the cache; then a's update goes on and every view must end
    at the database's version."""
    a, b, c = fresh["a"], fresh["b"], fresh["c"]

    def play(plan, recs, user, team, n):
        page = plan.start(c, lambda: recs["builder"].read_team(c, team), "team page read through c")
        update = plan.start(a, lambda: recs["updater"].update(a, user, f"while b refills, round {n}"),
                            "update through a")
        fill = plan.start(b, lambda: recs["filler"].read_profile(b, user), "profile read through b")
        plan.let_go(c, page)
        plan.let_go(b, fill)
        recs["checker"].read_profile(c, user)
        recs["checker"].read_team(b, team)
        recs["checker"].read_profile(b, user)
        plan.let_go(a, update)

    _lost_race_rounds(fresh, out_dir, "test_lost_profile_fill_shows_the_cached_version",
                      LOST_RACE_ROUNDS, play)


def test_aborted_team_page_build_shows_the_cached_versions(fresh, out_dir):
    """A team page build aborted because a member's key was filled meanwhile
    (with an older row) must not answer the newer row it loaded itself.

    Each round, over an empty cache: b reads the profile, a miss that loads
    the old row, and is held at its fill; a updates the user, commits, and is
    held at its first write; c builds the team page, loading the new row from
    the database, and is held at its first write (the EXEC, under WATCH of the
    members). Then b's fill goes on and stores the old row, which aborts c's
    EXEC; then c goes on. c's page is checked against reads through b and c
    that come after it, served from the cache; then a's update goes on and
    every view must end at the database's version."""
    a, b, c = fresh["a"], fresh["b"], fresh["c"]

    def play(plan, recs, user, team, n):
        fill = plan.start(b, lambda: recs["filler"].read_profile(b, user), "profile read through b")
        update = plan.start(a, lambda: recs["updater"].update(a, user, f"while c builds, round {n}"),
                            "update through a")
        page = plan.start(c, lambda: recs["builder"].read_team(c, team), "team page read through c")
        plan.let_go(b, fill)
        plan.let_go(c, page)
        recs["checker"].read_profile(b, user)
        recs["checker"].read_team(b, team)
        recs["checker"].read_profile(c, user)
        plan.let_go(a, update)

    _lost_race_rounds(fresh, out_dir, "test_aborted_team_page_build_shows_the_cached_versions",
                      LOST_RACE_ROUNDS, play)


def _wait_serving(instances, timeout=20.0):
    client = Client(timeout=5.0)
    try:
        for inst in instances:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    client.request(inst, "GET", "/users/1")
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
    finally:
        client.close()


def test_redis_restart_keeps_service_and_consistency(fresh, out_dir):
    a, b, c = fresh["a"], fresh["b"], fresh["c"]
    instances = [a, b, c]
    history = History()
    warm(history, instances)
    rec = Recorder(history, "before")
    try:
        for n, user in enumerate([1, 2, 3]):
            rec.update(instances[n], user, "before the restart")
    finally:
        rec.close()

    r = directory_data.redis_client()
    r.flushdb()
    r.script_flush()
    for inst in instances:
        inst.redis_link.sever()
    _wait_serving(instances)

    errors = run_mixed(history, instances, instances, writers=3, readers=6, updates_per_writer=8,
                       shared_users=True)
    assert not errors, f"requests failed after the Redis restart: {errors[:5]}"
    rec = Recorder(history, "final")
    try:
        problems = expect_database_versions(rec, instances, directory_data.USERS)
    finally:
        rec.close()
    check_history(fresh, history, out_dir, "test_redis_restart_keeps_service_and_consistency", problems)
