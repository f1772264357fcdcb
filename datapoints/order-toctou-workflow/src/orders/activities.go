// Package orders holds the order workflows and the inventory activities they
// run.
package orders

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Item is one line of an order.
type Item struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Activities are the steps workflows schedule; each talks to Postgres.
type Activities struct {
	DB *sql.DB
}

// CheckResult is what CheckInventory saw.
type CheckResult struct {
	SKU       string
	Requested int
	InStock   int
	Available bool
}

func (r CheckResult) String() string {
	return fmt.Sprintf("Available=%t, InStock=%d", r.Available, r.InStock)
}

// CheckInventory reports whether the requested quantity of an item is in
// stock. An unknown SKU has nothing in stock.
func (a *Activities) CheckInventory(ctx context.Context, item Item) (CheckResult, error) {
	res := CheckResult{SKU: item.SKU, Requested: item.Quantity}
	err := a.DB.QueryRowContext(ctx, `SELECT stock FROM inventory WHERE sku = $1`, item.SKU).Scan(&res.InStock)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, fmt.Errorf("check inventory for %s: %w", item.SKU, err)
	}
	res.Available = res.InStock >= item.Quantity
	return res, nil
}

// ReserveResult is what ReserveInventory did.
type ReserveResult struct {
	SKU       string
	Reserved  int
	Remaining int
}

func (r ReserveResult) String() string {
	return fmt.Sprintf("Reserved=%d, Remaining=%d", r.Reserved, r.Remaining)
}

// ReserveInventory takes the item's quantity out of stock and records the
// reservation against the order.
func (a *Activities) ReserveInventory(ctx context.Context, orderID string, item Item) (ReserveResult, error) {
	res := ReserveResult{SKU: item.SKU}
	tx, err := a.DB.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()

	var available int
	err = tx.QueryRowContext(ctx, `SELECT stock FROM inventory WHERE sku = $1`, item.SKU).Scan(&available)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, fmt.Errorf("read stock for %s: %w", item.SKU, err)
	}
	if available < item.Quantity {
		return res, fmt.Errorf("insufficient inventory for %s: requested %d, available %d",
			item.SKU, item.Quantity, available)
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE inventory SET stock = stock - $1, updated_at = now() WHERE sku = $2`,
		item.Quantity, item.SKU); err != nil {
		return res, fmt.Errorf("update stock for %s: %w", item.SKU, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO reservations (order_id, sku, quantity) VALUES ($1, $2, $3)`,
		orderID, item.SKU, item.Quantity); err != nil {
		return res, fmt.Errorf("record reservation for %s: %w", item.SKU, err)
	}
	if err := tx.Commit(); err != nil {
		return res, err
	}
	res.Reserved = item.Quantity
	res.Remaining = available - item.Quantity
	return res, nil
}

// ReleaseResult is what ReleaseInventory gave back.
type ReleaseResult struct {
	SKU      string
	Released int
}

func (r ReleaseResult) String() string {
	return fmt.Sprintf("Released=%d", r.Released)
}

// ReleaseInventory returns an order's reservation of a SKU to stock. Releasing
// something that is not reserved is a no-op.
func (a *Activities) ReleaseInventory(ctx context.Context, orderID, sku string) (ReleaseResult, error) {
	res := ReleaseResult{SKU: sku}
	tx, err := a.DB.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx,
		`DELETE FROM reservations WHERE order_id = $1 AND sku = $2 RETURNING quantity`,
		orderID, sku).Scan(&res.Released)
	if errors.Is(err, sql.ErrNoRows) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("delete reservation for %s: %w", sku, err)
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE inventory SET stock = stock + $1, updated_at = now() WHERE sku = $2`,
		res.Released, sku); err != nil {
		return res, fmt.Errorf("restock %s: %w", sku, err)
	}
	return res, tx.Commit()
}
