"""Starts and stops instances of the people-directory service under test."""

import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse

import directory_data

WORKSPACE = os.environ.get("RACEBENCH_WORKSPACE", "/work/src")
OUT = os.environ.get("RACEBENCH_OUT", "/racebench/out")
ENTRYPOINT = os.path.join(WORKSPACE, "dist", "main.js")
PASSED_ENV = {"PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME"}


def as_candidate(cmd):
    """Every process of the candidate's code starts through this: the runner's
    wrapper (RACEBENCH_AS_CANDIDATE) runs it as the unprivileged candidate user."""
    wrapper = os.environ.get("RACEBENCH_AS_CANDIDATE")
    return ([wrapper] if wrapper else []) + cmd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_host_port(url, host, port):
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def upstream_of(url, default_port):
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port or default_port


class Instance:
    """One service process, reaching Postgres and Redis through its own links."""

    def __init__(self, name, hub):
        self.name = name
        self.port = free_port()
        self.pg_link = hub.link(f"{name}-pg", *upstream_of(os.environ["DATABASE_URL"], 5432),
                                count_pg_queries=True)
        self.redis_link = hub.link(f"{name}-redis", *upstream_of(os.environ["REDIS_URL"], 6379),
                                   redis=True)
        self.log_path = os.path.join(OUT, f"service-{name}.log")
        self.proc = None

    def set_latency(self, pg_ms=0.0, redis_ms=0.0):
        self.pg_link.latency_ms = pg_ms
        self.redis_link.latency_ms = redis_ms

    def env(self):
        """Only the proxies' addresses: no PG*, REDIS_PASSWORD or original URLs
        that would let the service reach Postgres or Redis around the links."""
        env = {k: v for k, v in os.environ.items() if k in PASSED_ENV}
        env.update(
            PORT=str(self.port),
            DATABASE_URL=with_host_port(os.environ["DATABASE_URL"], "127.0.0.1", self.pg_link.port),
            REDIS_URL=with_host_port(os.environ["REDIS_URL"], "127.0.0.1", self.redis_link.port),
            HOME="/racebench/home" if os.environ.get("RACEBENCH_AS_CANDIDATE") else os.environ.get("HOME", "/"),
            INSTANCE_ID=self.name,
            LOG_LEVEL="info",
        )
        return env

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def note(self, line):
        with open(self.log_path, "a") as f:
            f.write(f"==== {line}\n")

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(as_candidate(["node", ENTRYPOINT]), env=self.env(), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        return self

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"instance {self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"instance {self.name} not ready after {timeout}s; see {self.log_path}")

    def _signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)  # the wrapper and the service it started
        except ProcessLookupError:
            pass

    def kill(self):
        if self.running():
            self._signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self):
        if not self.running():
            return
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(8)
        except subprocess.TimeoutExpired:
            self.kill()


class Fleet:
    """Three instances shared by the whole session (starting Node is the
    expensive part of a trial); each test sets their link latencies, and
    instances a test killed are started again before the next one."""

    NAMES = ("a", "b", "c")

    def __init__(self, hub):
        self.instances = {name: Instance(name, hub) for name in self.NAMES}

    def __getitem__(self, name):
        return self.instances[name]

    def ensure_running(self, names=None):
        pending = [self.instances[n] for n in (names or self.NAMES) if not self.instances[n].running()]
        for inst in pending:
            inst.start()
        for inst in pending:
            inst.wait_ready()

    def prepare(self, test_name):
        for inst in self.instances.values():
            inst.set_latency(0, 0)
        self.ensure_running()
        for inst in self.instances.values():
            inst.note(test_name)

    def close(self):
        for inst in self.instances.values():
            inst.stop()

    def connections_bypassing_links(self):
        """Connections to Postgres and Redis that did not come through a link:
        every backend of the trial database and every Redis client must have a
        client port that one of the links opened upstream (or belong to the
        tests themselves). A service that reaches around the proxies would make
        the query counts and stalls of the tests meaningless."""
        pg_ports, redis_ports, ours = set(), set(), set()
        for inst in self.instances.values():
            pg_ports |= inst.pg_link.upstream_ports
            redis_ports |= inst.redis_link.upstream_ports
            ours |= inst.pg_link.local_addrs | inst.redis_link.local_addrs
        # Only connections from this container can be the service's (the
        # runner's own probes come from elsewhere).
        problems = []
        for pid, addr, port in directory_data.pg_client_backends():
            if addr in ours and port not in pg_ports:
                problems.append(f"Postgres backend {pid} has client {addr}:{port}, not a test proxy")
        for addr in directory_data.redis_client_addrs():
            host, _, port = addr.rpartition(":")
            if host in ours and int(port) not in redis_ports:
                problems.append(f"Redis client {addr} did not connect through a test proxy")
        return problems

    def assert_connections_through_links(self):
        problems = self.connections_bypassing_links()
        assert not problems, "the service reached Postgres or Redis around the test's proxies:\n" + \
            "\n".join(problems[:10])


class Client:
    """A keep-alive HTTP client for one thread, one connection per instance."""

    def __init__(self, timeout=10.0):
        self.timeout = timeout
        self.conns = {}

    def _conn(self, inst):
        conn = self.conns.get(inst.port)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=self.timeout)
            self.conns[inst.port] = conn
        return conn

    def request(self, inst, method, path, body=None, retry=True):
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if payload is not None else {}
        try:
            conn = self._conn(inst)
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (http.client.HTTPException, OSError):
            self.conns.pop(inst.port, None)
            if retry and method == "GET":
                return self.request(inst, method, path, body, retry=False)
            raise
        if resp.status != 200:
            raise RuntimeError(f"{method} {path} on {inst.name}: {resp.status} {data[:200]!r}")
        return json.loads(data)

    def close(self):
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()
