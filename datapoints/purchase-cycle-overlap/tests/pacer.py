"""A bot-free loop on the bot's grid: ticks every period as the bot's loop
does (sleep until the next tick, a late tick starts the grid again), and on
SIGTERM prints how late each tick woke, in seconds, as one JSON list. The
paced scenario runs it beside the bot, so the pace test can tell a loop that
waits on purposes of its own from a machine that is slow for everyone."""
import json
import signal
import sys
import threading
import time

period = float(sys.argv[1])
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
late = []
next_tick = time.monotonic()
while not stop.is_set():
    next_tick += period
    delay = next_tick - time.monotonic()
    if delay < 0:
        next_tick = time.monotonic()
        delay = 0
    if stop.wait(delay):
        break
    late.append(round(time.monotonic() - next_tick, 6))
sys.stdout.write(json.dumps(late) + "\n")
sys.stdout.flush()
