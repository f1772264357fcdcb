"""Cache effectiveness: the cache keeps doing its job, with and without writes.

The proxy in front of each instance's database parses the Postgres protocol
and counts the queries the instance sends. What the promise is (prompt.md):

* reads of data that has not changed are served from Redis, also after a
  quiet moment (entries live CACHE_TTL_SECONDS, 10 minutes by default);
* right after an update the updated profile is still served from Redis (the
  update writes it through), and only the team pages of that person's teams
  are rebuilt: one query each, the other pages stay cached;
* reads are not held up by an update that is stuck in the database (a row
  lock held by another transaction): they are served from the cache at once.

A fix that keeps every view consistent by giving this up (no cache, dropping
every team page on every update, short lifetimes, a lock that readers wait
on) is not a fix.
"""

import random
import time

import directory_data
from history import History
from workload import Background, Recorder, check_history, wait_for, warm

READS = 200
MAX_QUERIES = 2  # the reference sends none; a little room for a fix that checks something now and then
QUIET_SECONDS = 3.0
UPDATED = [1, 4, 7, 10, 13, 16, 19, 22, 2, 8, 11, 20]
STUCK_USER = 5
STUCK_READS_WITHIN = 3.0  # seconds; the reads take a few ms from the cache


def _measure(fleet, out_dir, name, read, quiet=0.0):
    inst = fleet["a"]
    history = History()
    warm(history, [inst])
    if quiet:
        time.sleep(quiet)  # the quiet moment itself is what is tested
    rec = Recorder(history, "reader")
    rng = random.Random(7)
    try:
        before = inst.pg_link.queries
        for n in range(READS):
            read(rec, inst, rng, n)
        queries = inst.pg_link.queries - before
    finally:
        rec.close()
    check_history(fleet, history, out_dir, name)
    return queries


def test_profile_reads_served_from_cache(fresh, out_dir):
    queries = _measure(fresh, out_dir, "test_profile_reads_served_from_cache",
                       lambda rec, inst, rng, n: rec.read_profile(inst, rng.choice(directory_data.USERS)))
    assert queries <= MAX_QUERIES, f"{READS} cached profile reads sent {queries} queries to Postgres"


def test_team_pages_served_from_cache(fresh, out_dir):
    queries = _measure(fresh, out_dir, "test_team_pages_served_from_cache",
                       lambda rec, inst, rng, n: rec.read_team(inst, rng.choice(directory_data.TEAMS)))
    assert queries <= MAX_QUERIES, f"{READS} cached team page reads sent {queries} queries to Postgres"


def test_cached_entries_outlive_a_quiet_moment(fresh, out_dir):
    """After 3 s without requests every profile and team page is still cached."""
    views = [("user", u) for u in directory_data.USERS] + [("team", t) for t in directory_data.TEAMS]

    def read(rec, inst, rng, n):
        kind, key = views[n % len(views)]
        (rec.read_profile if kind == "user" else rec.read_team)(inst, key)

    queries = _measure(fresh, out_dir, "test_cached_entries_outlive_a_quiet_moment", read, quiet=QUIET_SECONDS)
    assert queries <= MAX_QUERIES, (f"after {QUIET_SECONDS:.0f} s without requests, {READS} reads of cached "
                                    f"profiles and team pages sent {queries} queries to Postgres")


def test_cache_keeps_serving_under_writes(fresh, out_dir):
    """12 updates through b; after each, a reads every profile and every team
    page. a may query Postgres only to rebuild the updated person's pages."""
    a, b = fresh["a"], fresh["b"]
    history = History()
    warm(history, [a])
    rec = Recorder(history, "reader")
    upd = Recorder(history, "updater")
    allowed, problems = 0, []
    try:
        before = a.pg_link.queries
        for n, user in enumerate(UPDATED):
            version = upd.update(b, user, f"under writes {n}")["version"]
            for u in directory_data.USERS:
                got = rec.read_profile(a, u)["version"]
                if u == user and got != version:
                    problems.append(f"user {user}: profile on a is v{got} after the update returned v{version}")
            for t in directory_data.TEAMS:
                rec.read_team(a, t)
            allowed += len(directory_data.teams_of(user))
        queries = a.pg_link.queries - before
    finally:
        rec.close()
        upd.close()
    check_history(fresh, history, out_dir, "test_cache_keeps_serving_under_writes", problems)
    assert queries <= allowed + MAX_QUERIES, (
        f"{len(UPDATED)} updates, each followed by reads of all {len(directory_data.USERS)} profiles and "
        f"{len(directory_data.TEAMS)} team pages: {queries} queries to Postgres, but only the {allowed} "
        f"rebuilds of the updated people's team pages need one")


def test_reads_not_held_up_by_stuck_update(fresh, out_dir):
    """A transaction of the test holds user 5's row; the update of user 5
    through b waits on it. Meanwhile a and c must serve every profile and team
    page (user 5's as before the update) without waiting for it."""
    a, b, c = fresh["a"], fresh["b"], fresh["c"]
    history = History()
    warm(history, [a, c])
    rec = Recorder(history, "reader")
    upd = Recorder(history, "updater")
    problems = []
    lock = directory_data.connect()
    try:
        with lock.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            holder = cur.fetchone()[0]
            cur.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (STUCK_USER,))
        job = Background(lambda: upd.update(b, STUCK_USER, "stuck behind a row lock"), name="updater")
        if not wait_for(lambda: directory_data.backends_waiting_on(holder), 10):
            problems.append("the update never waited on the locked row")

        def read_everything():
            for inst in (a, c):
                for u in directory_data.USERS:
                    rec.read_profile(inst, u)
                for t in directory_data.TEAMS:
                    rec.read_team(inst, t)

        started = time.monotonic()
        reads = Background(read_everything, name="reads")
        served_in_time = reads.join(STUCK_READS_WITHIN)
        took = time.monotonic() - started
        lock.rollback()
        reads.join(15)
        job.join(15)
        if not served_in_time:
            problems.append(f"reads were still waiting {STUCK_READS_WITHIN:.0f} s after an update got stuck "
                            f"on a locked row (reads of cached data must not wait for updates)")
        elif reads.error is not None:
            problems.append(f"reads failed while an update was stuck: {reads.error}")
        if job.error is not None:
            problems.append(f"the stuck update failed once the row was free: {job.error}")
        else:
            for inst in (a, b, c):
                got = rec.read_profile(inst, STUCK_USER)["version"]
                if got != job.result["version"]:
                    problems.append(f"user {STUCK_USER}: profile on {inst.name} is v{got} after the "
                                    f"update returned v{job.result['version']}")
        with open(f"{out_dir}/stuck-update-reads.txt", "w") as f:
            f.write(f"60 reads while an update was stuck: {took:.3f} s (served in time: {served_in_time})\n")
    finally:
        lock.close()
        rec.close()
        upd.close()
    check_history(fresh, history, out_dir, "test_reads_not_held_up_by_stuck_update", problems)
