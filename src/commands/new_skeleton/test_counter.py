import os
import sys
import threading

sys.path.insert(0, os.environ.get("RACEBENCH_WORKSPACE", "/work/src"))

import counter  # noqa: E402


def test_concurrent_increments_are_not_lost(tmp_path):
    path = tmp_path / "count"
    path.write_text("0")
    threads = [threading.Thread(target=counter.increment, args=(str(path),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text() == "8"


def test_single_increment(tmp_path):
    path = tmp_path / "count"
    path.write_text("41")
    counter.increment(str(path))
    assert path.read_text() == "42"
