"""What the pool does with connections that die, over and over."""

import time

from harness import POOL_SIZE, RECOVERY_BOUND_S, event, metric


def test_idle_connection_errors_do_not_crash_the_process(trial):
    for round_ in range(2):
        trial.warm([1 + 8 * round_ + k for k in range(8)])
        pids = trial.db.terminate_service_backends(trial.proxy)
        event("test", "TerminateBackend", f"pg_terminate_backend({pids}) of idle connections")
        time.sleep(0.4)
        trial.service.assert_alive()
        body, secs = trial.service.settle_ok(60 + round_)
        metric("first_job_after_idle_kill", round=round_ + 1, seconds=round(secs, 3))
        assert secs <= RECOVERY_BOUND_S, f"first job after idle connections died took {secs:.2f}s"
        trial.db.assert_settled_once(60 + round_, body)
        trial.service.assert_alive()
    trial.db.assert_service_connections_through(trial.proxy)


def test_connections_stay_within_pool_size_across_repeated_kills(trial):
    """Three times: 12 jobs in flight, every open connection dies at its next
    message; the jobs complete and the service never holds more than
    DB_POOL_SIZE connections to the server."""
    trial.warm([1, 2, 3, 4, 5, 6])
    trial.proxy.reset_max()
    for round_ in range(3):
        batches = [70 + 12 * round_ + k for k in range(12)]
        trial.rules.gate.hold()
        threads, results = trial.service.settle_many(batches, timeout=4)
        trial.rules.gate.wait_arrived(len(batches), 3)
        n = trial.proxy.doom_existing()
        event("test", "ArmProxy", f"round {round_ + 1}: {n} open connections die at their next message")
        trial.rules.gate.release()
        for t in threads:
            t.join(12)
        bad = {b: results.get(b, (0, "no result", 0))[:2] for b in batches if results.get(b, (0,))[0] != 200}
        assert not bad, f"round {round_ + 1}: {len(bad)} jobs failed: {dict(list(bad.items())[:3])}; log: {trial.service.tail()}"
        for b in batches:
            trial.db.assert_settled_once(b, results[b][1])
        trial.service.assert_alive()
        backends = trial.db.assert_service_connections_through(trial.proxy)
        deadline = time.monotonic() + 1.0
        while len(backends) > POOL_SIZE and time.monotonic() < deadline:
            time.sleep(0.05)  # backends of connections the proxy just reset may still be exiting
            backends = trial.db.other_backends()
        assert len(backends) <= POOL_SIZE, f"round {round_ + 1}: {len(backends)} service backends on the server"
        stats = trial.proxy.stats()
        metric("repeated_kills", round=round_ + 1, backends=len(backends), max_current=stats["max_current"],
               drops=stats["drops"])
        assert stats["max_current"] <= POOL_SIZE, (
            f"round {round_ + 1}: {stats['max_current']} connections to the server at once "
            f"(DB_POOL_SIZE={POOL_SIZE})")
