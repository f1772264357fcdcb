"""A ledger: `python3 ledger.py migrate`, `python3 ledger.py deposit ACCOUNT AMOUNT`."""

import os
import sys
import time

import psycopg2


def connect():
    return psycopg2.connect(os.environ["DATABASE_URL"])


def migrate():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.sql")) as f:
        schema = f.read()
    conn = connect()
    with conn, conn.cursor() as cur:
        cur.execute(schema)
    conn.close()


def deposit(account, amount):
    conn = connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT balance FROM accounts WHERE id = %s", (account,))
        (balance,) = cur.fetchone()
        time.sleep(0.2)  # fraud checks
        cur.execute("UPDATE accounts SET balance = %s WHERE id = %s", (balance + amount, account))
    conn.close()


if __name__ == "__main__":
    if sys.argv[1] == "migrate":
        migrate()
    elif sys.argv[1] == "deposit":
        deposit(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
