"""Drives the real inventory-consumer: topics, replicas, producers, Postgres checks."""

import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import uuid

import psycopg2
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

BIN = "/work/bin/inventory-consumer"
RACE_BIN = "/work/bin/inventory-consumer-race"
OUT = os.environ.get("RACEBENCH_OUT", "/racebench/out")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
TOPIC_PREFIX = os.environ.get("RACEBENCH_TOPIC_PREFIX", "local-")
GROUP_PREFIX = os.environ.get("RACEBENCH_GROUP_PREFIX", TOPIC_PREFIX)
DATABASE_URL = os.environ["DATABASE_URL"]
# lib/pq asks for TLS unless told otherwise; the trial database has none.
SERVICE_DATABASE_URL = DATABASE_URL + ("&" if "?" in DATABASE_URL else "?") + "sslmode=disable"

ASSIGNED = re.compile(r"partitions assigned generation=(\d+) partitions=\[([\d ]*)\]")
REVOKED = re.compile(r"partitions revoked generation=(\d+)")


_conn = None


def db():
    """One autocommit connection for the whole test run: polling must stay cheap."""
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg2.connect(DATABASE_URL)
        _conn.autocommit = True
    return _conn


def query(sql, *args):
    with db().cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def service_env():
    env = dict(os.environ)
    env["DATABASE_URL"] = SERVICE_DATABASE_URL
    return env


def migrate():
    done = subprocess.run([BIN, "-migrate"], env=service_env(), timeout=60,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert done.returncode == 0, f"migration failed: {done.stderr.decode(errors='replace')}"


class Replica:
    def __init__(self, scenario, index, race, extra_env):
        self.log_path = os.path.join(OUT, "logs", f"{scenario.name}-r{index}.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        env = service_env()
        env.update({
            "INVENTORY_TOPIC": scenario.topic,
            "INVENTORY_GROUP_ID": scenario.group,
            "OFFSET_COMMIT_INTERVAL_MS": "100",
            "STATS_INTERVAL_MS": "1000",
            "KAFKA_SESSION_TIMEOUT_MS": "2000",
        })
        env.update({k: str(v) for k, v in extra_env.items()})
        if race:
            env["GORACE"] = "halt_on_error=0"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([RACE_BIN if race else BIN], env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

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

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


class Scenario:
    """One test's own topic, consumer group, products and event ids."""

    def __init__(self, name, partitions):
        self.name = name
        self.tag = f"{name}-{uuid.uuid4().hex[:6]}"
        self.topic = f"{TOPIC_PREFIX}{self.tag}"
        self.group = f"{GROUP_PREFIX}{self.tag}"
        self.partitions = partitions
        self.replicas = []
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
        replicas = [r for r in (replicas or self.replicas) if r.proc.poll() is None]
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
                assert r.proc.poll() is None, f"replica exited early:\n{r.log()[-3000:]}"
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

    def stop_all(self):
        codes = []
        for r in self.replicas:
            try:
                codes.append(r.stop(timeout=1))
            except Exception:
                codes.append(None)
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
