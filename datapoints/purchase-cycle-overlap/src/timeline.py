"""Timeline events (JSON lines) for `racebench timeline`; off when no file is set."""
import json
import os
import threading
import time

_lock = threading.Lock()
_path = None


def configure(path):
    global _path
    _path = path or None


def event(flow, activity, kind, subject="", role=None, detail=""):
    if not _path:
        return
    rec = {"at_us": time.monotonic_ns() // 1000, "flow": flow, "activity": activity,
           "kind": kind, "subject": subject, "detail": detail}
    if role:
        rec["role"] = role
    line = (json.dumps(rec) + "\n").encode()
    with _lock:
        try:
            fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError:
            pass
