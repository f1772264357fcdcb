"""Cache effectiveness: repeated reads of unchanged data are served from Redis.

Counts the queries the instance sends to Postgres (the proxy in front of the
database parses the protocol) while it serves 200 reads of data it has already
served once. A read-through cache answers them without the database; the bound
leaves room for a few misses.
"""

import os
import random

import directory_data
from history import History
from workload import Recorder, warm

READS = 200
MAX_QUERIES = READS // 20


def _measure(fleet, out_dir, name, read):
    inst = fleet["a"]
    history = History()
    warm(history, [inst])
    rec = Recorder(history, "reader")
    rng = random.Random(7)
    try:
        before = inst.pg_link.queries
        for _ in range(READS):
            read(rec, inst, rng)
        queries = inst.pg_link.queries - before
    finally:
        rec.close()
        history.write(os.path.join(out_dir, f"history-{name}.jsonl"))
    return queries


def test_profile_reads_served_from_cache(fresh, out_dir):
    queries = _measure(fresh, out_dir, "test_profile_reads_served_from_cache",
                       lambda rec, inst, rng: rec.read_profile(inst, rng.choice(directory_data.USERS)))
    assert queries <= MAX_QUERIES, f"{READS} cached profile reads sent {queries} queries to Postgres"


def test_team_pages_served_from_cache(fresh, out_dir):
    queries = _measure(fresh, out_dir, "test_team_pages_served_from_cache",
                       lambda rec, inst, rng: rec.read_team(inst, rng.choice(directory_data.TEAMS)))
    assert queries <= MAX_QUERIES, f"{READS} cached team page reads sent {queries} queries to Postgres"
