"""Atomicity of the cache update: an update that fails half way must not leave
the cache half updated.

Each round starts an update on instance b, whose database link is slow
(250 ms), watches the profile through instance a, and resets b's database
connections the moment the new version becomes visible, as a failover or a
network blip would. Whatever b had done to the cache by then is all that
update will ever do; the team pages read afterwards must not be older than the
profile that was already served.
"""

import threading
import time

import directory_data
from history import History
from workload import Recorder, check_history, stall_update_at_each_write, warm

ROUNDS = [1, 8, 11, 21]  # users in different teams; 8 is in two teams
PRIMER = 24  # updated through b before each round so b has a live database connection


def test_failed_update_leaves_no_stale_views(fresh, out_dir):
    reader, writer = fresh["a"], fresh["b"]
    history = History()
    warm(history, [reader])
    watcher = Recorder(history, "watcher")
    updater = Recorder(history, "updater")
    problems = []
    try:
        for n, user in enumerate(ROUNDS):
            writer.set_latency(pg_ms=0)
            updater.update(writer, PRIMER, f"primer {n}")
            teams = directory_data.teams_of(user)
            before = watcher.read_profile(reader, user)["version"]
            for team in teams:
                watcher.read_team(reader, team)

            writer.set_latency(pg_ms=250)
            t = threading.Thread(target=_update_ignoring_failure, args=(updater, writer, user))
            t.start()
            seen = before
            deadline = time.monotonic() + 10
            while seen == before and t.is_alive() and time.monotonic() < deadline:
                seen = watcher.read_profile(reader, user)["version"]
            writer.pg_link.sever()
            t.join(15)
            if seen == before:
                # the update finished (or gave up) before the poll saw it
                seen = watcher.read_profile(reader, user)["version"]
            if seen == before:
                problems.append(f"user {user}: the update through {writer.name} never became visible")
                continue
            time.sleep(0.1)
            profile = watcher.read_profile(reader, user)["version"]
            for team in teams:
                page = watcher.read_team(reader, team)
                shown = {m["id"]: m["version"] for m in page["members"]}[user]
                if shown != profile:
                    problems.append(f"user {user}: team {team} shows v{shown} while the profile is v{profile}")
    finally:
        watcher.close()
        updater.close()
    check_history(fresh, history, out_dir, "test_failed_update_leaves_no_stale_views", problems)


def _update_ignoring_failure(updater, writer, user):
    try:
        updater.update(writer, user, "renamed during a database failover")
    except Exception:
        pass  # the update is expected to fail when its connection is reset


def test_update_cut_off_from_redis_leaves_no_stale_views(fresh, out_dir):
    """The Redis side of a failure: the update through c is held at its first,
    second, ... write to Redis, and c's Redis connections are then reset, so
    the held writes never happen. Whatever reached Redis before must not show
    a profile next to a team page older than it, and an update that answered
    200 must be what every reader sees (an update that did not reach Redis
    has to say so)."""
    stall_update_at_each_write(fresh, out_dir, "test_update_cut_off_from_redis_leaves_no_stale_views", "sever")
