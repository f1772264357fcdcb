"""Hidden tests (replace with yours). They run as root; the service runs as
the unprivileged candidate user, started only through the wrapper named by
RACEBENCH_AS_CANDIDATE, and is observed from outside: never import the
candidate's code into the test process."""

import os
import subprocess

WORKSPACE = os.environ.get("RACEBENCH_WORKSPACE", "/work/src")
# The candidate can write here, and so can the test (root).
OUT = os.environ.get("RACEBENCH_OUT", "/tmp")


def as_candidate(cmd):
    wrapper = os.environ.get("RACEBENCH_AS_CANDIDATE")
    return ([wrapper] if wrapper else []) + cmd


def count_file(name, value):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(str(value))
    os.chmod(path, 0o666)
    return path


def increment_at_once(path, n):
    procs = [subprocess.Popen(as_candidate(["python3", os.path.join(WORKSPACE, "counter.py"), path]))
             for _ in range(n)]
    codes = [p.wait(timeout=60) for p in procs]
    assert codes == [0] * n, codes


def test_concurrent_increments_are_not_lost():
    path = count_file("concurrent", 0)
    increment_at_once(path, 8)
    with open(path) as f:
        assert f.read() == "8"


def test_single_increment():
    path = count_file("single", 41)
    increment_at_once(path, 1)
    with open(path) as f:
        assert f.read() == "42"
