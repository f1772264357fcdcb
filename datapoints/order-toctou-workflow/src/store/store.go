// Package store owns the Postgres schema and the order records.
package store

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"time"

	_ "github.com/lib/pq" // Postgres driver
)

const schema = `
CREATE TABLE IF NOT EXISTS inventory (
	sku        TEXT PRIMARY KEY,
	stock      INTEGER NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS orders (
	order_id   TEXT PRIMARY KEY,
	status     TEXT NOT NULL,
	error      TEXT,
	created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS reservations (
	order_id    TEXT NOT NULL,
	sku         TEXT NOT NULL,
	quantity    INTEGER NOT NULL,
	reserved_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (order_id, sku)
);
`

// Order statuses.
const (
	StatusProcessing = "processing"
	StatusReserved   = "reserved"
	StatusRejected   = "rejected"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled"
)

// ErrDuplicateOrder is returned by CreateOrder for an order id already used.
var ErrDuplicateOrder = errors.New("order already exists")

// ErrUnknownOrder is returned for an order id that does not exist.
var ErrUnknownOrder = errors.New("unknown order")

// Open connects to Postgres and applies the schema. A URL without an
// sslmode connects without TLS, as inside the cluster network.
func Open(ctx context.Context, dsn string, maxConns int) (*sql.DB, error) {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Query().Get("sslmode") == "" {
		q := u.Query()
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(time.Minute)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err = db.PingContext(ctx)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			db.Close()
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Orders reads and writes order records.
type Orders struct {
	DB *sql.DB
}

// Create inserts a new order in status processing.
func (o Orders) Create(ctx context.Context, orderID string) error {
	res, err := o.DB.ExecContext(ctx,
		`INSERT INTO orders (order_id, status) VALUES ($1, $2) ON CONFLICT (order_id) DO NOTHING`,
		orderID, StatusProcessing)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrDuplicateOrder
	}
	return nil
}

// SetStatus records the outcome of an order.
func (o Orders) SetStatus(ctx context.Context, orderID, status, reason string) error {
	var errText sql.NullString
	if reason != "" {
		errText = sql.NullString{String: reason, Valid: true}
	}
	_, err := o.DB.ExecContext(ctx,
		`UPDATE orders SET status = $2, error = $3, updated_at = now() WHERE order_id = $1`,
		orderID, status, errText)
	return err
}

// Status returns an order's status and error text.
func (o Orders) Status(ctx context.Context, orderID string) (status, errText string, err error) {
	var e sql.NullString
	err = o.DB.QueryRowContext(ctx, `SELECT status, error FROM orders WHERE order_id = $1`, orderID).Scan(&status, &e)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrUnknownOrder
	}
	return status, e.String, err
}

// Reservation is one reserved line of an order.
type Reservation struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Reservations lists what an order holds.
func (o Orders) Reservations(ctx context.Context, orderID string) ([]Reservation, error) {
	rows, err := o.DB.QueryContext(ctx,
		`SELECT sku, quantity FROM reservations WHERE order_id = $1 ORDER BY sku`, orderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Reservation{}
	for rows.Next() {
		var r Reservation
		if err := rows.Scan(&r.SKU, &r.Quantity); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
