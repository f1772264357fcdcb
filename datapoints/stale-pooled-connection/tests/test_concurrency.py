"""Twenty jobs in flight when the connections die."""

import time

from harness import POOL_SIZE, RECOVERY_BOUND_S, event, metric

JOBS = list(range(30, 50))


def _hold_jobs(trial, batches, timeout):
    trial.rules.gate.hold()
    threads, results = trial.service.settle_many(batches, timeout=4)
    arrived = trial.rules.gate.wait_arrived(len(batches), timeout)
    return threads, results, arrived


def _finish(trial, threads, results, batches):
    released = trial.rules.gate.release()
    for t in threads:
        t.join(12)
    done = time.monotonic() - released
    bad = {b: results.get(b, (0, "no result", 0))[:2] for b in batches if results.get(b, (0,))[0] != 200}
    assert not bad, f"{len(bad)} of {len(batches)} jobs failed: {dict(list(bad.items())[:4])}; log: {trial.service.tail()}"
    for b in batches:
        trial.db.assert_settled_once(b, results[b][1])
    return done


def test_jobs_waiting_on_pricing_hold_no_connection(trial):
    """20 jobs wait on the pricing service with DB_POOL_SIZE=4: none may hold a
    connection meanwhile (they all get to ask for their rules), and when the
    connections die meanwhile, each job still completes once."""
    trial.warm([1, 2, 3, 4, 5, 6])
    threads, results, arrived = _hold_jobs(trial, JOBS, timeout=3)
    metric("jobs_waiting_on_pricing", arrived=len(arrived))
    assert len(arrived) == len(JOBS), (
        f"only {len(arrived)} of {len(JOBS)} concurrent jobs reached the pricing service within 3 s: "
        f"jobs hold database connections while they wait on it (DB_POOL_SIZE={POOL_SIZE})")
    pids = trial.db.terminate_service_backends(trial.proxy)
    event("test", "TerminateBackend", f"pg_terminate_backend({pids}) while 20 jobs load their rules")
    _finish(trial, threads, results, JOBS)
    trial.service.assert_alive()
    trial.db.assert_service_connections_through(trial.proxy)


def test_twenty_jobs_after_kill_finish_promptly_without_reconnect_storm(trial):
    trial.warm([1, 2, 3, 4, 5, 6, 7, 8])
    threads, results, arrived = _hold_jobs(trial, JOBS, timeout=3)
    pids = trial.db.terminate_service_backends(trial.proxy)
    event("test", "TerminateBackend", f"pg_terminate_backend({pids}) with {len(arrived)} jobs in flight")
    time.sleep(0.05)
    opened_before = trial.proxy.stats()["opened"]
    trial.proxy.reset_max()
    done = _finish(trial, threads, results, JOBS)
    stats = trial.proxy.stats()
    metric("twenty_jobs_after_kill", seconds_after_release=round(done, 3),
           opened=stats["opened"] - opened_before, max_current=stats["max_current"])
    assert done <= RECOVERY_BOUND_S, \
        f"the 20 jobs took {done:.2f}s to finish after their connections died (bound {RECOVERY_BOUND_S} s)"
    opened = stats["opened"] - opened_before
    assert opened <= 2 * POOL_SIZE, f"the 20 jobs opened {opened} connections after one kill (pool size {POOL_SIZE})"
    assert stats["max_current"] <= POOL_SIZE, \
        f"{stats['max_current']} connections open at once (DB_POOL_SIZE={POOL_SIZE})"
    trial.service.assert_alive()
    trial.db.assert_service_connections_through(trial.proxy)
