"""Cold cache and Redis restarts: the cache is emptied (eviction, a Redis
restart without persistence) and refilled by reads while updates run.

A cold-key refill race is not accepted (prompt.md): a read that loaded a
profile or built a team page from the database before an update must not
store it in Redis after that update finished. The tests force the race by
construction: the reading instance's Redis traffic is held at its first write
(its fill, which comes after its database read) while another instance
updates the same profile to the end; then the fill goes on.

The restart test empties Redis, flushes its script cache (SCRIPT FLUSH: a
restarted Redis has none) and resets every instance's Redis connections, then
runs concurrent updates (writers sharing users across instances) and reads:
every request must be served and no read may go back.
"""

import time

import directory_data
from history import History
from service import Client
from workload import (Background, Recorder, check_history, expect_database_versions, run_mixed,
                      wait_for, warm)

FILL_WAIT = 3.0  # seconds a read may take to reach its first Redis write (a fix may not write at all)


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
