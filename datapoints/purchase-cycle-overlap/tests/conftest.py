"""Test-owned harness: the simulated browser gateway (in this pytest process,
as root, out of the service's reach), the dashboard reader (a root process),
and the bot, started as the candidate user through RACEBENCH_AS_CANDIDATE.

Judgement comes only from what the browser gateway and the reader recorded.
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUT = os.environ.get("RACEBENCH_OUT", "/racebench/out")
WORKSPACE = os.environ.get("RACEBENCH_WORKSPACE", "/work/src")
HERE = os.path.dirname(os.path.abspath(__file__))
CANDIDATE_UID = 1500

# Page and cart steps (seconds); the checkout's duration comes from the plan.
NAV = 0.005
CLEAR = 0.030
FAST_CHECKOUT = 0.015
ABORT_UNWIND = 0.150     # an aborted navigation stays in flight this long
STUCK_HOLD = 2.5         # a stuck checkout not aborted completes after this
LAND_BEFORE_TICK = 0.020 # a boundary checkout returns this long before a tick


def candidate_cmd(cmd):
    wrapper = os.environ.get("RACEBENCH_AS_CANDIDATE")
    return ([wrapper] if wrapper else []) + cmd


def _become_subreaper():
    """Orphans of a killed service (a forking wrapper) are reparented here and
    reaped, so a dead bot never lingers as a zombie that looks alive."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


_become_subreaper()


def reap_orphans():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def now():
    return time.monotonic()


class Nav:
    def __init__(self, kind, pid, start, detail=""):
        self.kind, self.pid, self.start, self.detail = kind, pid, start, detail
        self.end = None
        self.outcome = None       # "ok", "aborted", "interrupted", "dropped", "error"
        self.abort_evt = threading.Event()


class BrowserSim:
    """One browser tab and the store behind it. Records every navigation;
    answers a navigation that arrives while another is in flight with 409
    "interrupted" (and records the collision)."""

    def __init__(self, name, period, plan, events_path=None):
        self.name, self.period, self.plan = name, period, list(plan)
        self.events_path = events_path
        self.lock = threading.Lock()
        self.inflight = None
        self.cart = []
        self.orders = []          # {"order_id", "items", "pid", "t"}
        self.navs = []
        self.collisions = []      # {"t", "kind", "pid", "busy", "busy_pid"}
        self.cycle_starts = []    # {"t", "pid", "tcin", "cart", "accepted"}
        self.aborts = []          # {"t", "pid", "target"}
        self.checkouts = []       # {"index", "spec", "nav"}
        self.grid = {}            # pid -> arrival of its last accepted product page
        self.hold_release = threading.Event()
        self.hold_outcome = "complete"
        self.hold_started = threading.Event()
        self.hold_nav = None
        self.created = now()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # --- events for the timeline (same monotonic clock as the service) -------

    def _event(self, activity, kind, detail="", role="act"):
        if not self.events_path:
            return
        rec = {"at_us": time.monotonic_ns() // 1000, "flow": "browser", "activity": activity,
               "kind": kind, "subject": "browser", "role": role, "detail": detail}
        fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, (json.dumps(rec) + "\n").encode())
        finally:
            os.close(fd)

    # --- the gateway ---------------------------------------------------------

    def _handler(self):
        sim = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(n) or b"{}")
                except ValueError:
                    body = {}
                try:
                    pid = int(self.headers.get("X-Stockbot-Pid") or 0)
                except ValueError:
                    pid = 0
                code, reply = sim.handle(self.path, body, pid)
                data = json.dumps(reply).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the bot died

        return H

    def handle(self, path, body, pid):
        if path == "/abort":
            with self.lock:
                nav = self.inflight
                target = None
                if nav is not None and not nav.abort_evt.is_set():
                    nav.abort_evt.set()
                    target = nav.kind
                self.aborts.append({"t": now(), "pid": pid, "target": target, "nav": nav})
            self._event("Abort", "note", f"abort from pid {pid}: {target}", role=None)
            return 200, {"aborted": target}
        kinds = {"/goto": "goto", "/add_to_cart": "add_to_cart", "/checkout": "checkout",
                 "/clear_cart": "clear_cart", "/orders": "orders"}
        kind = kinds.get(path)
        if kind is None:
            return 404, {"error": "unknown"}
        detail = body.get("page") or body.get("tcin") or ""
        label = f"{kind} {detail}".strip()
        with self.lock:
            t = now()
            nav = Nav(kind, pid, t, str(detail))
            self.navs.append(nav)
            is_cycle = kind == "goto" and str(detail).startswith("product/")
            busy = self.inflight
            if is_cycle:
                self.cycle_starts.append({"t": t, "pid": pid, "tcin": str(detail)[8:],
                                          "cart": list(self.cart), "accepted": busy is None})
            if busy is not None:
                nav.end, nav.outcome = t, "interrupted"
                self.collisions.append({"t": t, "kind": label, "pid": pid,
                                        "busy": f"{busy.kind} {busy.detail}".strip(),
                                        "busy_pid": busy.pid})
            else:
                self.inflight = nav
                if is_cycle:
                    self.grid[pid] = t
                spec, duration = None, NAV
                if kind == "clear_cart":
                    duration = CLEAR
                elif kind == "checkout":
                    index = len(self.checkouts)
                    spec = self.plan[index] if index < len(self.plan) else "fast"
                    duration = self._checkout_duration(spec, pid, t)
                    self.checkouts.append({"index": index, "spec": spec, "nav": nav,
                                           "cart": list(self.cart)})
        if nav.outcome == "interrupted":
            self._event(label, "failed", f"navigation interrupted: {busy.kind} in flight "
                        f"(pid {busy.pid})")
            return 409, {"error": "interrupted"}
        self._event(label, "started", f"pid {pid}" + (f", {spec}" if spec else ""))
        if spec == "hold":
            self.hold_nav = nav
            self.hold_started.set()
            while not (nav.abort_evt.is_set() or self.hold_release.is_set()):
                nav.abort_evt.wait(0.005)
            aborted = nav.abort_evt.is_set()
        else:
            aborted = nav.abort_evt.wait(duration)
        if aborted:
            time.sleep(ABORT_UNWIND)
            with self.lock:
                nav.end, nav.outcome = now(), "aborted"
                self.inflight = None
            self._event(label, "failed", "aborted")
            return 409, {"error": "aborted"}
        with self.lock:
            code, reply = 200, {"ok": True}
            if kind == "add_to_cart":
                self.cart.append(str(detail))
            elif kind == "clear_cart":
                self.cart = []
            elif kind == "orders":
                reply = {"orders": [{"order_id": o["order_id"], "items": list(o["items"])}
                                    for o in self.orders]}
            elif kind == "checkout":
                if spec == "hold" and self.hold_outcome == "drop":
                    code, reply = 502, {"error": "session closed"}
                elif not self.cart:
                    code, reply = 409, {"error": "empty_cart"}
                else:
                    order = {"order_id": f"ORD-{len(self.orders) + 1:04d}",
                             "items": list(self.cart), "pid": pid, "t": now()}
                    self.orders.append(order)
                    reply = {"order_id": order["order_id"], "items": list(order["items"])}
            nav.end = now()
            nav.outcome = "ok" if code == 200 else ("dropped" if code == 502 else "error")
            self.inflight = None
        self._event(label, "completed" if code == 200 else "failed", json.dumps(reply)[:120])
        return code, reply

    def _checkout_duration(self, spec, pid, t):
        """Durations around the cycle boundary: "tick" returns just before the
        next tick of the loop that started this purchase (its product-page
        arrivals are its grid), "over" one period later, "other" just before
        the next tick of another bot process."""
        if spec == "fast":
            return FAST_CHECKOUT
        if spec == "stuck":
            return STUCK_HOLD
        if spec == "hold":
            return None
        base = self.grid.get(pid, t)
        if spec == "other":
            others = [g for p, g in self.grid.items() if p != pid]
            if others:
                base = max(others)
        target = base + self.period - LAND_BEFORE_TICK
        while target < t + FAST_CHECKOUT:
            target += self.period
        if spec == "over":
            target += self.period
        return target - t

    def release_hold(self, outcome, at=None):
        """Lets the held checkout finish ("complete": the order is placed, the
        cart keeps its items; "drop": no order), at monotonic time `at`."""
        self.hold_outcome = outcome
        if at is not None:
            time.sleep(max(0.0, at - now()))
        self.hold_release.set()

    # --- what happened ---------------------------------------------------------

    def snapshot(self):
        with self.lock:
            return {
                "orders": [dict(o) for o in self.orders],
                "collisions": list(self.collisions),
                "cycle_starts": list(self.cycle_starts),
                "aborts": list(self.aborts),
                "checkouts": list(self.checkouts),
                "navs": list(self.navs),
                "cart": list(self.cart),
            }

    def orders_of(self, tcin):
        with self.lock:
            return [o for o in self.orders if tcin in o["items"]]

    def items_bought(self):
        with self.lock:
            counts = {}
            for o in self.orders:
                for t in o["items"]:
                    counts[t] = counts.get(t, 0) + 1
            return counts

    def idle(self):
        with self.lock:
            return self.inflight is None

    def quiet_for(self, seconds):
        """Nothing in flight and no navigation started or ended for `seconds`
        (a bot that stalled: no need to wait for the cap)."""
        with self.lock:
            if self.inflight is not None:
                return False
            last = max([n.end or n.start for n in self.navs[-3:]] or [self.created])
            return now() - last >= seconds


def make_state_dir():
    d = tempfile.mkdtemp(prefix="stockbot-")
    os.chmod(d, 0o777)
    if os.environ.get("RACEBENCH_AS_CANDIDATE"):
        try:
            os.chown(d, CANDIDATE_UID, CANDIDATE_UID)
        except OSError:
            pass
    return d


def write_initial_state(path, tcins):
    products = {}
    for n, tcin in enumerate(tcins):
        products[tcin] = {
            "name": f"Limited drop item {n + 1}",
            "description": ("Collector's edition, one per customer. " * 8).strip(),
            "status": "ready", "attempts": 0, "order_id": None, "last_error": None,
            "in_stock": True, "stock_checks": 0, "last_checked": None, "history": [],
        }
    with open(path, "w") as f:
        json.dump({"cycle": 0, "products": products}, f, indent=2)
    os.chmod(path, 0o666)
    if os.environ.get("RACEBENCH_AS_CANDIDATE"):
        try:
            os.chown(path, CANDIDATE_UID, CANDIDATE_UID)
        except OSError:
            pass


def read_state(path):
    with open(path) as f:
        return json.load(f)


class Reader:
    """The dashboard, a root process polling the state file."""

    def __init__(self, path, name):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "reader.py"), path],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.name = name
        self.lines = []
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        for line in self.proc.stdout:
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=5)
        versions = [rec for rec in self.lines if rec.get("ok")]
        torn = [rec for rec in self.lines if rec.get("ok") is False]
        summary = next((rec for rec in self.lines if rec.get("summary")), {})
        return {"versions": versions, "torn": torn, "torn_count": summary.get("torn", len(torn)),
                "reads": summary.get("reads", 0), "alive_to_end": bool(summary)}


class Pacer:
    """The bot-free loop of pacer.py on the bot's period, a root process: how
    late a loop's ticks wake on this machine while the scenario runs."""

    def __init__(self, period):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "pacer.py"), str(period)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def stop(self):
        """The median lateness of its ticks, in seconds (0 with no tick)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        try:
            late = sorted(json.loads(out))
        except ValueError:
            late = []
        return late[len(late) // 2] if late else 0.0


class Bot:
    """One stockbot process, as the candidate user, in its own process group."""

    def __init__(self, name, state_path, sim, period_ms, stuck_ms, check_ms, events_path=None):
        self.name, self.state_path, self.sim = name, state_path, sim
        self.period_ms, self.stuck_ms, self.check_ms = period_ms, stuck_ms, check_ms
        self.events_path = events_path or os.path.join(OUT, f"events-{name}.jsonl")
        self.log_path = os.path.join(OUT, f"stockbot-{name}.log")
        self.proc = None
        self.started_at = None

    def start(self):
        env = dict(os.environ,
                   STOCKBOT_STATE_FILE=self.state_path,
                   STOCKBOT_BROWSER_URL=self.sim.url,
                   STOCKBOT_CYCLE_MS=str(self.period_ms),
                   STOCKBOT_STUCK_TIMEOUT_MS=str(self.stuck_ms),
                   STOCKBOT_CHECK_INTERVAL_MS=str(self.check_ms),
                   STOCKBOT_EVENTS_FILE=self.events_path,
                   PYTHONUNBUFFERED="1")
        _touch_shared(self.events_path)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(candidate_cmd(["python3", os.path.join(WORKSPACE, "app.py")]),
                                     cwd=WORKSPACE, env=env, stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.started_at = now()
        return self

    def _signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except OSError:
            try:
                self.proc.send_signal(sig)
            except OSError:
                pass

    def kill(self):
        """SIGKILL, mid-whatever, and wait until it is gone."""
        if self.proc is None:
            return
        self._signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        reap_orphans()

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def _touch_shared(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    os.close(fd)
    try:
        os.chmod(path, 0o666)
    except OSError:
        pass


def wait_until(pred, timeout, interval=0.01):
    deadline = now() + timeout
    while now() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()
