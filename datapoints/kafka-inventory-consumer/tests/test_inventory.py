"""Hidden tests for the inventory consumer: each drives the real service through
Kafka and checks an invariant of the products / stock_movements tables."""

import time

from harness import duplicate_movements, expected_stocks, record, rng_for, spread


# --- Race Conditions ---------------------------------------------------------

def test_concurrent_deltas_lose_no_updates(scenario_factory):
    """Two replicas, events for the same products on every partition: every delta counts."""
    s = scenario_factory(8)
    rng = rng_for("lost-updates")
    skus = [s.sku(f"P{i}") for i in range(4)]
    initial = {sku: 1000 for sku in skus}
    s.seed(initial)
    s.start(2, WAREHOUSE_SYNC_LATENCY_MS=15)
    s.wait_assigned()
    events = [s.event([(rng.choice(skus), rng.randint(-5, 9))], kind="adjustment") for _ in range(160)]
    msgs = spread(events, 8, rng)
    s.produce_concurrently([msgs[i::4] for i in range(4)])
    s.wait_processed(len(events))
    want, got = expected_stocks(initial, events), s.stocks()
    record("concurrent_deltas_lose_no_updates", off_by=sum(abs(want[k] - got.get(k, 0)) for k in want))
    assert got == want, "stock levels lost or gained updates"


def test_stock_never_goes_negative(scenario_factory):
    """48 single-unit orders race for 10 units: exactly 10 succeed and stock ends at 0."""
    s = scenario_factory(8)
    low = s.sku("LOW")
    s.seed({low: 10})
    events = [s.event([(low, -1)]) for _ in range(48)]
    msgs = [(i % 8, ev) for i, ev in enumerate(events)]
    s.produce_concurrently([msgs[i::4] for i in range(4)])
    # A backlog (the consumer was down): every partition has orders waiting at once.
    s.start(1, WAREHOUSE_SYNC_LATENCY_MS=10)
    s.wait_assigned()
    s.wait_processed(len(events))
    stocks = s.stocks()
    moves = s.movements()
    record("stock_never_goes_negative", final=stocks[low], sales=len(moves))
    assert min([stocks[low]] + [m[4] for m in moves]) >= 0, f"stock of {low} went negative: {stocks[low]}"
    assert stocks[low] == 0 and len(moves) == 10, \
        f"expected exactly 10 units sold and stock 0, got {len(moves)} sales and stock {stocks[low]}"


def test_race_detector_clean(scenario_factory):
    """The race-detector build, under concurrent mixed load, reports no data race."""
    s = scenario_factory(8)
    rng = rng_for("race-detector")
    skus = [s.sku(f"R{i}") for i in range(6)]
    initial = {sku: 300 for sku in skus}
    s.seed(initial)
    (replica,) = s.start(1, race=True, WAREHOUSE_SYNC_LATENCY_MS=3, STATS_INTERVAL_MS=10)
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
    code = replica.stop(timeout=20)
    log = replica.log()
    assert "WARNING: DATA RACE" not in log, "data race reported, see " + replica.log_path
    assert code == 0, f"race build exited with {code}, see {replica.log_path}"


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
    s.start(1, WAREHOUSE_SYNC_LATENCY_MS=10)
    s.wait_assigned()
    s.wait_processed(len(events))
    dups = duplicate_movements(s.movements())
    record("redelivered_event_applied_once", applied_twice=len(dups))
    assert not dups, f"{len(dups)} redelivered events applied twice, e.g. {dups[:3]}"
    assert s.stocks() == expected_stocks(initial, events)


def test_duplicate_across_partitions_applied_once(scenario_factory):
    """The same event arriving on two partitions at once is applied once."""
    s = scenario_factory(8)
    rng = rng_for("cross-partition")
    skus = [s.sku(f"X{i}") for i in range(6)]
    initial = {sku: 100 for sku in skus}
    s.seed(initial)
    events = [s.event([(rng.choice(skus), rng.randint(1, 5))]) for _ in range(32)]
    first = [(i % 4, ev) for i, ev in enumerate(events)]
    second = [(i % 4 + 4, ev) for i, ev in enumerate(events)]
    s.produce_concurrently([first, second])
    s.start(1, WAREHOUSE_SYNC_LATENCY_MS=10)
    s.wait_assigned()
    s.wait_processed(len(events))
    dups = duplicate_movements(s.movements())
    record("duplicate_across_partitions_applied_once", applied_twice=len(dups))
    assert not dups, f"{len(dups)} duplicated events applied twice, e.g. {dups[:3]}"
    assert s.stocks() == expected_stocks(initial, events)


# --- Isolation -----------------------------------------------------------------

def test_movement_ledger_is_serializable(scenario_factory):
    """Every recorded movement starts from the level the previous one left."""
    s = scenario_factory(8)
    rng = rng_for("ledger")
    skus = [s.sku(f"L{i}") for i in range(3)]
    initial = {sku: 50 for sku in skus}
    s.seed(initial)
    s.start(2, WAREHOUSE_SYNC_LATENCY_MS=15)
    s.wait_assigned()
    events = [s.event([(rng.choice(skus), rng.randint(1, 9))]) for _ in range(90)]
    msgs = spread(events, 8, rng)
    s.produce_concurrently([msgs[0::2], msgs[1::2]])
    s.wait_processed(len(events))
    final = s.stocks()
    for sku in skus:
        moves = sorted((m for m in s.movements() if m[1] == sku), key=lambda m: m[3])
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
    s.start(1, WAREHOUSE_SYNC_LATENCY_MS=latency_ms)
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
    record("distinct_products_processed_in_parallel", elapsed=round(elapsed, 3), done=done, serial=serial)
    assert done == len(msgs), \
        f"only {done} of {len(msgs)} events on 8 products applied after {elapsed:.2f}s; " \
        f"one at a time would take {serial:.1f}s for all"


# --- Atomic Ops ----------------------------------------------------------------

def test_multi_line_event_all_or_nothing(scenario_factory):
    """An order that cannot be filled in full changes no product."""
    s = scenario_factory(2)
    a, b, c, unknown = s.sku("A"), s.sku("B"), s.sku("C"), s.sku("NOPE")
    s.seed({a: 5, b: 1, c: 10})
    s.start(1, WAREHOUSE_SYNC_LATENCY_MS=5)
    s.wait_assigned()
    events = [
        s.event([(a, -2), (b, -3)]),           # B short: rejected as a whole
        s.event([(c, -4), (a, -1), (b, -1)]),  # fits
        s.event([(a, -1), (unknown, -1)]),     # unknown product: rejected as a whole
    ]
    s.produce([(0, ev) for ev in events])
    s.wait_processed(len(events))
    assert s.stocks() == {a: 4, b: 0, c: 6}, "a rejected order left some of its lines applied"


# --- Consumer ------------------------------------------------------------------

def test_crash_before_commit_loses_nothing(scenario_factory):
    """Killed mid-stream and restarted, the consumer applies every event exactly once."""
    s = scenario_factory(4)
    rng = rng_for("crash")
    skus = [s.sku(f"C{i}") for i in range(6)]
    initial = {sku: 100 for sku in skus}
    s.seed(initial)
    (first,) = s.start(1, WAREHOUSE_SYNC_LATENCY_MS=10)
    s.wait_assigned()
    events = [s.event([(rng.choice(skus), rng.randint(1, 5))]) for _ in range(150)]
    s.produce(spread(events, 4, rng))
    deadline = time.monotonic() + 20
    while s.progress()[1] < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.kill()
    second = s.start(1, WAREHOUSE_SYNC_LATENCY_MS=10)
    s.wait_assigned(second)
    s.wait_processed(len(events))
    dups = duplicate_movements(s.movements())
    want, got = expected_stocks(initial, events), s.stocks()
    lost = sum(want.values()) - sum(got.values())
    record("crash_before_commit_loses_nothing", applied_twice=len(dups), units_lost=lost)
    assert not dups, f"{len(dups)} events applied twice after the restart, e.g. {dups[:3]}"
    assert got == want, f"stock differs after crash and restart ({lost} units of restock lost)"


# --- Load Stress ---------------------------------------------------------------

def test_sustained_mixed_load(scenario_factory):
    """Restocks, orders and redeliveries from four producers: exact and fast."""
    s = scenario_factory(8)
    rng = rng_for("load")
    latency_ms = 40
    skus = [s.sku(f"S{i}") for i in range(64)]
    initial = {sku: 500 for sku in skus}
    s.seed(initial)
    s.start(1, WAREHOUSE_SYNC_LATENCY_MS=latency_ms)
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
    record("sustained_mixed_load", elapsed=round(elapsed, 3), done=done, serial=serial)
    assert done == len(events), \
        f"only {done} of {len(events)} events done after {elapsed:.2f}s; " \
        f"one line at a time would take {serial:.1f}s for all"
    s.wait_processed(len(events), settle=0.3)
    stocks = s.stocks()
    assert min(stocks.values()) >= 0, "stock went negative under load"
    assert not duplicate_movements(s.movements()), "events applied twice under load"
    assert stocks == expected_stocks(initial, events), "stock levels wrong after the load run"
