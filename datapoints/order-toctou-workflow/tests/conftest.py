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
REPLICA_LOG = os.path.join(OUT, "orderflow-replica.log")


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


def as_candidate(cmd):
    """The service is the candidate's code: it runs as the unprivileged
    candidate user, through the wrapper racebench names."""
    wrapper = os.environ.get("RACEBENCH_AS_CANDIDATE")
    return ([wrapper] if wrapper else []) + cmd


def _start(name, log_path, events_path):
    """Starts one orderflow process; returns (process, Service) once healthy."""
    port = _free_port()
    env = dict(os.environ,
               ORDERFLOW_ADDR=f"127.0.0.1:{port}",
               ORDERFLOW_EVENTS_FILE=events_path)
    log = open(log_path, "ab")
    proc = subprocess.Popen(as_candidate([BINARY]), env=env, stdout=log, stderr=log)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"orderflow ({name}) exited with {proc.returncode} at startup; see {log_path}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                _stop(proc)
                pytest.fail(f"orderflow ({name}) did not become healthy within 30 s")
            time.sleep(0.1)
    return proc, Service(base)


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def service():
    os.makedirs(OUT, exist_ok=True)
    proc, svc = _start("main", SERVICE_LOG, os.path.join(OUT, "events.jsonl"))
    try:
        _warm_up(svc, "warmup")
        yield svc
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def replica(service):
    """A second orderflow process on the same database, as in production (the
    prompt: two replicas). Its own log and events file (its own clock)."""
    proc, svc = _start("replica", REPLICA_LOG, os.path.join(OUT, "events-replica.jsonl"))
    try:
        _warm_up(svc, "warmup-replica")
        yield svc
    finally:
        _stop(proc)


def _warm_up(svc, prefix):
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
    calls = [OrderCall(svc, f"{prefix}-{n:02d}", items, barrier) for n in range(12)]
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
    """Holds the inventory rows of some SKUs locked in one transaction, as a
    busy concurrent checkout would."""

    def __init__(self, *skus):
        self.skus = skus
        self.conn = None
        self.pid = None

    def __enter__(self):
        self.conn = psycopg2.connect(DATABASE_URL)
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.pid = cur.fetchone()[0]
            for sku in self.skus:
                cur.execute("SELECT stock FROM inventory WHERE sku = %s FOR UPDATE", (sku,))
        return self

    def waiters(self, db):
        """How many backends wait (directly or transitively) for this lock."""
        return blocked_by(db, self.pid)

    def set_stock(self, sku, stock):
        """The checkout buys: sets the locked row's stock (committed on exit)."""
        with self.conn.cursor() as cur:
            cur.execute("UPDATE inventory SET stock = %s WHERE sku = %s", (stock, sku))

    def __exit__(self, *exc):
        try:
            self.conn.commit()
        finally:
            self.conn.close()


def wait_quiet(db, exclude, quiet=0.3, cap=10, interval=0.02):
    """Waits until no backend of this database but those in `exclude` has done
    anything (not idle, not waiting for a lock) for `quiet` seconds."""
    deadline = time.monotonic() + cap
    since = time.monotonic()
    while time.monotonic() < deadline:
        if busy_backends(db, exclude) > 0:
            since = time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
        time.sleep(interval)
    return False


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
