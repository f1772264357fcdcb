"""A history of timed operations on the directory, and a staleness checker.

Every operation is recorded with its invocation and completion time
(time.monotonic_ns of this process, taken just before the request is sent and
just after the response is read, so the recorded interval contains the real
one) and the version of every profile it observed: a profile read observes one
user, a team page observes each member, an update observes the version it
created.

A read is stale when it returns, for some user, a version older than one that
was already established before the read was invoked:
  * "after-update": an update to a newer version had completed, or
  * "after-read": another read had already returned a newer version (the new
    version was visible, so the update had taken effect).
The second clause is what makes the history linearizable rather than merely
"eventually consistent": once any client has seen version N, no later read may
go back to N-1. Widening the recorded intervals can only hide violations, never
invent them.
"""

import bisect
import json
import threading
import time


class History:
    def __init__(self):
        self.ops = []
        self._lock = threading.Lock()

    def invoke(self, kind, instance, target, thread):
        op = {"kind": kind, "instance": instance, "target": target, "thread": thread,
              "invoke_ns": time.monotonic_ns(), "complete_ns": None, "ok": None, "observed": {}}
        with self._lock:
            op["index"] = len(self.ops)
            self.ops.append(op)
        return op

    @staticmethod
    def complete(op, observed):
        op["complete_ns"] = time.monotonic_ns()
        op["observed"] = {int(k): int(v) for k, v in observed.items()}
        op["ok"] = True

    @staticmethod
    def fail(op, error):
        op["complete_ns"] = time.monotonic_ns()
        op["ok"] = False
        op["error"] = str(error)[:200]

    def write(self, path):
        with self._lock:
            ops = list(self.ops)
        t0 = min((op["invoke_ns"] for op in ops), default=0)
        with open(path, "w") as f:
            for op in ops:
                rec = dict(op)
                rec["invoke_us"] = (op["invoke_ns"] - t0) // 1000
                rec["complete_us"] = None if op["complete_ns"] is None else (op["complete_ns"] - t0) // 1000
                del rec["invoke_ns"], rec["complete_ns"]
                f.write(json.dumps(rec, sort_keys=True) + "\n")


def find_stale_reads(ops):
    """Returns one dict per (read, user) that observed an already superseded version."""
    done = [op for op in ops if op["ok"]]
    # Per user: completion times in order, and the newest version (with the op
    # that established it) among all operations completed by then.
    established = {}
    for op in done:
        for user, version in op["observed"].items():
            established.setdefault(user, []).append((op["complete_ns"], version, op["index"]))
    prefix = {}
    for user, entries in established.items():
        entries.sort()
        times, best = [], []
        top = (-1, None)
        for t, version, index in entries:
            if version > top[0]:
                top = (version, index)
            times.append(t)
            best.append(top)
        prefix[user] = (times, best)

    by_index = {op["index"]: op for op in ops}
    stale = []
    for op in done:
        if op["kind"] == "update":
            continue
        for user, version in op["observed"].items():
            times, best = prefix[user]
            i = bisect.bisect_left(times, op["invoke_ns"])
            if i == 0:
                continue
            newest, by = best[i - 1]
            if newest > version:
                source = by_index[by]
                stale.append({
                    "read": op["index"], "kind": op["kind"], "instance": op["instance"],
                    "target": op["target"], "user": user, "returned": version, "newest": newest,
                    "why": "after-update" if source["kind"] == "update" else "after-read",
                    "established_by": by, "established_by_kind": source["kind"],
                    "established_on": source["instance"],
                    "gap_us": (op["invoke_ns"] - source["complete_ns"]) // 1000,
                })
    return stale


def describe(stale, limit=5):
    lines = [f"{len(stale)} stale read(s); first {min(limit, len(stale))}:"]
    for s in stale[:limit]:
        lines.append(
            f"  op#{s['read']} {s['kind']} {s['target']} on {s['instance']} returned user {s['user']} "
            f"v{s['returned']}, but v{s['newest']} was established by op#{s['established_by']} "
            f"({s['established_by_kind']} on {s['established_on']}) {s['gap_us']}us before it was invoked "
            f"[{s['why']}]")
    return "\n".join(lines)
