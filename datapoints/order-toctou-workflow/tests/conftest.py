"""Fixtures and helpers: the real orderflow binary against the trial's Postgres."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import psycopg2
import pytest

BINARY = os.environ.get("ORDERFLOW_BINARY", "/work/bin/orderflow")
OUT = os.environ.get("RACEBENCH_OUT", "/racebench/out")
DATABASE_URL = os.environ["DATABASE_URL"]
SERVICE_LOG = os.path.join(OUT, "orderflow.log")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, base):
        self.base = base

    def place(self, order_id, items, timeout=30):
        """POSTs an order; returns (http status, decoded body)."""
        body = json.dumps({"order_id": order_id,
                           "items": [{"sku": s, "quantity": q} for s, q in items]}).encode()
        req = urllib.request.Request(self.base + "/orders", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, _decode(e.read())


def _decode(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return {"raw": raw.decode(errors="replace")}


@pytest.fixture(scope="session")
def service():
    os.makedirs(OUT, exist_ok=True)
    port = _free_port()
    env = dict(os.environ,
               ORDERFLOW_ADDR=f"127.0.0.1:{port}",
               ORDERFLOW_EVENTS_FILE=os.path.join(OUT, "events.jsonl"))
    log = open(SERVICE_LOG, "ab")
    proc = subprocess.Popen([BINARY], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"orderflow exited with {proc.returncode} at startup; see {SERVICE_LOG}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("orderflow did not become healthy within 30 s")
                time.sleep(0.1)
        svc = Service(base)
        _warm_up(svc)
        yield svc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _warm_up(svc):
    """A burst of unrelated orders, so the service's connection pool is open
    before the scenarios: opening connections on a loaded Postgres can take
    seconds, which would stretch the scenarios' timing."""
    conn = psycopg2.connect(DATABASE_URL)
    conn.autocommit = True
    try:
        seed(conn, {f"WARMUP-{i}": 1000 for i in range(3)})
    finally:
        conn.close()
    items = [(f"WARMUP-{i}", 1) for i in range(3)]
    barrier = threading.Barrier(12)
    calls = [OrderCall(svc, f"warmup-{n:02d}", items, barrier) for n in range(12)]
    for c in calls:
        c.start()
    for c in calls:
        c.done.wait(timeout=30)


@pytest.fixture(scope="session")
def db(service):
    conn = psycopg2.connect(DATABASE_URL)
    conn.autocommit = True
    yield conn
    conn.close()


def seed(db, stock):
    with db.cursor() as cur:
        for sku, n in stock.items():
            cur.execute("INSERT INTO inventory (sku, stock) VALUES (%s, %s) "
                        "ON CONFLICT (sku) DO UPDATE SET stock = EXCLUDED.stock", (sku, n))


def stock_of(db, skus):
    with db.cursor() as cur:
        cur.execute("SELECT sku, stock FROM inventory WHERE sku = ANY(%s)", (list(skus),))
        return dict(cur.fetchall())


def reservations_of(db, order_ids):
    """{order_id: {sku: quantity}} for the given orders (orders without rows are absent)."""
    out = {}
    with db.cursor() as cur:
        cur.execute("SELECT order_id, sku, quantity FROM reservations WHERE order_id = ANY(%s)",
                    (list(order_ids),))
        for order_id, sku, qty in cur.fetchall():
            out.setdefault(order_id, {})[sku] = qty
    return out


def blocked_by(db, locker_pid):
    """Backends of this database waiting, directly or through other waiters, on `locker_pid`."""
    with db.cursor() as cur:
        cur.execute("SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'")
        blockers = dict(cur.fetchall())
    blocked, frontier = set(), {locker_pid}
    while frontier:
        frontier = {pid for pid, by in blockers.items()
                    if pid not in blocked and frontier.intersection(by)}
        blocked |= frontier
    return len(blocked)


def busy_backends(db, exclude):
    """Backends of this database doing something (not idle, not waiting for a
    lock), other than the pids in `exclude`: a sign the service still makes
    progress, however slowly."""
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s)) "
                    "AND state IS DISTINCT FROM 'idle' "
                    "AND wait_event_type IS DISTINCT FROM 'Lock'", (list(exclude),))
        return cur.fetchone()[0]


class RowLock:
    """Holds the inventory row of a SKU locked, as a busy checkout would."""

    def __init__(self, sku):
        self.sku = sku
        self.conn = None
        self.pid = None

    def __enter__(self):
        self.conn = psycopg2.connect(DATABASE_URL)
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.pid = cur.fetchone()[0]
            cur.execute("SELECT stock FROM inventory WHERE sku = %s FOR UPDATE", (self.sku,))
        return self

    def waiters(self, db):
        """How many backends wait (directly or transitively) for this lock."""
        return blocked_by(db, self.pid)

    def __exit__(self, *exc):
        try:
            self.conn.commit()
        finally:
            self.conn.close()


def wait_until(pred, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def wait_settled(state, target, cap, quiet=1.5, busy=lambda: 0, interval=0.02):
    """Waits until state() >= target, or state() stayed the same for `quiet`
    seconds while busy() saw no database work, or `cap` seconds passed."""
    deadline = time.monotonic() + cap
    last, since = state(), time.monotonic()
    while time.monotonic() < deadline:
        cur = state()
        if cur >= target:
            return cur
        if cur != last or busy() > 0:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return cur
        time.sleep(interval)
    return state()


class OrderCall(threading.Thread):
    """Places one order on its own thread, optionally after a barrier."""

    def __init__(self, service, order_id, items, barrier=None):
        super().__init__(daemon=True)
        self.service, self.order_id, self.items, self.barrier = service, order_id, items, barrier
        self.status, self.body = None, None
        self.started_at = self.finished_at = None
        self.done = threading.Event()

    def run(self):
        try:
            if self.barrier is not None:
                self.barrier.wait()
            self.started_at = time.monotonic()
            self.status, self.body = self.service.place(self.order_id, self.items)
        except Exception as e:  # reported by the tests, not lost in the thread
            self.status, self.body = -1, {"exception": repr(e)}
        finally:
            self.finished_at = time.monotonic()
            self.done.set()

    def describe(self):
        return f"{self.order_id}: HTTP {self.status} {self.body}"
