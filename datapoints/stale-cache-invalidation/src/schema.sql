-- Schema the service expects (applied by the deploy pipeline, not by the service).
CREATE TABLE users (
    id         integer PRIMARY KEY,
    name       text        NOT NULL,
    title      text        NOT NULL,
    version    integer     NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
    id   integer PRIMARY KEY,
    name text    NOT NULL
);

CREATE TABLE team_members (
    team_id integer NOT NULL REFERENCES teams (id),
    user_id integer NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);

CREATE INDEX team_members_user_id ON team_members (user_id);
