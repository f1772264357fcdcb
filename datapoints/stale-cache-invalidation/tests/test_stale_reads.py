"""Stale reads under concurrency, one instance serving reads and writes.

The instance's database link gets 30 ms of latency (a database in another
zone), so every database round trip of an update takes a while, while reads
served from the cache stay fast. Writers update profiles while readers read
the profile and a team page of the users being updated; the recorded history
is then checked for reads that went back to an older version.
"""

from history import History
from workload import check_history, run_mixed, warm

NAME = "test_no_stale_reads_single_instance"


def test_no_stale_reads_single_instance(fresh, out_dir):
    solo = fresh["a"]
    solo.set_latency(pg_ms=30)
    history = History()
    warm(history, [solo])
    errors = run_mixed(history, [solo], [solo], writers=3, readers=6, updates_per_writer=10)
    assert not errors, f"requests failed: {errors[:5]}"
    check_history(fresh, history, out_dir, NAME)
