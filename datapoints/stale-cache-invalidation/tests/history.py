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


def _newest_by_time(entries):
    """entries: (complete_ns, version, op index); returns the sorted times and,
    for each, the newest (version, op index) completed up to then."""
    entries.sort()
    times, best, top = [], [], (-1, None)
    for t, version, index in entries:
        if version > top[0]:
            top = (version, index)
        times.append(t)
        best.append(top)
    return times, best


def _newest_before(table, user, t):
    if user not in table:
        return (-1, None)
    times, best = table[user]
    i = bisect.bisect_left(times, t)
    return best[i - 1] if i else (-1, None)


def find_stale_reads(ops):
    """Returns one dict per (read, user) that observed an already superseded version."""
    done = [op for op in ops if op["ok"]]
    everything, updates = {}, {}
    for op in done:
        for user, version in op["observed"].items():
            entry = (op["complete_ns"], version, op["index"])
            everything.setdefault(user, []).append(entry)
            if op["kind"] == "update":
                updates.setdefault(user, []).append(entry)
    everything = {u: _newest_by_time(e) for u, e in everything.items()}
    updates = {u: _newest_by_time(e) for u, e in updates.items()}

    by_index = {op["index"]: op for op in ops}
    stale = []
    for op in done:
        if op["kind"] == "update":
            continue
        for user, version in op["observed"].items():
            newest, by = _newest_before(everything, user, op["invoke_ns"])
            if newest <= version:
                continue
            why = "after-read"
            updated, update_op = _newest_before(updates, user, op["invoke_ns"])
            if updated > version:
                why, newest, by = "after-update", updated, update_op
            source = by_index[by]
            stale.append({
                "read": op["index"], "kind": op["kind"], "instance": op["instance"],
                "target": op["target"], "user": user, "returned": version, "newest": newest,
                "why": why, "established_by": by, "established_by_kind": source["kind"],
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


def append_events(path, ops, stale, limit=3, before_us=100_000):
    """Appends timeline events (docs/datapoint-format.md) for the first stale
    reads: every operation on the affected user from shortly before the
    version was established until the stale read completed."""
    by_index = {op["index"]: op for op in ops}
    with open(path, "a") as f:
        for s in stale[:limit]:
            read, source = by_index[s["read"]], by_index[s["established_by"]]
            start = source["invoke_ns"] - before_us * 1000
            end = read["complete_ns"]
            flow = f"user-{s['user']}-v{s['newest']}"
            for op in ops:
                if s["user"] not in op["observed"] and op["target"] != f"user:{s['user']}":
                    continue
                if op["invoke_ns"] < start or op["invoke_ns"] > end:
                    continue
                activity = {"update": "PATCH", "read-profile": "GET profile", "read-team": "GET team page"}[op["kind"]]
                activity = f"{activity} {op['target']} on {op['instance']}"
                f.write(json.dumps({"at_us": op["invoke_ns"] // 1000, "flow": flow, "activity": activity,
                                    "kind": "started", "subject": f"user {s['user']}"}) + "\n")
                if op["complete_ns"] is None:
                    continue
                seen = op["observed"].get(s["user"])
                if op["index"] == s["read"]:
                    kind, detail = "failed", f"stale: returned v{seen} after v{s['newest']} was established"
                elif not op["ok"]:
                    kind, detail = "failed", op.get("error", "failed")
                else:
                    kind, detail = "completed", f"v{seen}"
                f.write(json.dumps({"at_us": op["complete_ns"] // 1000, "flow": flow, "activity": activity,
                                    "kind": kind, "subject": f"user {s['user']}", "detail": detail}) + "\n")
