"""Drives the real inventory-consumer: topics, replicas, producers, a warehouse
stand-in, row locks and database outages, and Postgres checks.

Every process of the candidate's service is started through `spawn`, which
prefixes the command with $RACEBENCH_AS_CANDIDATE when it is set (the
verifier's wrapper that drops to the candidate's uid). Nothing of the
candidate's code is imported or executed in this process."""

import json
import os
import random
import re
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
from psycopg2 import sql
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

BIN = "/work/bin/inventory-consumer"
RACE_BIN = "/work/bin/inventory-consumer-race"
WORKSPACE = os.environ.get("RACEBENCH_WORKSPACE", "/work/src")
OUT = os.environ.get("RACEBENCH_OUT", "/racebench/out")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
TOPIC_PREFIX = os.environ.get("RACEBENCH_TOPIC_PREFIX", "local-")
GROUP_PREFIX = os.environ.get("RACEBENCH_GROUP_PREFIX", TOPIC_PREFIX)
DATABASE_URL = os.environ["DATABASE_URL"]
# lib/pq asks for TLS unless told otherwise; the trial database has none.
SERVICE_DATABASE_URL = DATABASE_URL + ("&" if "?" in DATABASE_URL else "?") + "sslmode=disable"
RACE_ENV = "halt_on_error=0"

ASSIGNED = re.compile(r"partitions assigned generation=(\d+) partitions=\[([\d ]*)\]")
REVOKED = re.compile(r"partitions revoked generation=(\d+)")


def spawn(cmd, **kwargs):
    """The one way this suite starts a process of the candidate's code."""
    wrapper = os.environ.get("RACEBENCH_AS_CANDIDATE")
    return subprocess.Popen(([wrapper] if wrapper else []) + cmd, **kwargs)


_conn = None


def db():
    """One autocommit connection for the whole test run: polling must stay cheap."""
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg2.connect(DATABASE_URL)
        _conn.autocommit = True
    return _conn


def query(q, *args):
    with db().cursor() as cur:
        cur.execute(q, args)
        return cur.fetchall()


def service_env():
    env = {k: v for k, v in os.environ.items() if k != "RACEBENCH_AS_CANDIDATE"}
    env["DATABASE_URL"] = SERVICE_DATABASE_URL
    env.pop("WAREHOUSE_URL", None)
    return env


def migrate():
    proc = spawn([BIN, "-migrate"], env=service_env(), stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"migration failed: {err.decode(errors='replace')}"


# --- processes ------------------------------------------------------------------

def _children():
    """ppid -> live (not zombie) child pids."""
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if state != "Z":
            kids.setdefault(int(ppid), []).append(int(entry))
    return kids


def process_tree(pid):
    """pid and its live descendants, parents first."""
    kids, tree, todo = _children(), [], [pid]
    while todo:
        p = todo.pop(0)
        if os.path.exists(f"/proc/{p}"):
            tree.append(p)
        todo.extend(kids.get(p, []))
    return tree


class Replica:
    def __init__(self, scenario, index, race, extra_env):
        self.log_path = os.path.join(OUT, "logs", f"{scenario.name}-r{index}.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        env = service_env()
        env.update({
            "INVENTORY_TOPIC": scenario.topic,
            "INVENTORY_GROUP_ID": scenario.group,
            "WAREHOUSE_URL": scenario.warehouse.url,
            "OFFSET_COMMIT_INTERVAL_MS": "100",
            "STATS_INTERVAL_MS": "1000",
            "KAFKA_SESSION_TIMEOUT_MS": "2000",
        })
        env.update({k: str(v) for k, v in extra_env.items()})
        if race:
            env["GORACE"] = RACE_ENV
        self._log = open(self.log_path, "ab")
        self.proc = spawn([RACE_BIN if race else BIN], env=env, stdin=subprocess.DEVNULL,
                          stdout=self._log, stderr=self._log)

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def state(self):
        """('assigned', generation, partitions) or ('revoked', generation, None) or None."""
        last = None
        for line in self.log().splitlines():
            m = ASSIGNED.search(line)
            if m:
                last = ("assigned", int(m.group(1)), [int(p) for p in m.group(2).split()])
                continue
            m = REVOKED.search(line)
            if m:
                last = ("revoked", int(m.group(1)), None)
        return last

    def service_pids(self):
        """The processes of the service itself: the leaves of the tree started
        (the wrapper, if it forks, is not one of them)."""
        tree = process_tree(self.proc.pid)
        kids = _children()
        return [p for p in tree if not any(k in tree for k in kids.get(p, []))]

    def signal(self, sig):
        for pid in reversed(process_tree(self.proc.pid)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL the service (and the wrapper): no chance to commit anything."""
        if self.alive():
            self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout=10):
        if self.alive():
            for pid in self.service_pids():
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


# Run as the candidate's user: root in the trial container has no
# CAP_SYS_PTRACE, so only a process of the same uid may read another's
# /proc/PID/exe, fd and environ. A service that makes itself undumpable to hide
# fails the check.
_INSPECT = r"""
import json, os, sys
pid = sys.argv[1]
out = {}
for key, name in (("exe", "exe"), ("fd2", "fd/2")):
    try:
        out[key] = os.readlink("/proc/%s/%s" % (pid, name))
    except OSError as e:
        out[key] = "error: %s" % e
try:
    st = os.stat("/proc/%s/exe" % pid)
    out["ino"] = [st.st_dev, st.st_ino]
except OSError as e:
    out["ino"] = "error: %s" % e
try:
    with open("/proc/%s/environ" % pid, "rb") as f:
        out["gorace"] = [e.decode("utf-8", "replace") for e in f.read().split(b"\0") if e.startswith(b"GORACE=")]
except OSError as e:
    out["gorace"] = "error: %s" % e
print(json.dumps(out))
"""


def inspect_process(pid):
    proc = spawn(["python3", "-c", _INSPECT, str(pid)], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, f"inspecting process {pid} failed: {err.decode(errors='replace')}"
    return json.loads(out)


def go_files(race):
    """The Go files of the work tree a build compiles, with or without -race."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "GO111MODULE": "off",
           "GOPATH": "/usr/share/gocode", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "1",
           "GOCACHE": tempfile.mkdtemp(prefix="golist-")}  # root's own, fresh
    cmd = ["go", "list", "-f", "{{range .GoFiles}}{{.}}\n{{end}}{{range .CgoFiles}}{{.}}\n{{end}}"]
    cmd += (["-race"] if race else []) + ["."]
    res = subprocess.run(cmd, cwd=WORKSPACE, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"go list{' -race' if race else ''} failed: {res.stderr}"
    return sorted(line for line in res.stdout.splitlines() if line)


def check_race_build(replica):
    """The running service is the race-detector build (the file the build wrote,
    built with -race, from the same files as the production build: no build
    constraint shows the detector other code than the one that runs), reporting
    to the log the test opened, with the GORACE the test gave it."""
    plain, raced = go_files(race=False), go_files(race=True)
    assert plain == raced, \
        f"the race build compiles other files than the service: {sorted(set(plain) ^ set(raced))}; " \
        "the race detector must see the code that runs in production"
    race_exe = os.path.realpath(RACE_BIN)
    st = os.stat(race_exe)
    info = subprocess.run(["go", "version", "-m", race_exe], capture_output=True, text=True, timeout=30)
    assert re.search(r"^\s*build\s+-race=true\s*$", info.stdout, re.M), \
        f"{RACE_BIN} is not built with -race:\n{info.stdout}{info.stderr}"
    pids = replica.service_pids()
    assert pids, "the race build is not running"
    for pid in pids:
        seen = inspect_process(pid)
        assert seen["exe"] == race_exe and seen["ino"] == [st.st_dev, st.st_ino], \
            f"process {pid} runs {seen['exe']} {seen['ino']}, not the race build {race_exe}"
        assert seen["fd2"] == os.path.realpath(replica.log_path), \
            f"the race build's stderr goes to {seen['fd2']}, not its log"
        assert seen["gorace"] == ["GORACE=" + RACE_ENV], f"GORACE changed: {seen['gorace']}"


# --- the warehouse management system, as the service sees it -------------------------

class Warehouse:
    """The WMS stand-in: every level the service publishes, with `latency` per
    call. The latency is the test's, not the service's."""

    def __init__(self, latency_ms=10):
        self.latency = latency_ms / 1000.0
        self.calls = []  # (sku, level) in arrival order
        self.inflight = 0
        self.max_inflight = 0
        self._mu = threading.Lock()
        wh = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    doc = json.loads(body)
                    sku, level = str(doc["sku"]), int(doc["level"])
                except (ValueError, KeyError, TypeError):
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with wh._mu:
                    wh.calls.append((sku, level))
                    wh.inflight += 1
                    wh.max_inflight = max(wh.max_inflight, wh.inflight)
                try:
                    time.sleep(wh.latency)
                finally:
                    with wh._mu:
                        wh.inflight -= 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last_levels(self):
        with self._mu:
            return {sku: level for sku, level in self.calls}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- database faults ------------------------------------------------------------

class RowLocks:
    """Holds products' rows FOR UPDATE in a transaction of the test's own, as
    another writer (a stocktake) would: every service transaction that touches
    them waits, so the service's competing transactions are all in flight when
    the rows are freed."""

    def __init__(self, skus):
        self.conn = psycopg2.connect(DATABASE_URL)
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            (self.pid,) = cur.fetchone()
            cur.execute("SELECT sku FROM products WHERE sku = ANY(%s) ORDER BY sku FOR UPDATE", (list(skus),))

    def release(self):
        if not self.conn.closed:
            self.conn.commit()
            self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def lock_waiters(exclude=()):
    """Backends of this database (not ours) waiting for a lock."""
    (row,) = query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s))",
                   list(exclude))
    return row[0]


def wait_waiters(want, quiet=1.0, cap=10.0):
    """Until `want` service transactions wait on a lock, or the count has not
    changed for `quiet` seconds after the first one (a fix that lets fewer
    through, e.g. an in-process lock), or `cap`."""
    started = time.monotonic()
    last, since = None, started
    while time.monotonic() - started < cap:
        n = lock_waiters()
        t = time.monotonic()
        if n >= want:
            return n
        if n != last:
            last, since = n, t
        elif n > 0 and t - since >= quiet:
            return n
        time.sleep(0.02)
    return last


def service_backends(exclude=()):
    return [r[0] for r in query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s))", list(exclude))]


class Outage:
    """The database goes away: the service's connections are cut and new ones
    refused until `end()` (as during a failover or restart)."""

    def __init__(self, exclude=()):
        (name,) = query("SELECT current_database()")[0]
        self.name = name
        with db().cursor() as cur:
            cur.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 0").format(sql.Identifier(name)))
        self.cut = 0
        for pid in service_backends(exclude):
            query("SELECT pg_terminate_backend(%s)", pid)
            self.cut += 1

    def end(self):
        with db().cursor() as cur:
            cur.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT -1").format(sql.Identifier(self.name)))


# --- scenarios ------------------------------------------------------------------

class Scenario:
    """One test's own topic, consumer group, products, event ids and warehouse."""

    def __init__(self, name, partitions):
        self.name = name
        self.tag = f"{name}-{uuid.uuid4().hex[:6]}"
        self.topic = f"{TOPIC_PREFIX}{self.tag}"
        self.group = f"{GROUP_PREFIX}{self.tag}"
        self.partitions = partitions
        self.replicas = []
        self.warehouse = Warehouse()
        self._seq = 0
        admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
        for f in admin.create_topics([NewTopic(self.topic, num_partitions=partitions,
                                               replication_factor=1)]).values():
            f.result(timeout=30)

    # --- products -------------------------------------------------------
    def sku(self, label):
        return f"{self.tag}-{label}"

    def seed(self, stocks):
        with db().cursor() as cur:
            for sku, stock in stocks.items():
                cur.execute("INSERT INTO products (sku, name, stock) VALUES (%s, %s, %s)",
                            (sku, sku, stock))

    def stocks(self):
        rows = query("SELECT sku, stock FROM products WHERE sku LIKE %s", self.tag + "-%")
        return dict(rows)

    def movements(self):
        return query("SELECT event_id, sku, delta, stock_before, stock_after FROM stock_movements "
                     "WHERE sku LIKE %s ORDER BY id", self.tag + "-%")

    def statuses(self):
        """event id -> set of statuses recorded in processed_events."""
        out = {}
        for event_id, status in query("SELECT event_id, status FROM processed_events WHERE event_id LIKE %s",
                                      self.tag + "-%"):
            out.setdefault(event_id, set()).add(status)
        return out

    def recorded(self, ids):
        (row,) = query("SELECT count(DISTINCT event_id) FROM processed_events WHERE event_id = ANY(%s)", list(ids))
        return row[0]

    def progress(self):
        (row,) = query("SELECT (SELECT count(DISTINCT event_id) FROM processed_events WHERE event_id LIKE %s), "
                       "(SELECT count(*) FROM stock_movements WHERE sku LIKE %s), "
                       "(SELECT coalesce(sum(stock), 0) FROM products WHERE sku LIKE %s)",
                       self.tag + "-%", self.tag + "-%", self.tag + "-%")
        return row

    # --- events ---------------------------------------------------------
    def event(self, lines, kind=None):
        self._seq += 1
        if kind is None:
            kind = "restock" if all(d > 0 for _, d in lines) else "order"
        return {"event_id": f"{self.tag}-e{self._seq}", "type": kind,
                "lines": [{"sku": s, "delta": d} for s, d in lines]}

    def produce(self, messages):
        """messages: list of (partition, event). Sent in order, then flushed."""
        p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 2, "acks": "all"})
        failures = []
        for partition, ev in messages:
            p.produce(self.topic, json.dumps(ev).encode(), key=ev["event_id"].encode(),
                      partition=partition,
                      on_delivery=lambda err, msg: err and failures.append(err))
            p.poll(0)
        left = p.flush(30)
        assert left == 0 and not failures, f"produce failed: {failures} ({left} left)"

    def produce_concurrently(self, batches):
        """One producer thread per batch, released together by a barrier."""
        batches = [b for b in batches if b]
        barrier = threading.Barrier(len(batches))
        errors = []

        def send(batch):
            try:
                barrier.wait(timeout=30)
                self.produce(batch)
            except Exception as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=send, args=(b,)) for b in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors

    # --- replicas -------------------------------------------------------
    def start(self, count=1, race=False, **env):
        started = [Replica(self, len(self.replicas) + i, race, env) for i in range(count)]
        self.replicas.extend(started)
        return started

    def wait_assigned(self, replicas=None, timeout=30):
        """Until the live replicas share one generation that covers every partition."""
        replicas = [r for r in (replicas or self.replicas) if r.alive()]
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            states = [r.state() for r in replicas]
            if time.monotonic() - started > 8 and not any(states):
                # A candidate fix reworded the assignment log line: fall back to
                # having given the group ample time to settle.
                return
            if all(s and s[0] == "assigned" for s in states):
                gens = {s[1] for s in states}
                parts = sorted(p for s in states for p in s[2])
                if len(gens) == 1 and parts == list(range(self.partitions)) and all(s[2] for s in states):
                    time.sleep(0.2)
                    if [r.state() for r in replicas] == states:
                        return
            for r in replicas:
                assert r.alive(), f"replica exited early:\n{r.log()[-3000:]}"
            time.sleep(0.05)
        raise AssertionError("consumer group never settled: " +
                             "; ".join(f"{r.log_path}: {r.state()}" for r in replicas))

    def wait_processed(self, unique_events, timeout=40, settle=0.6, stall=3.0):
        """Until every event id is recorded and nothing changed for `settle` seconds,
        or nothing changed for `stall` seconds, or `timeout`."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            now = self.progress()
            t = time.monotonic()
            if now != last:
                last, since = now, t
            elif (now[0] >= unique_events and t - since >= settle) or t - since >= stall:
                return now
            time.sleep(0.05)
        return last

    def wait_recorded(self, ids, quiet=1.5, timeout=20):
        """Until every id is in processed_events, or nothing changed for `quiet` s."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            now = self.progress()
            if self.recorded(ids) == len(ids):
                return True
            t = time.monotonic()
            if now != last:
                last, since = now, t
            elif t - since >= quiet:
                return False
            time.sleep(0.03)
        return False

    def stop_all(self):
        codes = []
        for r in self.replicas:
            try:
                codes.append(r.stop(timeout=1))
            except Exception:
                codes.append(None)
        self.warehouse.close()
        return codes


def record(test, **values):
    """Appends measurements to $RACEBENCH_OUT/metrics.jsonl for humans calibrating the tests."""
    with open(os.path.join(OUT, "metrics.jsonl"), "a") as f:
        f.write(json.dumps({"test": test, **values}) + "\n")


def spread(events, partitions, rng):
    """Each event to a random partition."""
    return [(rng.randrange(partitions), ev) for ev in events]


def expected_stocks(initial, events):
    want = dict(initial)
    for ev in events:
        for line in ev["lines"]:
            want[line["sku"]] += line["delta"]
    return want


def duplicate_movements(movements):
    seen, dups = set(), []
    for event_id, sku, *_ in movements:
        if (event_id, sku) in seen:
            dups.append((event_id, sku))
        seen.add((event_id, sku))
    return dups


def rng_for(name):
    return random.Random(f"{name}-{os.environ.get('RACEBENCH_TRIAL', '1')}")
