// Command orderflow serves the order API and runs the order workflows.
//
// Configuration (environment):
//
//	DATABASE_URL            Postgres connection string (required)
//	ORDERFLOW_ADDR          listen address (default 127.0.0.1:8080)
//	ORDERFLOW_DB_MAX_CONNS  connection pool size (default 32)
//	ORDERFLOW_EVENTS_FILE   append workflow history events here as JSON lines (default: off)
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"orderflow/api"
	"orderflow/engine"
	"orderflow/orders"
	"orderflow/store"
)

func main() {
	logger := log.New(os.Stderr, "orderflow: ", log.LstdFlags|log.Lmicroseconds)
	if err := run(logger); err != nil {
		logger.Fatal(err)
	}
}

func run(logger *log.Logger) error {
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		return errors.New("DATABASE_URL is not set")
	}
	addr := envOr("ORDERFLOW_ADDR", "127.0.0.1:8080")
	maxConns, err := strconv.Atoi(envOr("ORDERFLOW_DB_MAX_CONNS", "32"))
	if err != nil || maxConns < 1 {
		return errors.New("ORDERFLOW_DB_MAX_CONNS must be a positive integer")
	}

	rec, err := engine.OpenRecorder(os.Getenv("ORDERFLOW_EVENTS_FILE"))
	if err != nil {
		return err
	}
	defer rec.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	db, err := store.Open(ctx, dbURL, maxConns)
	if err != nil {
		return err
	}
	defer db.Close()

	svc := &orders.Service{
		Engine:     engine.New(rec),
		Activities: &orders.Activities{DB: db},
		Orders:     store.Orders{DB: db},
		Log:        logger,
	}
	srv := &http.Server{Addr: addr, Handler: (&api.Server{Orders: svc}).Handler()}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Printf("listening on %s", addr)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Printf("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
