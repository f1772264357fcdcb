"""Hidden tests for stockbot: purchase cycles that overlap, a state file
written by several threads (and processes), stuck purchases, crashes.

Every scenario runs the real bot against the test's browser gateway (see
conftest.py) with the cycle period, stuck timeout and check interval scaled to
milliseconds. The gateway decides how long each checkout takes; boundary
checkouts return just before the loop's next tick, so a bot that starts the
next cycle before the last one has finished (cart cleared, page left) does so
by construction. Verdicts come from the gateway's and the dashboard reader's
records only.
"""
import json
import os

import pytest

from conftest import (OUT, BrowserSim, Bot, Pacer, Reader, make_state_dir, now, read_state,
                      wait_until, write_initial_state)

PERIOD_MS = 150
STUCK_MS = 400
DEPLOY_STUCK_MS = 3000   # the deploy's held checkout is slow, not stuck
SLOW_CHECK_MS = 1000
FAST_CHECK_MS = 25
P = PERIOD_MS / 1000.0
PACE_SLACK = 0.045
MAX_LAG = 0.100   # what the pace bounds forgive a slow machine, at the most


class Run:
    def __init__(self, name, n, plan, check_ms=SLOW_CHECK_MS, timeline=False, stuck_ms=STUCK_MS):
        self.name = name
        self.dir = make_state_dir()
        self.state_path = os.path.join(self.dir, "state.json")
        self.tcins = [f"{name[:4].upper()}-{i:02d}" for i in range(1, n + 1)]
        write_initial_state(self.state_path, self.tcins)
        events = os.path.join(OUT, "events.jsonl") if timeline else None
        self.sim = BrowserSim(name, P, plan, events_path=events)
        self.reader = Reader(self.state_path, name)
        self.check_ms = check_ms
        self.stuck_ms = stuck_ms
        self.events = events
        self.bots = []
        self.marks = {}

    def bot(self, label="bot"):
        b = Bot(f"{self.name}-{label}", self.state_path, self.sim, PERIOD_MS, self.stuck_ms,
                self.check_ms, events_path=self.events)
        self.bots.append(b)
        return b.start()

    def all_bought(self):
        counts = self.sim.items_bought()
        return all(counts.get(t, 0) >= 1 for t in self.tcins)

    def _file_shows_all_purchased(self):
        try:
            products = read_state(self.state_path)["products"]
        except (OSError, ValueError, KeyError):
            return False
        return all(products.get(t, {}).get("status") == "purchased" for t in self.tcins)

    def finish(self, cap, extra=lambda: True):
        wait_until(lambda: (self.all_bought() and extra()) or self.sim.quiet_for(1.5), cap)
        wait_until(self._file_shows_all_purchased, 1.0)
        wait_until(self.sim.idle, 2.0)
        t_end = now() + 2 * P           # a cycle that should not come
        wait_until(lambda: False, max(0.0, t_end - now()))
        for b in self.bots:
            b.stop()
        reader = self.reader.stop()
        try:
            final = read_state(self.state_path)
        except (OSError, ValueError) as e:
            final = {"unreadable": repr(e)}
        snap = self.sim.snapshot()
        self.sim.close()
        with open(os.path.join(OUT, f"browser-{self.name}.json"), "w") as f:
            json.dump({"orders": snap["orders"], "collisions": snap["collisions"],
                       "cycle_starts": snap["cycle_starts"],
                       "navs": [[n.kind, n.detail, n.pid, n.start, n.end, n.outcome]
                                for n in snap["navs"]],
                       "torn_reads": reader["torn_count"], "reads": reader["reads"]},
                      f, indent=1, default=str)
        return dict(snap, name=self.name, tcins=self.tcins, reader=reader, final=final,
                    marks=self.marks, bots=self.bots)


def bought(run):
    counts = {}
    for o in run["orders"]:
        for t in o["items"]:
            counts[t] = counts.get(t, 0) + 1
    return counts


def exactly_once(run):
    counts = bought(run)
    return {t: counts.get(t, 0) for t in run["tcins"] if counts.get(t, 0) != 1}


def fmt_collisions(run):
    return [f"{c['kind']} (pid {c['pid']}) while {c['busy']} (pid {c['busy_pid']}) was in flight"
            for c in run["collisions"]][:6]


def dirty(run, after=float("-inf")):
    return [f"cycle for {c['tcin']} (pid {c['pid']}) started with cart {c['cart']}"
            for c in run["cycle_starts"] if c["cart"] and c["t"] >= after]


# --- scenarios -------------------------------------------------------------------

@pytest.fixture(scope="module")
def cycles():
    """Ten purchases, most ending just before one of the loop's ticks."""
    run = Run("cycles", 10, ["fast", "fast", "tick", "fast", "over", "fast", "tick", "fast",
                             "over", "tick"], timeline=True)
    run.bot()
    return run.finish(cap=6)


@pytest.fixture(scope="module")
def paced():
    """Twelve purchases, mostly fast, with stock checks every 10 ms."""
    plan = ["fast"] * 5 + ["over"] + ["fast"] * 4 + ["over", "fast"]
    run = Run("paced", 12, plan, check_ms=FAST_CHECK_MS)
    pacer = Pacer(P)
    run.bot()
    # Until every product is bought (or the bot stalls for 1.5 s): a machine
    # that is slow for everyone makes the run longer, not shorter of cycles.
    done = run.finish(cap=20)
    done["marks"]["lag"] = pacer.stop()
    return done


@pytest.fixture(scope="module")
def stuck():
    """The second checkout hangs (2.5 s unless aborted); stuck timeout 400 ms."""
    run = Run("stuck", 5, ["fast", "stuck", "fast", "fast", "fast", "fast", "fast"])
    run.bot()

    def stuck_done():
        snap = [c for c in run.sim.checkouts if c["spec"] == "stuck"]
        return bool(snap) and snap[0]["nav"].end is not None

    return run.finish(cap=5, extra=stuck_done)


def _restart(name, outcome):
    run = Run(name, 6, ["fast", "fast", "hold", "fast", "fast", "fast", "fast", "fast"])
    first = run.bot("first")
    wait_until(run.sim.hold_started.is_set, 3)
    first.kill()
    run.marks["killed_pid"] = first.proc.pid
    run.sim.release_hold(outcome)
    wait_until(lambda: run.sim.hold_nav is None or run.sim.hold_nav.end is not None, 3)
    run.marks["restart"] = now()
    run.bot("restarted")
    return run.finish(cap=4)


@pytest.fixture(scope="module")
def restart_completed():
    """Killed mid-checkout; the store still places that order."""
    return _restart("restart-completed", "complete")


@pytest.fixture(scope="module")
def restart_lost():
    """Killed mid-checkout; the order is lost with the browser session."""
    return _restart("restart-lost", "drop")


@pytest.fixture(scope="module")
def two_instances():
    """During a deploy the new bot starts while the old one is mid-purchase,
    and both run on the same state file and browser."""
    plan = ["fast", "fast", "hold", "other", "other", "fast", "other", "other", "fast", "other",
            "other", "fast"]
    run = Run("deploy", 10, plan, stuck_ms=DEPLOY_STUCK_MS)
    old = run.bot("old")
    wait_until(run.sim.hold_started.is_set, 3)
    new = run.bot("new")
    wait_until(lambda: os.path.getsize(new.events_path) > 0, 1.5)
    wait_until(lambda: False, 3 * P)
    grid = run.sim.grid.get(old.proc.pid) or run.sim.grid.get(run.sim.hold_nav.pid, now())
    at = grid + P - 0.020
    while at < now() + 0.005:
        at += P
    run.sim.release_hold("complete", at=at)
    return run.finish(cap=6)


@pytest.fixture(scope="module")
def every_run(cycles, paced, stuck, restart_completed, restart_lost, two_instances):
    return [cycles, paced, stuck, restart_completed, restart_lost, two_instances]


# --- Cycle Exclusivity -------------------------------------------------------------

def test_never_two_navigations_in_flight(cycles):
    """The browser never sees a navigation while another is in flight: the
    next cycle waits until the previous purchase is completely done."""
    assert not cycles["collisions"], fmt_collisions(cycles)
    assert not exactly_once(cycles), f"bought (want 1 each): {exactly_once(cycles)}"


def test_no_cycle_starts_before_the_cart_is_clear(cycles):
    """Every cycle opens its product page with an empty cart."""
    assert not dirty(cycles), dirty(cycles)[:6]
    assert not exactly_once(cycles), f"bought (want 1 each): {exactly_once(cycles)}"


def test_two_instances_never_share_the_browser(two_instances):
    """An old and a new bot process on one state file and one browser (a
    deploy): never two navigations at once, never a cycle with a full cart,
    every product bought exactly once."""
    run = two_instances
    assert not run["collisions"], fmt_collisions(run)
    assert not dirty(run), dirty(run)[:6]
    assert not exactly_once(run), f"bought (want 1 each): {exactly_once(run)}"


# --- State Integrity -----------------------------------------------------------------

def test_dashboard_never_reads_a_torn_state_file(every_run):
    """The dashboard polling the state file the whole time only ever reads
    whole, valid JSON documents."""
    bad = {r["name"]: (r["reader"]["torn_count"], r["reader"]["torn"][:2]) for r in every_run
           if r["reader"]["torn_count"] or not r["reader"]["alive_to_end"]}
    assert not bad, f"torn or unreadable reads: {bad}"
    assert all(r["reader"]["versions"] for r in every_run)


RANK = {"attempting": 1, "failed": 2, "purchased": 2, "ready": 3}


def transition_problems(run):
    real = {}
    for o in run["orders"]:
        for t in o["items"]:
            real.setdefault(t, set()).add(o["order_id"])
    problems, last = [], {}
    for rec in run["reader"]["versions"]:
        for tcin, (status, attempts, order_id, _checks) in rec["v"].items():
            where = f"{run['name']} {tcin}"
            if status not in RANK or not isinstance(attempts, int):
                problems.append(f"{where}: status {status!r}, attempts {attempts!r}")
                continue
            if attempts == 0 and status != "ready":
                problems.append(f"{where}: {status} with 0 attempts")
            if status == "purchased" and order_id not in real.get(tcin, ()):
                problems.append(f"{where}: purchased with order {order_id!r}, which the store "
                                f"never placed for it")
            prev = last.get(tcin)
            cur = (status, attempts, order_id)
            if prev and cur != prev:
                ps, pa, _po = prev
                if ps == "purchased":
                    problems.append(f"{where}: {prev} -> {cur}: changed after purchased")
                elif attempts < pa:
                    problems.append(f"{where}: {prev} -> {cur}: attempts went back")
                elif attempts == pa and pa > 0 and (RANK[status] < RANK[ps]
                                                    or {status, ps} == {"failed", "purchased"}):
                    problems.append(f"{where}: {prev} -> {cur}: illegal within one attempt")
            last[tcin] = cur
    return problems


def test_state_transitions_are_legal(every_run):
    """Per product, as the dashboard saw it: ready -> attempting (attempts + 1)
    -> purchased (final, with an order the store really placed for it) or
    failed -> ready; nothing goes back."""
    problems = [p for r in every_run for p in transition_problems(r)]
    assert not problems, problems[:8]


def test_no_update_is_lost(every_run):
    """No writer overwrites another's update: stock-check counts never go
    back, an order once recorded stays, and at the end the file records every
    order the store placed."""
    problems = []
    for run in every_run:
        checks, orders = {}, {}
        for rec in run["reader"]["versions"]:
            for tcin, (_s, _a, order_id, n) in rec["v"].items():
                if isinstance(n, int):
                    if n < checks.get(tcin, 0):
                        problems.append(f"{run['name']} {tcin}: stock_checks {checks[tcin]} -> {n}")
                    checks[tcin] = max(n, checks.get(tcin, 0))
                if tcin in orders and order_id != orders[tcin]:
                    problems.append(f"{run['name']} {tcin}: order {orders[tcin]} -> {order_id}")
                if order_id:
                    orders[tcin] = order_id
        final = run["final"].get("products")
        if final is None:
            problems.append(f"{run['name']}: final state file {run['final']}")
            continue
        for o in run["orders"]:
            for tcin in o["items"]:
                p = final.get(tcin, {})
                if p.get("status") != "purchased" or p.get("order_id") != o["order_id"]:
                    problems.append(f"{run['name']} {tcin}: store placed {o['order_id']}, file "
                                    f"says {p.get('status')} {p.get('order_id')}")
    assert not problems, problems[:8]


# --- Stuck Purchases -----------------------------------------------------------------

def _stuck_checkout(run):
    found = [c for c in run["checkouts"] if c["spec"] == "stuck"]
    assert found, "the stuck checkout was never reached"
    return found[0]["nav"]


def test_stuck_purchase_is_aborted_with_nothing_beside_it(stuck):
    """A checkout hanging past the stuck timeout is aborted, and nothing
    touches the browser until the aborted call has unwound."""
    nav = _stuck_checkout(stuck)
    aborts = [a for a in stuck["aborts"] if a["nav"] is nav]
    assert aborts, f"the stuck checkout was never aborted (it ended: {nav.outcome})"
    late = aborts[0]["t"] - nav.start
    assert late <= STUCK_MS / 1000 + 0.3, f"aborted {late:.3f} s after it started"
    assert nav.outcome == "aborted", nav.outcome
    assert not stuck["collisions"], fmt_collisions(stuck)


def test_loop_recovers_after_stuck_purchase(stuck):
    """After a stuck purchase the loop goes on promptly, the stuck product is
    retried, and every product is bought exactly once."""
    nav = _stuck_checkout(stuck)
    after = [c["t"] for c in stuck["cycle_starts"] if c["accepted"] and c["t"] > nav.start]
    assert after, "no cycle started after the stuck purchase"
    gap = after[0] - nav.start
    assert gap <= STUCK_MS / 1000 + 0.6, f"next cycle only {gap:.3f} s after the stuck checkout"
    assert not stuck["collisions"], fmt_collisions(stuck)
    assert not exactly_once(stuck), f"bought (want 1 each): {exactly_once(stuck)}"


def test_stuck_purchase_leaves_a_clear_cart(stuck):
    """The item the aborted purchase put in the cart is gone before the next cycle."""
    _stuck_checkout(stuck)
    assert not dirty(stuck), dirty(stuck)[:6]
    assert not exactly_once(stuck), f"bought (want 1 each): {exactly_once(stuck)}"


# --- Restart Recovery ----------------------------------------------------------------

def _held(run):
    held = [c for c in run["checkouts"] if c["spec"] == "hold"]
    assert held, "the bot never reached the checkout during which it is killed"
    assert held[0]["cart"], "the killed purchase had nothing in the cart"
    return held[0]


def test_restart_does_not_repeat_a_purchase_the_crash_completed(restart_completed):
    """Killed mid-checkout, the order still went through: the restarted bot
    records it (with its order id) and does not buy the product again."""
    run = restart_completed
    tcin = _held(run)["cart"][0]
    orders = [o for o in run["orders"] if tcin in o["items"]]
    assert len(orders) == 1, f"{tcin} ordered {len(orders)} times: {orders}"
    p = run["final"].get("products", {}).get(tcin, {})
    assert p.get("status") == "purchased" and p.get("order_id") == orders[0]["order_id"], (
        f"{tcin}: store placed {orders[0]['order_id']}, file says {p.get('status')} "
        f"{p.get('order_id')}")
    assert not exactly_once(run), f"bought (want 1 each): {exactly_once(run)}"


def test_restart_retries_a_purchase_the_crash_lost(restart_lost):
    """Killed mid-checkout, the order was lost: the restarted bot buys the
    product (once) and the rest of the list."""
    run = restart_lost
    tcin = _held(run)["cart"][0]
    orders = [o for o in run["orders"] if tcin in o["items"]]
    assert len(orders) == 1, f"{tcin} ordered {len(orders)} times after the crash lost it"
    assert orders[0]["t"] > run["marks"]["restart"]
    assert not exactly_once(run), f"bought (want 1 each): {exactly_once(run)}"


@pytest.mark.parametrize("which", ["restart_completed", "restart_lost"])
def test_restart_resumes_with_a_clear_cart(which, request):
    """The restarted bot does not wait forever on the dead process's
    'attempting': its first cycle starts promptly, with the cart the dead one
    left cleared, and nothing collides."""
    run = request.getfixturevalue(which)
    _held(run)
    restart = run["marks"]["restart"]
    after = [c for c in run["cycle_starts"] if c["t"] > restart]
    assert after and after[0]["accepted"], "no cycle after the restart"
    assert after[0]["t"] - restart <= 1.5, f"first cycle {after[0]['t'] - restart:.2f} s after restart"
    assert not dirty(run, after=restart), dirty(run, after=restart)[:6]
    assert not run["collisions"], fmt_collisions(run)


# --- Liveness ------------------------------------------------------------------------

def _cycle_windows(run):
    starts = sorted(c["t"] for c in run["cycle_starts"] if c["accepted"])
    navs = [n for n in run["navs"] if n.outcome != "interrupted" and n.end is not None]
    out = []
    for s, nxt in zip(starts, starts[1:]):
        end = max([n.end for n in navs if s <= n.start < nxt] or [s])
        out.append((s, end, nxt))
    return out


def test_fast_purchases_keep_the_cycle_period(paced):
    """A cycle starts every period while purchases finish within it (the
    median gap after a fast purchase is at most period + 45 ms: a bot that
    pauses a period after each purchase needs period + purchase, 60 ms or
    more; the median, so one tick lost on a busy machine does not count), and
    no gap is longer than a period past the previous purchase's end plus
    0.5 s. Both bounds move by how late a bot-free loop on the same period
    woke meanwhile (pacer.py), up to 100 ms: a slow machine delays every
    loop, while a bot that waits on purpose is that much later again. The
    whole list is bought, each product once."""
    lag = min(max(0.0, paced["marks"]["lag"]), MAX_LAG)
    fast_gaps, stalls = [], []
    for s, end, nxt in _cycle_windows(paced):
        if end - s <= P - PACE_SLACK:
            fast_gaps.append(round(nxt - s, 3))
        if nxt - end > P + 0.5 + lag:
            stalls.append(f"purchase ended {end - s:.3f} s in, next cycle {nxt - end:.3f} s after")
    assert len(fast_gaps) >= 4, f"only {len(fast_gaps)} fast purchases followed by a cycle"
    median = sorted(fast_gaps)[len(fast_gaps) // 2]
    assert median <= P + PACE_SLACK + lag, (
        f"median gap {median} s after fast purchases (a bot-free loop woke {lag:.3f} s late): "
        f"{fast_gaps}")
    assert not stalls, stalls[:4]
    assert not exactly_once(paced), f"bought (want 1 each): {exactly_once(paced)}"


def test_every_cycle_buys_its_product(paced):
    """With purchases that succeed, every cycle started buys its product:
    as many cycles as products, none wasted, none repeated."""
    starts = paced["cycle_starts"]
    assert len(starts) == len(paced["tcins"]) and all(c["accepted"] for c in starts), (
        f"{len(starts)} cycles for {len(paced['tcins'])} products: "
        f"{[(c['tcin'], c['accepted']) for c in starts][:20]}")
    assert not exactly_once(paced), f"bought (want 1 each): {exactly_once(paced)}"
