"""A connection that goes silent: no reset, no FIN, nothing."""


from harness import event, metric

STALL_BOUND_S = 2.0


def test_silently_dropped_connections_stall_a_job_at_most_a_second(trial):
    """The reference needs 0.7 s (a 500 ms query timeout, then a fresh connection)."""
    trial.warm([1, 2, 3, 4, 5, 6, 7, 8])
    n = trial.proxy.blackhole_existing()
    event("test", "Blackhole", f"{n} open connections go silent")
    batches = [90, 91, 92]
    threads, results = trial.service.settle_many(batches, timeout=3)
    for t in threads:
        t.join(10)
    for b in batches:
        status, body, secs = results[b]
        metric("silent_connections", batch=b, status=status, seconds=round(secs, 3))
        assert status == 200, f"batch {b}: {status} {body} after {secs:.2f}s; log: {trial.service.tail()}"
        assert secs <= STALL_BOUND_S, f"batch {b} took {secs:.2f}s with silent connections (bound {STALL_BOUND_S}s)"
        trial.db.assert_settled_once(b, body)
    trial.service.assert_alive()
    trial.db.assert_service_connections_through(trial.proxy)
