"""A stand-in for the remote browser gateway, for the visible tools
(`reproduce`, `smoke`). Not the gateway the hidden tests run.

One tab: a navigation that arrives while another is in flight is answered 409
{"error": "interrupted"} and counted as a collision. The cart lives on the
store's side; checkout places an order for what is in the cart and does not
empty it; clear_cart does. Every product-page arrival is recorded with the
cart's contents at that moment.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Store:
    def __init__(self, page_ms=5, checkout_ms=15, clear_ms=30):
        self.page_s = page_ms / 1000.0
        self.checkout_s = checkout_ms / 1000.0
        self.clear_s = clear_ms / 1000.0
        self.lock = threading.Lock()
        self.in_flight = None
        self.cart = []
        self.orders = []
        self.collisions = []      # (what arrived, what was in flight)
        self.arrivals = []        # (t, tcin, cart contents on arrival)
        self.aborts = 0
        self._abort = threading.Event()
        self.t0 = time.monotonic()

    def navigate(self, what, seconds, action):
        with self.lock:
            if self.in_flight is not None:
                self.collisions.append((what, self.in_flight, time.monotonic() - self.t0))
                return 409, {"error": "interrupted"}
            self.in_flight = what
            self._abort.clear()
        try:
            if self._abort.wait(seconds):
                return 409, {"error": "aborted"}
            with self.lock:
                return 200, action()
        finally:
            with self.lock:
                self.in_flight = None

    def handle(self, path, body):
        if path == "/abort":
            with self.lock:
                what = self.in_flight
                if what is not None:
                    self.aborts += 1
                    self._abort.set()
            return 200, {"aborted": what}
        if path == "/goto":
            page = str(body.get("page", ""))

            def arrive():
                if page.startswith("product/"):
                    self.arrivals.append((time.monotonic() - self.t0, page[8:], list(self.cart)))
                return {"page": page}
            return self.navigate(f"goto {page}", self.page_s, arrive)
        if path == "/add_to_cart":
            tcin = str(body.get("tcin", ""))

            def add():
                self.cart.append(tcin)
                return {"cart": list(self.cart)}
            return self.navigate(f"add_to_cart {tcin}", self.page_s, add)
        if path == "/checkout":
            def place():
                order = {"order_id": f"ORD-{len(self.orders) + 1:04d}", "items": list(self.cart)}
                self.orders.append(order)
                return order
            return self.navigate("checkout", self.checkout_s, place)
        if path == "/clear_cart":
            def clear():
                self.cart.clear()
                return {"cart": []}
            return self.navigate("clear_cart", self.clear_s, clear)
        if path == "/orders":
            return self.navigate("orders", self.page_s, lambda: {"orders": [dict(o) for o in self.orders]})
        return 404, {"error": "unknown"}


def serve(store):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            code, reply = store.handle(self.path, body)
            data = json.dumps(reply).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"
