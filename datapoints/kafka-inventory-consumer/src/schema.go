package main

import (
	"context"
	"database/sql"
)

const schema = `
CREATE TABLE IF NOT EXISTS products (
    sku        TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    stock      INTEGER NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS processed_events (
    event_id     TEXT NOT NULL,
    status       TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset BIGINT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS processed_events_event_id_idx ON processed_events (event_id);

CREATE TABLE IF NOT EXISTS stock_movements (
    id           BIGSERIAL PRIMARY KEY,
    event_id     TEXT NOT NULL,
    sku          TEXT NOT NULL,
    delta        INTEGER NOT NULL,
    stock_before INTEGER NOT NULL,
    stock_after  INTEGER NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS stock_movements_sku_idx ON stock_movements (sku);
`

// migrate creates the tables. Replicas starting together take turns.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(4711)`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return err
	}
	return tx.Commit()
}
