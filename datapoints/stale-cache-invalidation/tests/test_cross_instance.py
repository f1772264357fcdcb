"""Cross-instance consistency: several instances share one Redis and Postgres.

* Mixed load: b has a slow database link (40 ms), c a slow Redis link (40 ms).
  Updates go through b and c, and the writers share their users, so one
  profile is updated from two instances at once; readers read a profile and
  then a team page, each through a or b.
* Sequential read-your-writes on every instance.
* Every cut point of an update's cache maintenance: the update through c is
  stalled at its first, second, ... write to Redis (the proxy holds c's Redis
  traffic from that command on) while a and b read the profile and its team
  pages; then the write goes on. Explores every point at which another
  instance can look at a half-done update, by construction, not by timing.
* Two updates of one profile out of order: the one through b is stalled at
  its first Redis write while one through c commits after it and finishes;
  then b's write goes on. The newer version must stay.
"""

from history import History
import directory_data
from workload import (Background, Recorder, check_history, expect_database_versions,
                      run_mixed, stall_update_at_each_write, wait_for, warm)


def test_no_stale_reads_across_instances(fresh, out_dir):
    a, b, c = fresh["a"], fresh["b"], fresh["c"]
    b.set_latency(pg_ms=40)
    c.set_latency(redis_ms=40)
    history = History()
    warm(history, [a])
    errors = run_mixed(history, [b, c], [a, b], writers=3, readers=6, updates_per_writer=12,
                       shared_users=True)
    b.set_latency(0, 0)
    c.set_latency(0, 0)
    assert not errors, f"requests failed: {errors[:5]}"
    rec = Recorder(history, "final")
    try:
        problems = expect_database_versions(rec, [a, b, c], directory_data.USERS)
    finally:
        rec.close()
    check_history(fresh, history, out_dir, "test_no_stale_reads_across_instances", problems)


def test_update_visible_on_every_instance(fresh, out_dir):
    """Sequential read-your-writes: after an update returns, every instance
    serves the new version in the profile and in every team page (the first
    update of each user takes its version past 9 or 99)."""
    instances = [fresh["a"], fresh["b"], fresh["c"]]
    history = History()
    warm(history, instances)
    rec = Recorder(history, "sequential")
    problems = []
    try:
        for n, user in enumerate(directory_data.USERS[:12]):
            writer = instances[n % len(instances)]
            version = rec.update(writer, user, f"promoted {n}")["version"]
            for inst in instances:
                got = rec.read_profile(inst, user)["version"]
                if got != version:
                    problems.append(f"user {user}: profile on {inst.name} has v{got}, update returned v{version}")
                for team in directory_data.teams_of(user):
                    page = rec.read_team(inst, team)
                    got = {m["id"]: m["version"] for m in page["members"]}.get(user)
                    if got != version:
                        problems.append(f"user {user}: team {team} on {inst.name} shows v{got}, "
                                        f"update returned v{version}")
    finally:
        rec.close()
    check_history(fresh, history, out_dir, "test_update_visible_on_every_instance", problems)


def test_update_stalled_in_redis_leaves_no_stale_views(fresh, out_dir):
    stall_update_at_each_write(fresh, out_dir, "test_update_stalled_in_redis_leaves_no_stale_views", "release")


def test_concurrent_updates_of_one_profile_keep_the_newest(fresh, out_dir):
    a, b, c = fresh["a"], fresh["b"], fresh["c"]
    history = History()
    warm(history, [a, b, c])
    rec = Recorder(history, "reader")
    first, second = Recorder(history, "first-writer"), Recorder(history, "second-writer")
    problems = []
    try:
        for user in [8, 3, 16, 5]:
            b.redis_link.hold_writes(after=0)
            one = Background(lambda: first.update(b, user, "first, stalled"), name="first")
            wait_for(lambda: b.redis_link.holding or one.done, 15)
            # the second update commits after the first and finishes while the
            # first is stalled (or waits for it, if the fix orders them)
            two = Background(lambda: second.update(c, user, "second"), name="second")
            two.join(3)
            b.redis_link.release()
            one.join(15)
            two.join(15)
            for job in (one, two):
                if job.error is not None:
                    problems.append(f"user {user}: an update failed: {job.error}")
            problems += expect_database_versions(rec, [a, b, c], [user])
    finally:
        rec.close()
        first.close()
        second.close()
    check_history(fresh, history, out_dir, "test_concurrent_updates_of_one_profile_keep_the_newest", problems)
