"""Hidden tests: the service runs as the candidate, started through
RACEBENCH_AS_CANDIDATE; the balance is read from the database by the test."""

import os
import subprocess

import psycopg2
import pytest

WORKSPACE = os.environ.get("RACEBENCH_WORKSPACE", "/work/src")


def as_candidate(cmd):
    wrapper = os.environ.get("RACEBENCH_AS_CANDIDATE")
    return ([wrapper] if wrapper else []) + cmd


def ledger(*args):
    return subprocess.Popen(as_candidate(["python3", os.path.join(WORKSPACE, "ledger.py"), *args]))


def finish(procs, timeout=15):
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append("hung")
    return codes


def balance(account):
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT balance FROM accounts WHERE id = %s", (account,))
        (value,) = cur.fetchone()
    conn.close()
    return value


@pytest.fixture(scope="session", autouse=True)
def schema():
    assert finish([ledger("migrate")], timeout=30) == [0]


def open_account(account, value):
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO accounts VALUES (%s, %s)", (account, value))
    conn.close()


def test_concurrent_deposits_are_all_kept():
    open_account("shared", 0)
    codes = finish([ledger("deposit", "shared", "5") for _ in range(6)])
    assert codes == [0] * 6, codes
    assert balance("shared") == 30


def test_one_deposit():
    open_account("single", 10)
    assert finish([ledger("deposit", "single", "7")]) == [0]
    assert balance("single") == 17
