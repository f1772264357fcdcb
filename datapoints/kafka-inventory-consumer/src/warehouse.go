package main

import (
	"context"
	"time"
)

// Warehouse mirrors stock levels to the warehouse management system.
type Warehouse interface {
	PublishLevel(ctx context.Context, sku string, level int) error
}

// stubWarehouse stands in for the WMS client outside production: it only
// takes as long as the real call does.
type stubWarehouse struct {
	latency time.Duration
}

func (w stubWarehouse) PublishLevel(ctx context.Context, sku string, level int) error {
	if w.latency <= 0 {
		return nil
	}
	t := time.NewTimer(w.latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
