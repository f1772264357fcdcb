package orders

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"orderflow/engine"
	"orderflow/store"
)

// processingDelay is the pause between the availability check and the
// reservations while the payment provider places its pre-authorization hold.
const processingDelay = 200 * time.Millisecond

// workflowTimeout bounds one workflow run.
const workflowTimeout = 30 * time.Second

// Order is a request to reserve items.
type Order struct {
	ID    string `json:"order_id"`
	Items []Item `json:"items"`
}

// Validate reports what is wrong with an order request, if anything.
func (o Order) Validate() error {
	if o.ID == "" {
		return errors.New("order_id is required")
	}
	if len(o.Items) == 0 {
		return errors.New("an order needs at least one item")
	}
	seen := map[string]bool{}
	for _, it := range o.Items {
		if it.SKU == "" {
			return errors.New("every item needs a sku")
		}
		if it.Quantity <= 0 {
			return fmt.Errorf("quantity for %s must be positive", it.SKU)
		}
		if seen[it.SKU] {
			return fmt.Errorf("%s is listed twice", it.SKU)
		}
		seen[it.SKU] = true
	}
	return nil
}

func (o Order) String() string {
	parts := make([]string, len(o.Items))
	for i, it := range o.Items {
		parts[i] = fmt.Sprintf("%s x%d", it.SKU, it.Quantity)
	}
	return strings.Join(parts, ", ")
}

// OutOfStockError rejects an order because an item is not available in the
// requested quantity.
type OutOfStockError struct {
	SKU       string
	Requested int
	InStock   int
}

func (e *OutOfStockError) Error() string {
	return fmt.Sprintf("%s is out of stock: requested %d, in stock %d", e.SKU, e.Requested, e.InStock)
}

// Service runs the order workflows.
type Service struct {
	Engine     *engine.Engine
	Activities *Activities
	Orders     store.Orders
	Log        *log.Logger
}

// PlaceOrder runs ProcessOrderWorkflow for a new order and records its
// outcome. An *OutOfStockError means the order was rejected.
func (s *Service) PlaceOrder(order Order) error {
	ctx, cancel := context.WithTimeout(context.Background(), workflowTimeout)
	defer cancel()
	if err := s.Orders.Create(ctx, order.ID); err != nil {
		return err
	}
	err := s.Engine.Run(ctx, "ProcessOrderWorkflow", order.ID, order.String(), func(w *engine.Workflow) error {
		return s.processOrder(w, order)
	})
	status, reason := store.StatusReserved, ""
	var oos *OutOfStockError
	switch {
	case errors.As(err, &oos):
		status, reason = store.StatusRejected, err.Error()
	case err != nil:
		status, reason = store.StatusFailed, err.Error()
	}
	if serr := s.Orders.SetStatus(ctx, order.ID, status, reason); serr != nil {
		s.Log.Printf("order %s: record status %s: %v", order.ID, status, serr)
	}
	if err != nil {
		s.Log.Printf("order %s %s: %v", order.ID, status, err)
	} else {
		s.Log.Printf("order %s reserved: %s", order.ID, order)
	}
	return err
}

// processOrder is ProcessOrderWorkflow: check every item in parallel, wait
// out the processing delay, then reserve the items one by one.
func (s *Service) processOrder(w *engine.Workflow, order Order) error {
	checks := make([]*engine.Future[CheckResult], len(order.Items))
	for i, item := range order.Items {
		item := item
		checks[i] = engine.Start(w, engine.ActivitySpec{
			Name:    "CheckInventory",
			Subject: item.SKU,
			Role:    engine.RoleCheck,
			Input:   fmt.Sprintf("requested %d", item.Quantity),
		}, func(ctx context.Context) (CheckResult, error) {
			return s.Activities.CheckInventory(ctx, item)
		})
	}
	var checkErr error
	for _, f := range checks {
		res, err := f.Get()
		if checkErr != nil {
			continue
		}
		if err != nil {
			checkErr = err
		} else if !res.Available {
			checkErr = &OutOfStockError{SKU: res.SKU, Requested: res.Requested, InStock: res.InStock}
		}
	}
	if checkErr != nil {
		return checkErr
	}

	if err := w.Sleep("ProcessingDelay", processingDelay); err != nil {
		return err
	}

	for _, item := range order.Items {
		item := item
		_, err := engine.Execute(w, engine.ActivitySpec{
			Name:    "ReserveInventory",
			Subject: item.SKU,
			Role:    engine.RoleAct,
			Input:   fmt.Sprintf("requested %d", item.Quantity),
		}, func(ctx context.Context) (ReserveResult, error) {
			return s.Activities.ReserveInventory(ctx, w.ID(), item)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// CancelOrder runs CancelOrderWorkflow: it gives a reserved order's items
// back to stock.
func (s *Service) CancelOrder(orderID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), workflowTimeout)
	defer cancel()
	status, _, err := s.Orders.Status(ctx, orderID)
	if err != nil {
		return err
	}
	if status != store.StatusReserved {
		return fmt.Errorf("order %s is %s, only reserved orders can be cancelled", orderID, status)
	}
	err = s.Engine.Run(ctx, "CancelOrderWorkflow", orderID, "", func(w *engine.Workflow) error {
		held, err := s.Orders.Reservations(ctx, orderID)
		if err != nil {
			return err
		}
		for _, r := range held {
			sku := r.SKU
			if _, err := engine.Execute(w, engine.ActivitySpec{Name: "ReleaseInventory", Subject: sku},
				func(ctx context.Context) (ReleaseResult, error) {
					return s.Activities.ReleaseInventory(ctx, orderID, sku)
				}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.Orders.SetStatus(ctx, orderID, store.StatusCancelled, "")
}
