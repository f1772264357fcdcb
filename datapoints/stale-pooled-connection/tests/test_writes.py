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
