"""Cross-instance consistency: several instances share one Redis and Postgres.

Instance b has a slow database link (40 ms), c a slow Redis link (40 ms), a
neither. Updates go through b and c; readers read a profile and then a team
page, each through a or b. The recorded history must not contain a read that
returned an older version than one already established.
"""

import os

import directory_data
from history import History, append_events, describe, find_stale_reads
from workload import Recorder, run_mixed, warm


def test_no_stale_reads_across_instances(fresh, out_dir):
    a, b, c = fresh["a"], fresh["b"], fresh["c"]
    b.set_latency(pg_ms=40)
    c.set_latency(redis_ms=40)
    history = History()
    warm(history, [a])
    errors = run_mixed(history, [b, c], [a, b], writers=3, readers=6, updates_per_writer=12)
    history.write(os.path.join(out_dir, "history-test_no_stale_reads_across_instances.jsonl"))
    assert not errors, f"requests failed: {errors[:5]}"
    stale = find_stale_reads(history.ops)
    append_events(os.path.join(out_dir, "events.jsonl"), history.ops, stale)
    assert not stale, describe(stale)


def test_update_visible_on_every_instance(fresh, out_dir):
    """Sequential read-your-writes: after an update returns, every instance
    serves the new version in the profile and in every team page."""
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
        history.write(os.path.join(out_dir, "history-test_update_visible_on_every_instance.jsonl"))
    assert not problems, "\n".join(problems[:10])
