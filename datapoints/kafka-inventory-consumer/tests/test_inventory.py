"""Hidden tests for the inventory consumer: each drives the real service through
Kafka and checks the products / stock_movements / processed_events tables and
what the warehouse stand-in received.

Contention is forced, not hoped for: where events compete for a product, the
test holds the product's row locked (as another writer would) until the
service's competing transactions all wait on it, then frees it."""

import time

from harness import (Outage, RowLocks, check_race_build, duplicate_movements, expected_stocks,
                     record, rng_for, spread, wait_waiters)


def released_together(s, skus, send, want):
    """Holds `skus` locked while `send()` produces, until `want` service
    transactions wait on them (or the count stops growing), then frees them."""
    with RowLocks(skus):
        send()
        waiting = wait_waiters(want)
    return waiting


def assert_warehouse_mirrors(s, stocks, moves):
    """The warehouse was last told, for every product that moved, its stock."""
    moved = {m[1] for m in moves}
    told = s.warehouse.last_levels()
    wrong = {sku: (told.get(sku), stocks[sku]) for sku in moved if told.get(sku) != stocks[sku]}
    assert not wrong, f"the warehouse was last told other levels than the stock (told, stock): {wrong}"


# --- Race Conditions ---------------------------------------------------------

def test_concurrent_deltas_lose_no_updates(scenario_factory):
    """Two replicas, events for the same products on every partition: every delta counts."""
    s = scenario_factory(8)
    rng = rng_for("lost-updates")
    skus = [s.sku(f"P{i}") for i in range(4)]
    initial = {sku: 1000 for sku in skus}
    s.seed(initial)
    s.warehouse.latency = 0.015
    s.start(2)
    s.wait_assigned()
    events = [s.event([(rng.choice(skus), rng.randint(-5, 9))], kind="adjustment") for _ in range(160)]
    msgs = spread(events, 8, rng)
    waiting = released_together(s, skus, lambda: s.produce_concurrently([msgs[i::4] for i in range(4)]), 8)
    s.wait_processed(len(events))
    want, got = expected_stocks(initial, events), s.stocks()
    moves = s.movements()
    record("concurrent_deltas_lose_no_updates", waiting=waiting, applied=len(moves),
           off_by=sum(abs(want[k] - got.get(k, 0)) for k in want))
    assert got == want, "stock levels lost or gained updates"
    assert len(moves) == len(events), f"{len(moves)} of {len(events)} adjustments in the ledger"
    assert_warehouse_mirrors(s, got, moves)


def test_stock_never_goes_negative(scenario_factory):
    """Orders of 3 race across two replicas for 10 and for 12 units: exactly 3
    and 4 are filled, the others rejected, stock ends at 1 and 0."""
    s = scenario_factory(8)
    ten, twelve = s.sku("TEN"), s.sku("TWELVE")
    s.seed({ten: 10, twelve: 12})
    s.warehouse.latency = 0.01
    s.start(2)
    s.wait_assigned()
    orders = {ten: [s.event([(ten, -3)]) for _ in range(16)],
              twelve: [s.event([(twelve, -3)]) for _ in range(16)]}
    msgs = [(i % 8, ev) for i, ev in enumerate(orders[ten])] + \
           [((i + 4) % 8, ev) for i, ev in enumerate(orders[twelve])]
    waiting = released_together(s, [ten, twelve],
                                lambda: s.produce_concurrently([msgs[i::4] for i in range(4)]), 8)
    s.wait_processed(32)
    stocks, moves, statuses = s.stocks(), s.movements(), s.statuses()
    record("stock_never_goes_negative", waiting=waiting, stocks=[stocks[ten], stocks[twelve]],
           sales=len(moves))
    assert min(list(stocks.values()) + [m[4] for m in moves]) >= 0, f"stock went negative: {stocks}"
    for sku, units, fills, left in ((ten, 10, 3, 1), (twelve, 12, 4, 0)):
        sold = [m for m in moves if m[1] == sku]
        assert len(sold) == fills and stocks[sku] == left, \
            f"{units} units, orders of 3: expected {fills} filled and {left} left, " \
            f"got {len(sold)} filled and {stocks[sku]} left"
        applied = [e["event_id"] for e in orders[sku] if statuses.get(e["event_id"]) == {"applied"}]
        rejected = [e["event_id"] for e in orders[sku] if statuses.get(e["event_id"]) == {"rejected"}]
        assert len(applied) == fills and len(rejected) == 16 - fills, \
            f"{sku}: {len(applied)} orders recorded applied, {len(rejected)} rejected, of 16"


def test_race_detector_clean(scenario_factory):
    """The race-detector build, under concurrent mixed load, reports no data race."""
    s = scenario_factory(8)
    rng = rng_for("race-detector")
    skus = [s.sku(f"R{i}") for i in range(6)]
    initial = {sku: 300 for sku in skus}
    s.seed(initial)
    s.warehouse.latency = 0.003
    (replica,) = s.start(1, race=True, STATS_INTERVAL_MS=10)
    s.wait_assigned(timeout=45)
    events = []
    for i in range(90):
        if i % 3 == 0:
            a, b = rng.sample(skus, 2)
            events.append(s.event([(a, -rng.randint(1, 3)), (b, -rng.randint(1, 3))]))
        else:
            events.append(s.event([(rng.choice(skus), rng.randint(-4, 6))], kind="adjustment"))
    msgs = spread(events, 8, rng)
    msgs += [(rng.randrange(8), ev) for ev in rng.sample(events, 10)]
    s.produce_concurrently([msgs[i::3] for i in range(3)])
    s.wait_processed(len(events), settle=0.3)
    assert replica.alive(), f"race build exited early, see {replica.log_path}"
    check_race_build(replica)
    code = replica.stop(timeout=20)
    log = replica.log()
    assert "WARNING: DATA RACE" not in log, "data race reported, see " + replica.log_path
    assert code == 0, f"race build exited with {code}, see {replica.log_path}"
    assert s.recorded([e["event_id"] for e in events]) == len(events), "not every event was processed"


# --- Idempotency ---------------------------------------------------------------

def test_redelivered_event_applied_once(scenario_factory):
    """A producer retry puts the same event twice in a row on a partition: it counts once."""
    s = scenario_factory(4)
    rng = rng_for("redelivered")
    skus = [s.sku(f"D{i}") for i in range(4)]
    initial = {sku: 100 for sku in skus}
    s.seed(initial)
    events = [s.event([(rng.choice(skus), rng.randint(1, 5))]) for _ in range(40)]
    msgs = []
    for ev in events:
        partition = rng.randrange(4)
        msgs += [(partition, ev), (partition, ev)]
    s.produce(msgs)
    s.start(1)
    s.wait_assigned()
    s.wait_processed(len(events))
    dups = duplicate_movements(s.movements())
    record("redelivered_event_applied_once", applied_twice=len(dups))
    assert not dups, f"{len(dups)} redelivered events applied twice, e.g. {dups[:3]}"
    assert s.stocks() == expected_stocks(initial, events)


def test_duplicate_across_partitions_applied_once(scenario_factory):
    """The same event arriving on every partition at once, consumed by two
    replicas, is applied once."""
    s = scenario_factory(8)
    rng = rng_for("cross-partition")
    skus = [s.sku(f"X{i}") for i in range(4)]
    initial = {sku: 100 for sku in skus}
    s.seed(initial)
    s.start(2)
    s.wait_assigned()
    events = [s.event([(rng.choice(skus), rng.randint(1, 5))]) for _ in range(16)]
    copies = [[(p, ev) for ev in events] for p in range(8)]
    waiting = released_together(s, skus, lambda: s.produce_concurrently(copies), 8)
    s.wait_processed(len(events))
    dups = duplicate_movements(s.movements())
    record("duplicate_across_partitions_applied_once", waiting=waiting, applied_twice=len(dups))
    assert not dups, f"{len(dups)} duplicated events applied more than once, e.g. {dups[:3]}"
    assert s.stocks() == expected_stocks(initial, events)


def test_rejected_event_stays_rejected(scenario_factory):
    """An order rejected for lack of stock (of its second line), delivered again
    after a restock, stays rejected; an applied order delivered again after a
    restock is not applied again."""
    s = scenario_factory(2)
    r, q = s.sku("R"), s.sku("Q")
    s.seed({r: 2, q: 5})
    s.start(1)
    s.wait_assigned()
    too_big = s.event([(q, -1), (r, -5)])
    s.produce([(0, too_big)])
    s.wait_recorded([too_big["event_id"]])
    restock_r, fits = s.event([(r, 10)]), s.event([(q, -3)])
    s.produce([(1, restock_r), (0, fits)])
    assert s.wait_recorded([restock_r["event_id"], fits["event_id"]]), "restock or order never processed"
    restock_q = s.event([(q, 10)])
    s.produce([(1, restock_q)])
    assert s.wait_recorded([restock_q["event_id"]]), "restock never processed"
    last_r, last_q = s.event([(r, 1)]), s.event([(q, 1)])
    s.produce([(0, too_big), (0, fits), (0, last_r)])
    s.produce([(1, too_big), (1, fits), (1, last_q)])
    s.wait_processed(6)
    stocks, moves, statuses = s.stocks(), s.movements(), s.statuses()
    assert not [m for m in moves if m[0] == too_big["event_id"]], \
        "an order rejected for lack of stock was applied when it came again after a restock"
    assert len([m for m in moves if m[0] == fits["event_id"]]) == 1, "an applied order was applied again"
    assert stocks == {r: 13, q: 13}, f"expected 13 and 13 after the redeliveries, got {stocks}"
    assert statuses.get(too_big["event_id"]) == {"rejected"}, \
        f"the rejected order is recorded as {statuses.get(too_big['event_id'])}"


# --- Isolation -----------------------------------------------------------------

def test_movement_ledger_is_serializable(scenario_factory):
    """Every recorded movement starts from the level the previous one left."""
    s = scenario_factory(8)
    rng = rng_for("ledger")
    skus = [s.sku(f"L{i}") for i in range(3)]
    initial = {sku: 50 for sku in skus}
    s.seed(initial)
    s.warehouse.latency = 0.015
    s.start(2)
    s.wait_assigned()
    events = [s.event([(rng.choice(skus), rng.randint(1, 9))]) for _ in range(90)]
    msgs = spread(events, 8, rng)
    released_together(s, skus, lambda: s.produce_concurrently([msgs[0::2], msgs[1::2]]), 8)
    s.wait_processed(len(events))
    final = s.stocks()
    all_moves = s.movements()
    assert len(all_moves) == len(events), f"{len(all_moves)} of {len(events)} restocks in the ledger"
    for sku in skus:
        moves = sorted((m for m in all_moves if m[1] == sku), key=lambda m: m[3])
        level = initial[sku]
        for event_id, _, delta, before, after in moves:
            assert before == level, f"{sku}: movement {event_id} started from {before}, stock was {level}"
            assert after == before + delta, f"{sku}: movement {event_id} recorded {before}+{delta}={after}"
            level = after
        assert level == final[sku], f"{sku}: ledger ends at {level}, products says {final[sku]}"


# --- Locking -------------------------------------------------------------------

def test_distinct_products_processed_in_parallel(scenario_factory):
    """Different products on different partitions do not wait for each other."""
    s = scenario_factory(8)
    latency_ms, per_partition = 100, 6
    skus = [s.sku(f"T{i}") for i in range(8)]
    s.seed({sku: 100 for sku in skus})
    s.warehouse.latency = latency_ms / 1000.0
    s.start(1)
    s.wait_assigned()
    msgs = [(p, s.event([(skus[p], 1)])) for _ in range(per_partition) for p in range(8)]
    serial = len(msgs) * latency_ms / 1000.0
    budget = 0.7 * serial  # one lock for all products cannot beat `serial`
    started = time.monotonic()
    s.produce(msgs)
    while s.progress()[1] < len(msgs) and time.monotonic() - started < budget:
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    done = s.progress()[1]
    record("distinct_products_processed_in_parallel", elapsed=round(elapsed, 3), done=done, serial=serial,
           max_inflight=s.warehouse.max_inflight)
    assert done == len(msgs), \
        f"only {done} of {len(msgs)} events on 8 products applied after {elapsed:.2f}s; " \
        f"one at a time would take {serial:.1f}s for all"
    assert s.warehouse.max_inflight >= 4, \
        f"at most {s.warehouse.max_inflight} warehouse updates for 8 products were in flight at once"


# --- Atomic Ops ----------------------------------------------------------------

def test_multi_line_event_all_or_nothing(scenario_factory):
    """An order that cannot be filled in full changes no product, wherever the
    short or unknown product stands in the order and in SKU order."""
    s = scenario_factory(2)
    a0, b, m0, y, z0 = (s.sku(x) for x in ("A0", "B", "M0", "Y", "Z0"))
    first_unknown, last_unknown = s.sku("0NOPE"), s.sku("NOPE")
    s.seed({a0: 1, b: 50, m0: 1, y: 50, z0: 1})
    s.start(1)
    s.wait_assigned()
    rejected = [
        s.event([(a0, -2), (b, -1), (y, -1)]),     # short first, first in SKU order
        s.event([(b, -1), (m0, -2), (y, -1)]),     # short in the middle of both
        s.event([(b, -1), (y, -1), (z0, -2)]),     # short last, last in SKU order
        s.event([(z0, -2), (b, -1), (y, -1)]),     # short first, last in SKU order
        s.event([(b, -1), (y, -1), (a0, -2)]),     # short last, first in SKU order
        s.event([(last_unknown, -1), (b, -1)]),    # unknown first, last in SKU order
        s.event([(b, -1), (first_unknown, -1)]),   # unknown last, first in SKU order
    ]
    fits = s.event([(y, -3), (b, -2), (m0, -1)])
    s.produce([(0, ev) for ev in rejected + [fits]])
    s.wait_processed(len(rejected) + 1)
    assert s.stocks() == {a0: 1, b: 48, m0: 0, y: 47, z0: 1}, "a rejected order left some of its lines applied"
    statuses = s.statuses()
    assert statuses.get(fits["event_id"]) == {"applied"}, "the order that fits was not applied"
    for ev in rejected:
        assert statuses.get(ev["event_id"]) == {"rejected"}, \
            f"order {ev['lines']} recorded as {statuses.get(ev['event_id'])}, not rejected"


# --- Consumer ------------------------------------------------------------------

def test_crash_before_commit_loses_nothing(scenario_factory):
    """Killed while an event waits on a busy row, and killed again with nothing
    committed, the consumer still applies every event exactly once."""
    s = scenario_factory(4)
    rng = rng_for("crash")
    slow = s.sku("SLOW")
    skus = [s.sku(f"C{i}") for i in range(5)]
    initial = {sku: 100 for sku in skus + [slow]}
    s.seed(initial)
    (first,) = s.start(1)
    s.wait_assigned()
    # Phase A: partition 0 starts with an event for a row another writer holds.
    blocked = s.event([(slow, 5)])
    phase_a = {p: [s.event([(rng.choice(skus), rng.randint(1, 5))]) for _ in range(30)] for p in range(4)}
    with RowLocks([slow]):
        s.produce([(0, blocked)] + [(p, ev) for p in range(4) for ev in phase_a[p]])
        # Until the other partitions are done and nothing more moves: offsets
        # (every 100 ms) have been committed for whatever was marked.
        deadline, last, since = time.monotonic() + 20, None, time.monotonic()
        while time.monotonic() < deadline:
            now = s.progress()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= (0.5 if now[1] >= 90 else 2.0):
                break
            time.sleep(0.02)
        first.kill()
    # Phase B: offsets are committed only every minute, so a kill replays
    # every event this replica applied.
    (second,) = s.start(1, OFFSET_COMMIT_INTERVAL_MS=60000)
    s.wait_assigned([second])
    phase_b = [s.event([(rng.choice(skus), rng.randint(1, 5))]) for _ in range(120)]
    s.produce(spread(phase_b, 4, rng))
    ids_b = [e["event_id"] for e in phase_b]
    deadline = time.monotonic() + 20
    while s.recorded(ids_b) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    second.kill()
    (third,) = s.start(1)
    s.wait_assigned([third])
    events = [blocked] + [ev for p in range(4) for ev in phase_a[p]] + phase_b
    s.wait_processed(len(events))
    dups = duplicate_movements(s.movements())
    want, got = expected_stocks(initial, events), s.stocks()
    lost = sum(want.values()) - sum(got.values())
    record("crash_before_commit_loses_nothing", applied_twice=len(dups), units_lost=lost)
    assert not dups, f"{len(dups)} events applied twice after a restart, e.g. {dups[:3]}"
    assert got == want, f"stock differs after crash and restart ({lost} units of restock lost)"


def test_database_outage_loses_nothing(scenario_factory):
    """The database drops every connection and refuses new ones for 2.5 s while
    events are in flight: once it is back, every event is applied exactly once."""
    s = scenario_factory(4)
    rng = rng_for("outage")
    skus = [s.sku(f"O{i}") for i in range(6)]
    initial = {sku: 100 for sku in skus}
    s.seed(initial)
    s.start(1)
    s.wait_assigned()
    events = [s.event([(rng.choice(skus), rng.randint(1, 5))]) for _ in range(60)]
    locks = RowLocks(skus)
    try:
        s.produce(spread(events, 4, rng))
        waiting = wait_waiters(4)
        outage = Outage(exclude=[locks.pid])
        try:
            time.sleep(2.5)  # the outage itself
        finally:
            outage.end()
    finally:
        locks.release()
    s.wait_processed(len(events), stall=6.0)
    dups = duplicate_movements(s.movements())
    want, got = expected_stocks(initial, events), s.stocks()
    done = s.recorded([e["event_id"] for e in events])
    record("database_outage_loses_nothing", waiting=waiting, cut=outage.cut, done=done,
           units_lost=sum(want.values()) - sum(got.values()))
    assert not dups, f"{len(dups)} events applied twice after the outage, e.g. {dups[:3]}"
    assert got == want, f"stock differs after the outage ({sum(want.values()) - sum(got.values())} units lost)"
    assert done == len(events), f"only {done} of {len(events)} events recorded after the outage"


# --- Load Stress ---------------------------------------------------------------

def test_sustained_mixed_load(scenario_factory):
    """Restocks, orders and redeliveries from four producers: exact and fast."""
    s = scenario_factory(8)
    rng = rng_for("load")
    latency_ms = 40
    skus = [s.sku(f"S{i}") for i in range(64)]
    initial = {sku: 500 for sku in skus}
    s.seed(initial)
    s.warehouse.latency = latency_ms / 1000.0
    s.start(1)
    s.wait_assigned()
    events = []
    for _ in range(160):
        kind = rng.random()
        if kind < 0.4:
            events.append(s.event([(rng.choice(skus), rng.randint(1, 10))]))
        elif kind < 0.75:
            events.append(s.event([(rng.choice(skus), -rng.randint(1, 3))]))
        else:
            lines = rng.sample(skus, rng.randint(2, 3))
            events.append(s.event([(sku, -rng.randint(1, 2)) for sku in lines]))
    msgs = spread(events, 8, rng)
    redeliveries = [(rng.randrange(8), ev) for ev in rng.sample(events, 16)]
    serial = sum(len(ev["lines"]) for ev in events) * latency_ms / 1000.0
    budget = 0.6 * serial  # one lock for all products cannot beat `serial`
    started = time.monotonic()
    s.produce_concurrently([msgs[i::4] + redeliveries[i::4] for i in range(4)])
    while s.progress()[0] < len(events) and time.monotonic() - started < budget:
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    done = s.progress()[0]
    record("sustained_mixed_load", elapsed=round(elapsed, 3), done=done, serial=serial,
           max_inflight=s.warehouse.max_inflight)
    assert done == len(events), \
        f"only {done} of {len(events)} events done after {elapsed:.2f}s; " \
        f"one line at a time would take {serial:.1f}s for all"
    s.wait_processed(len(events), settle=0.3)
    stocks = s.stocks()
    assert min(stocks.values()) >= 0, "stock went negative under load"
    assert not duplicate_movements(s.movements()), "events applied twice under load"
    assert stocks == expected_stocks(initial, events), "stock levels wrong after the load run"
    assert_warehouse_mirrors(s, stocks, s.movements())
