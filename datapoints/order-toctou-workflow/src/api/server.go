// Package api is the HTTP front of the order service.
//
//	POST /orders              {"order_id": "...", "items": [{"sku": "...", "quantity": 1}]}
//	                          200 reserved, 409 rejected (out of stock, duplicate), 500 failed
//	GET  /orders/{id}         status, error and reservations of an order
//	POST /orders/{id}/cancel  give a reserved order's items back
//	GET  /healthz
package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"orderflow/orders"
	"orderflow/store"
)

// Server routes HTTP requests to the order service.
type Server struct {
	Orders *orders.Service
}

// Response is the body of every order answer.
type Response struct {
	OrderID      string              `json:"order_id,omitempty"`
	Status       string              `json:"status"`
	Reason       string              `json:"reason,omitempty"`
	SKU          string              `json:"sku,omitempty"`
	Error        string              `json:"error,omitempty"`
	Reservations []store.Reservation `json:"reservations,omitempty"`
}

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/orders", s.placeOrder)
	mux.HandleFunc("/orders/", s.order)
	return mux
}

func (s *Server) placeOrder(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var order orders.Order
	if err := json.NewDecoder(r.Body).Decode(&order); err != nil {
		reply(w, http.StatusBadRequest, Response{Status: "invalid", Error: err.Error()})
		return
	}
	if err := order.Validate(); err != nil {
		reply(w, http.StatusBadRequest, Response{OrderID: order.ID, Status: "invalid", Error: err.Error()})
		return
	}
	err := s.Orders.PlaceOrder(order)
	var oos *orders.OutOfStockError
	switch {
	case err == nil:
		reply(w, http.StatusOK, Response{OrderID: order.ID, Status: store.StatusReserved})
	case errors.Is(err, store.ErrDuplicateOrder):
		reply(w, http.StatusConflict, Response{OrderID: order.ID, Status: store.StatusRejected,
			Reason: "duplicate_order", Error: err.Error()})
	case errors.As(err, &oos):
		reply(w, http.StatusConflict, Response{OrderID: order.ID, Status: store.StatusRejected,
			Reason: "out_of_stock", SKU: oos.SKU, Error: err.Error()})
	default:
		reply(w, http.StatusInternalServerError, Response{OrderID: order.ID, Status: store.StatusFailed,
			Reason: "workflow_failed", Error: err.Error()})
	}
}

func (s *Server) order(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/orders/")
	id, action, _ := strings.Cut(rest, "/")
	switch {
	case action == "" && r.Method == http.MethodGet:
		status, errText, err := s.Orders.Orders.Status(r.Context(), id)
		if errors.Is(err, store.ErrUnknownOrder) {
			reply(w, http.StatusNotFound, Response{OrderID: id, Status: "unknown"})
			return
		}
		if err != nil {
			reply(w, http.StatusInternalServerError, Response{OrderID: id, Status: "error", Error: err.Error()})
			return
		}
		held, err := s.Orders.Orders.Reservations(r.Context(), id)
		if err != nil {
			reply(w, http.StatusInternalServerError, Response{OrderID: id, Status: "error", Error: err.Error()})
			return
		}
		reply(w, http.StatusOK, Response{OrderID: id, Status: status, Error: errText, Reservations: held})
	case action == "cancel" && r.Method == http.MethodPost:
		err := s.Orders.CancelOrder(id)
		switch {
		case err == nil:
			reply(w, http.StatusOK, Response{OrderID: id, Status: store.StatusCancelled})
		case errors.Is(err, store.ErrUnknownOrder):
			reply(w, http.StatusNotFound, Response{OrderID: id, Status: "unknown"})
		default:
			reply(w, http.StatusConflict, Response{OrderID: id, Status: "error", Error: err.Error()})
		}
	default:
		http.NotFound(w, r)
	}
}

func reply(w http.ResponseWriter, code int, body Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}
