CREATE TABLE IF NOT EXISTS accounts (
    id text PRIMARY KEY,
    balance bigint NOT NULL
);
