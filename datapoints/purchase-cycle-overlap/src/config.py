"""Configuration from the environment. Times are milliseconds."""
import os
from dataclasses import dataclass


@dataclass
class Config:
    state_file: str
    browser_url: str
    cycle_period: float        # seconds between purchase cycles
    stuck_timeout: float       # a purchase running longer than this is stuck
    check_interval: float      # seconds between stock checks
    events_file: str


def _ms(name, default):
    return float(os.environ.get(name, default)) / 1000.0


def load():
    return Config(
        state_file=os.environ["STOCKBOT_STATE_FILE"],
        browser_url=os.environ["STOCKBOT_BROWSER_URL"],
        cycle_period=_ms("STOCKBOT_CYCLE_MS", 30000),
        stuck_timeout=_ms("STOCKBOT_STUCK_TIMEOUT_MS", 60000),
        check_interval=_ms("STOCKBOT_CHECK_INTERVAL_MS", 5000),
        events_file=os.environ.get("STOCKBOT_EVENTS_FILE", ""),
    )
