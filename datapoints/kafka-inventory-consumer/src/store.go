package main

import (
	"context"
	"database/sql"
	"sync"
)

// Outcome is what happened to one event.
type Outcome int

const (
	Applied Outcome = iota
	Rejected
	Duplicate
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Rejected:
		return "rejected"
	default:
		return "duplicate"
	}
}

// Store applies inventory events to Postgres.
type Store struct {
	db        *sql.DB
	warehouse Warehouse

	mu sync.Mutex // one stock write at a time
}

func NewStore(db *sql.DB, warehouse Warehouse) *Store {
	return &Store{db: db, warehouse: warehouse}
}

// Apply applies every line of the event, or rejects the event when a line
// would take a product below zero or names an unknown product.
func (s *Store) Apply(ctx context.Context, ev Event) (Outcome, error) {
	seen, err := s.alreadyProcessed(ctx, ev.EventID)
	if err != nil {
		return 0, err
	}
	if seen {
		return Duplicate, nil
	}
	for _, line := range ev.Lines {
		ok, err := s.applyLine(ctx, ev, line)
		if err != nil {
			return 0, err
		}
		if !ok {
			return Rejected, s.markProcessed(ctx, ev, Rejected)
		}
	}
	return Applied, s.markProcessed(ctx, ev, Applied)
}

func (s *Store) alreadyProcessed(ctx context.Context, eventID string) (bool, error) {
	var seen bool
	err := s.db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM processed_events WHERE event_id = $1)`, eventID).Scan(&seen)
	return seen, err
}

func (s *Store) markProcessed(ctx context.Context, ev Event, outcome Outcome) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO processed_events (event_id, status, kafka_partition, kafka_offset) VALUES ($1, $2, $3, $4)`,
		ev.EventID, outcome.String(), ev.Partition, ev.Offset)
	return err
}

// applyLine reports false when the line cannot be applied.
func (s *Store) applyLine(ctx context.Context, ev Event, line Line) (bool, error) {
	available, found, err := s.stockOf(ctx, line.SKU)
	if err != nil {
		return false, err
	}
	if !found || available+line.Delta < 0 {
		return false, nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()

	var before int
	if err := tx.QueryRowContext(ctx,
		`SELECT stock FROM products WHERE sku = $1`, line.SKU).Scan(&before); err != nil {
		return false, err
	}
	after := before + line.Delta
	if err := s.warehouse.PublishLevel(ctx, line.SKU, after); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE products SET stock = $2, updated_at = now() WHERE sku = $1`, line.SKU, after); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO stock_movements (event_id, sku, delta, stock_before, stock_after) VALUES ($1, $2, $3, $4, $5)`,
		ev.EventID, line.SKU, line.Delta, before, after); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

func (s *Store) stockOf(ctx context.Context, sku string) (int, bool, error) {
	var stock int
	err := s.db.QueryRowContext(ctx, `SELECT stock FROM products WHERE sku = $1`, sku).Scan(&stock)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	return stock, err == nil, err
}
