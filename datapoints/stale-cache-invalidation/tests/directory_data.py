"""Schema and seed data of the directory, written straight to the trial's stores."""

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


def reset():
    """Recreates the schema with the seed data and empties the trial's Redis database."""
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute(SCHEMA)
            cur.executemany("INSERT INTO users (id, name, title) VALUES (%s, %s, %s)",
                            [(u, f"User {u}", "Engineer") for u in USERS])
            cur.executemany("INSERT INTO teams (id, name) VALUES (%s, %s)",
                            [(t, f"Team {t}") for t in TEAMS])
            cur.executemany("INSERT INTO team_members (team_id, user_id) VALUES (%s, %s)", memberships())
    finally:
        conn.close()
    redis_client().flushdb()


def redis_client():
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def db_versions():
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, version FROM users")
            return dict(cur.fetchall())
    finally:
        conn.close()
