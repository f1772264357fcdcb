"""stockbot: buys every product on the drop list once, one purchase per cycle.

Thread B (the stock monitor loop) fires every cycle period, reads the state
file and, when no purchase is running, starts the next ready product's purchase
on a background thread (Thread A). A stock checker thread records stock every
check interval. Run: STOCKBOT_STATE_FILE=... STOCKBOT_BROWSER_URL=... python3 app.py
"""
import signal
import sys
import threading
import time

import config as config_mod
import timeline
from browser import BrowserSession
from purchase_manager import BulletproofPurchaseManager


class StockMonitor:
    def __init__(self, config):
        self.config = config
        self.browser = BrowserSession(config.browser_url)
        self.purchase_manager = BulletproofPurchaseManager(config, self.browser)
        self.stopping = threading.Event()
        self.cycle_id = 0

    def run(self):
        threading.Thread(target=self.stock_checker, name="stock-checker", daemon=True).start()
        print(f"[MONITOR] started: cycle {self.config.cycle_period * 1000:.0f} ms, "
              f"stuck timeout {self.config.stuck_timeout * 1000:.0f} ms", flush=True)
        next_tick = time.monotonic()
        while not self.stopping.is_set():
            try:
                self.run_cycle()
            except Exception as e:  # noqa: BLE001 - the loop must keep going
                print(f"[MONITOR] cycle error: {e!r}", flush=True)
            next_tick += self.config.cycle_period
            delay = next_tick - time.monotonic()
            if delay < 0:
                next_tick = time.monotonic()
                delay = 0
            self.stopping.wait(delay)

    def run_cycle(self):
        self.cycle_id += 1
        cycle_id = self.cycle_id
        timeline.event("monitor-loop", "CycleTimer", "timer", detail=f"cycle {cycle_id} fired")
        pm = self.purchase_manager
        states = pm.load_states()
        active = pm.find_active_purchase(states)
        if active:
            timeline.event("monitor-loop", "LoadStates", "completed", "browser", role="check",
                           detail=f"{active} attempting: skip cycle {cycle_id}")
            print(f"[CYCLE {cycle_id}] purchase of {active} still active, skipping", flush=True)
            return
        pm.reset_failed_to_ready()
        states = pm.load_states()
        ready = [t for t, p in states["products"].items()
                 if p.get("status") == "ready" and p.get("in_stock", True)]
        if not ready:
            return
        tcin = ready[0]
        timeline.event("monitor-loop", "LoadStates", "completed", "browser", role="check",
                       detail=f"no purchase active: cycle {cycle_id} starts {tcin}")
        print(f"[CYCLE {cycle_id}] starting purchase of {tcin}", flush=True)
        pm.start_purchase(tcin, cycle_id)

    def stock_checker(self):
        while not self.stopping.is_set():
            try:
                self.purchase_manager.refresh_stock()
            except Exception as e:  # noqa: BLE001
                print(f"[STOCK] check failed: {e!r}", flush=True)
            self.stopping.wait(self.config.check_interval)


def main():
    config = config_mod.load()
    timeline.configure(config.events_file)
    monitor = StockMonitor(config)
    signal.signal(signal.SIGTERM, lambda *_: monitor.stopping.set())
    monitor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
