#!/usr/bin/env python3
"""racebench timeline: the service's events file as a T+ms timeline.

usage: timeline [--format text|json] [--flow NAME]... [--file PATH]

Reads $RACEBENCH_EVENTS (the datapoint's `events` file, written by the
service while you run it; a reproducer fills it), one JSON object per line:
at_us, flow, activity, kind, subject, role, detail. T+0 is the first event
shown. --flow keeps the flows whose name contains NAME (repeatable).
"""
import json
import os
import sys


def main(argv):
    fmt, flows, path = "text", [], os.environ.get("RACEBENCH_EVENTS", "")
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        if a == "--format" and args:
            fmt = args.pop(0)
        elif a.startswith("--format="):
            fmt = a.split("=", 1)[1]
        elif a == "--flow" and args:
            flows.append(args.pop(0))
        elif a.startswith("--flow="):
            flows.append(a.split("=", 1)[1])
        elif a == "--file" and args:
            path = args.pop(0)
        else:
            print(f"timeline: unknown argument {a!r} (see --help)", file=sys.stderr)
            return 2
    if fmt not in ("text", "json"):
        print("timeline: --format is text or json", file=sys.stderr)
        return 2
    if not path:
        print("timeline: this datapoint records no events file", file=sys.stderr)
        return 1
    if not os.path.exists(path):
        print(f"timeline: no events yet in {path}; run the service (or the reproducer) first",
              file=sys.stderr)
        return 1
    events, bad = [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                e = json.loads(line)
                int(e["at_us"]), e["flow"], e["activity"], e["kind"]
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            if flows and not any(n in e["flow"] for n in flows):
                continue
            events.append(e)
    events.sort(key=lambda e: int(e["at_us"]))
    t0 = int(events[0]["at_us"]) if events else 0
    if fmt == "json":
        out = []
        for e in events:
            row = {"t_ms": round((int(e["at_us"]) - t0) / 1000, 3)}
            row.update({k: e[k] for k in ("flow", "activity", "kind", "subject", "role", "detail") if k in e})
            out.append(row)
        json.dump({"events": out, "skipped_lines": bad}, sys.stdout, indent=2)
        print()
        return 0
    width = max((len(e["flow"]) for e in events), default=4)
    for e in events:
        t = (int(e["at_us"]) - t0) / 1000
        what = e["activity"] + (f" ({e['subject']})" if e.get("subject") else "")
        stamp = f"T+{t:.1f}ms"
        line = f"{stamp:<12} {e['flow']:<{width}}  {what} {e['kind']}"
        if e.get("detail"):
            line += f": {e['detail']}"
        if e.get("role") == "check" and e["kind"] == "completed":
            line += "   <- check passed"
        if e.get("role") == "act" and e["kind"] == "failed":
            line += "   <- act failed"
        print(line)
    if bad:
        print(f"({bad} line(s) were not events and were skipped)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
