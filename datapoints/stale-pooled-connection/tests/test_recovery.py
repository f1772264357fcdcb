"""Connections that die between the check and the use, killed through the real server."""

import time

from harness import RECOVERY_BOUND_S, event, metric


def _settle_with_hook(trial, batch, hook):
    """Settles one batch, holding its pricing-rules call until hook() has run
    (the job is between getting its database client and its first query)."""
    svc = trial.service
    trial.rules.gate.hold()
    threads, results = svc.settle_many([batch])
    arrived = trial.rules.gate.wait_arrived(1, 5)
    assert arrived == [batch], f"the job for batch {batch} never asked for its pricing rules: {arrived}"
    hook()
    released = trial.rules.gate.release()
    threads[0].join(10)
    status, body, _ = results[batch]
    after = time.monotonic() - released
    return status, body, after


def test_backend_killed_between_health_check_and_first_query(trial):
    """The seed's T=0 / T=120 ms: the client is handed out, the job is busy with
    its pricing rules, the server terminates the backend, then the job queries."""
    trial.warm([1, 2])
    for batch in (10, 11, 12):
        def kill():
            pids = trial.db.terminate_service_backends(trial.proxy)
            event(f"batch-{batch}", "TerminateBackend", f"pg_terminate_backend({pids}) while the job loads its rules")
        status, body, after = _settle_with_hook(trial, batch, kill)
        metric("killed_between_check_and_query", batch=batch, status=status, seconds_after_release=round(after, 3))
        assert status == 200, (f"batch {batch}: {status} {body} after its backend was terminated; "
                               f"log: {trial.service.tail()}")
        assert after <= RECOVERY_BOUND_S, f"batch {batch} took {after:.2f}s after its connection died"
        trial.db.assert_settled_once(batch, body)
        trial.service.assert_alive()
    trial.db.assert_service_connections_through(trial.proxy)


def test_connection_dropped_right_after_a_successful_round_trip(trial):
    """A connection that answered (a ping, a health check, a query) dies before
    its next message reaches the server: whatever checked it, it is dead at use."""
    trial.warm([1, 2])
    for batch in (10, 11):
        def arm():
            trial.proxy.doom_after_exchanges(1)
            event(f"batch-{batch}", "ArmProxy", "the next connection to finish a round trip dies at its next message")
        drops_before = trial.proxy.stats()["drops"]
        status, body, after = _settle_with_hook(trial, batch, arm)
        metric("dropped_after_round_trip", batch=batch, status=status, seconds_after_release=round(after, 3))
        assert trial.proxy.stats()["drops"] > drops_before, \
            f"batch {batch}: no connection of the service finished a round trip and sent another message"
        assert status == 200, f"batch {batch}: {status} {body} after its connection died; log: {trial.service.tail()}"
        assert after <= RECOVERY_BOUND_S, f"batch {batch} took {after:.2f}s after its connection died"
        trial.db.assert_settled_once(batch, body)
        trial.service.assert_alive()
    trial.db.assert_service_connections_through(trial.proxy)
