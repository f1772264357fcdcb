"""A write whose commit happened but whose reply never arrived."""

import time

from harness import RECOVERY_BOUND_S, event, metric


def test_commit_reply_lost_settles_once(trial):
    trial.warm([1, 2])
    checker = trial.db.new_connection()

    for batch in (20, 21):
        def committed(batch=batch):
            with checker.cursor() as cur:
                cur.execute("SELECT count(*) FROM settlements WHERE batch_id = %s", (batch,))
                return cur.fetchone()[0] > 0

        trial.rules.gate.hold()
        threads, results = trial.service.settle_many([batch])
        assert trial.rules.gate.wait_arrived(1, 5) == [batch]
        trial.proxy.drop_reply_when(committed)
        event(f"batch-{batch}", "ArmProxy", "the reply to the commit of this batch's settlement will be lost")
        drops_before = trial.proxy.stats()["drops"]
        released = trial.rules.gate.release()
        threads[0].join(10)
        after = time.monotonic() - released
        trial.proxy.disarm()
        status, body, _ = results[batch]
        metric("commit_reply_lost", batch=batch, status=status, seconds_after_release=round(after, 3))
        assert trial.proxy.stats()["drops"] > drops_before, \
            f"batch {batch}: the settlement was never committed through the proxy ({status} {body})"
        assert status == 200, (f"batch {batch}: {status} {body} although its settlement was committed; "
                               f"log: {trial.service.tail()}")
        assert after <= RECOVERY_BOUND_S, f"batch {batch} took {after:.2f}s after the reply was lost"
        trial.db.assert_settled_once(batch, body)
        trial.service.assert_alive()
    checker.close()
    trial.db.assert_service_connections_through(trial.proxy)


def test_one_batch_settled_by_two_replicas_at_once_is_settled_once(trial):
    """A client that timed out sends the batch again, to the second replica.
    The test holds the batch row locked until both replicas' writes wait on it,
    so both have loaded the batch as open before either writes."""
    second = trial.start_replica("b")
    lock = trial.db.new_connection()
    lock.autocommit = False
    for batch in (100, 101):
        with lock.cursor() as cur:
            cur.execute("SELECT id FROM batches WHERE id = %s FOR UPDATE", (batch,))
        trial.rules.gate.hold()
        t1, r1 = trial.service.settle_many([batch])
        t2, r2 = second.settle_many([batch])
        arrived = trial.rules.gate.wait_arrived(2, 3)
        trial.rules.gate.release()
        # Released as soon as both wait (a few ms): well inside any query timeout
        # a fix may set; a fix whose writes do not wait on the row gets 0.4 s.
        waiting = trial.db.wait_lock_waiters(2, timeout=0.4)
        event(f"batch-{batch}", "ReleaseRowLock", f"{waiting} writes waited on the batch row")
        lock.commit()
        for t in t1 + t2:
            t.join(10)
        metric("two_replicas_one_batch", batch=batch, arrived=len(arrived), waiting=waiting)
        replies = [r1[batch], r2[batch]]
        for status, body, _ in replies:
            assert status == 200, f"batch {batch}: {status} {body}; logs: {trial.service.tail(3)} {second.tail(3)}"
        trial.db.assert_settled_once(batch, replies[0][1])
        assert replies[0][1].get("settlementId") == replies[1][1].get("settlementId"), \
            f"batch {batch}: the replicas answered with different settlements: {replies[0][1]} {replies[1][1]}"
    lock.close()
    trial.db.assert_service_connections_through(trial.proxy)
