"""Schema and seed data of the directory, written straight to the trial's stores.

Seed versions start just below a power of ten (9 or 99), so the first update
of every user takes its version past one: a fix that compares versions as
text ("10" < "9") is caught by the first update it makes."""

import os
import urllib.parse

import psycopg2
import redis

TEAMS = list(range(1, 7))
USERS = list(range(1, 25))


def memberships():
    """(team, user) pairs: every user is in one team, every fourth user in two."""
    pairs = set()
    for user in USERS:
        home = (user - 1) % len(TEAMS) + 1
        pairs.add((home, user))
        if user % 4 == 0:
            pairs.add(((user + 2) % len(TEAMS) + 1, user))
    return sorted(pairs)


def teams_of(user):
    return [t for t, u in memberships() if u == user]


def members_of(team):
    return [u for t, u in memberships() if t == team]


SCHEMA = """
DROP TABLE IF EXISTS team_members, teams, users;
CREATE TABLE users (
    id         integer PRIMARY KEY,
    name       text        NOT NULL,
    title      text        NOT NULL,
    version    integer     NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE teams (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE team_members (
    team_id integer NOT NULL REFERENCES teams (id),
    user_id integer NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_id ON team_members (user_id);
"""


def seed_version(user):
    return 9 if user % 2 else 99


_own_pg_ports = set()
_redis = None


def connect():
    """A psycopg2 connection of the tests; its client port is remembered so
    that the proxy check does not mistake it for the service's."""
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    with conn.cursor() as cur:
        cur.execute("SELECT inet_client_port()")
        _own_pg_ports.add(cur.fetchone()[0])
    conn.commit()
    return conn


def reset():
    """Recreates the schema with the seed data and empties the trial's Redis database."""
    conn = connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(SCHEMA)
            cur.executemany("INSERT INTO users (id, name, title, version) VALUES (%s, %s, %s, %s)",
                            [(u, f"User {u}", "Engineer", seed_version(u)) for u in USERS])
            cur.executemany("INSERT INTO teams (id, name) VALUES (%s, %s)",
                            [(t, f"Team {t}") for t in TEAMS])
            cur.executemany("INSERT INTO team_members (team_id, user_id) VALUES (%s, %s)", memberships())
    finally:
        conn.close()
    redis_client().flushdb()


def redis_client():
    """The tests' one Redis client (one connection: the tests use it from one thread)."""
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ["REDIS_URL"], max_connections=1)
    return _redis


def pg_client_backends():
    """(pid, address, port) of every client backend of the trial database
    but the tests' own connections."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT pid, host(client_addr), client_port FROM pg_stat_activity
                            WHERE datname = current_database() AND backend_type = 'client backend'
                              AND pid <> pg_backend_pid()""")
            return [(pid, addr, port) for pid, addr, port in cur.fetchall() if port not in _own_pg_ports]
    finally:
        conn.close()


def redis_client_addrs():
    """ip:port of every Redis client but the tests' own connection."""
    r = redis_client()
    own = r.client_id()
    return [c["addr"] for c in r.client_list() if int(c["id"]) != own]


def db_versions():
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, version FROM users")
            return dict(cur.fetchall())
    finally:
        conn.close()


def backends_waiting_on(holder_pid):
    """Backends of the trial database blocked by holder_pid, directly or behind another waiter."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            blocked_by = {pid: set(pids) for pid, pids in cur.fetchall() if pids}
    finally:
        conn.close()
    waiting, frontier = set(), {holder_pid}
    while frontier:
        frontier = {pid for pid, by in blocked_by.items() if by & frontier and pid not in waiting}
        waiting |= frontier
    return waiting
