"""The dashboard: polls the state file as fast as it can, as another user
would, and prints (JSON lines on stdout) every distinct version it parsed and
every read that was not a whole JSON document. Runs until SIGTERM."""
import hashlib
import json
import signal
import sys
import time

path = sys.argv[1]
stop = False


def _stop(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, _stop)
out = sys.stdout
last = None
reads = torn = 0
while not stop:
    t = time.monotonic()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raw, err = None, f"{type(e).__name__}: {e}"
    reads += 1
    if raw is not None:
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        if digest == last:
            time.sleep(0.0003)
            continue
        try:
            doc = json.loads(raw)
            products = doc["products"]
            version = {tcin: [p.get("status"), p.get("attempts"), p.get("order_id"),
                              p.get("stock_checks")] for tcin, p in products.items()}
            last = digest
            out.write(json.dumps({"t": t, "ok": True, "v": version}) + "\n")
            time.sleep(0.0003)
            continue
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            err = f"{type(e).__name__}: {e} ({len(raw)} bytes)"
            last = None
    torn += 1
    if torn <= 20:
        out.write(json.dumps({"t": t, "ok": False, "err": err[:300]}) + "\n")
    time.sleep(0.0003)
out.write(json.dumps({"summary": True, "reads": reads, "torn": torn}) + "\n")
out.flush()
