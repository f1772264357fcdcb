"""Connections that go silent: no reset, no FIN, nothing."""

import pytest

from harness import event, metric

STALL_BOUND_S = 2.0
POOL = 10


@pytest.mark.pool_size(POOL)
def test_silently_dropped_connections_stall_a_job_at_most_a_second(trial):
    """Every pooled connection (up to 10) goes silent. One job, then three at
    once, must each be settled once within 2 s: the reference needs 0.7 s (a
    500 ms query timeout, then a fresh connection). A fix that tries the idle
    connections one after the other pays one timeout per dead connection."""
    trial.warm(list(range(1, 1 + POOL)), burst=True)
    n = trial.proxy.blackhole_existing()
    event("test", "Blackhole", f"{n} open connections go silent")
    metric("silent_connections_made", connections=n)
    for batches in ([90], [91, 92, 93]):
        threads, results = trial.service.settle_many(batches, timeout=3)
        for t in threads:
            t.join(10)
        for b in batches:
            status, body, secs = results[b]
            metric("silent_connections", batch=b, status=status, seconds=round(secs, 3))
            assert status == 200, f"batch {b}: {status} {body} after {secs:.2f}s; log: {trial.service.tail()}"
            assert secs <= STALL_BOUND_S, \
                f"batch {b} took {secs:.2f}s with {n} silent connections (bound {STALL_BOUND_S}s)"
            trial.db.assert_settled_once(b, body)
    trial.service.assert_alive()
    trial.db.assert_service_connections_through(trial.proxy)
