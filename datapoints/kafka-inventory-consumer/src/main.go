// Command inventory-consumer applies inventory-change events from Kafka to
// the products table in Postgres.
package main

import (
	"context"
	"database/sql"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/Shopify/sarama"
	_ "github.com/lib/pq"
)

func main() {
	migrateOnly := flag.Bool("migrate", false, "create the schema and exit")
	flag.Parse()
	logger := log.New(os.Stderr, "inventory-consumer ", log.LstdFlags|log.Lmicroseconds)
	if err := run(*migrateOnly, logger); err != nil {
		logger.Printf("fatal: %v", err)
		os.Exit(1)
	}
}

func run(migrateOnly bool, logger *log.Logger) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	db, err := sql.Open("postgres", cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(32)
	if err := migrate(ctx, db); err != nil {
		return err
	}
	if migrateOnly {
		return nil
	}

	group, err := sarama.NewConsumerGroup(cfg.Brokers, cfg.GroupID, saramaConfig(cfg))
	if err != nil {
		return err
	}
	go func() {
		for err := range group.Errors() {
			logger.Printf("consumer error: %v", err)
		}
	}()

	stats := &Stats{}
	go stats.report(ctx, cfg.StatsInterval, logger)
	proc := NewProcessor(NewStore(db, newWarehouse(cfg.WarehouseURL)), stats, cfg.Workers, logger)
	h := &handler{proc: proc, logger: logger}

	logger.Printf("consuming topic=%s group=%s brokers=%v workers=%d", cfg.Topic, cfg.GroupID, cfg.Brokers, cfg.Workers)
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{cfg.Topic}, h); err != nil {
			logger.Printf("consume: %v", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	logger.Printf("shutting down")
	if err := group.Close(); err != nil {
		logger.Printf("closing consumer group: %v", err)
	}
	proc.Close()
	logger.Printf("stopped")
	return nil
}

func saramaConfig(cfg Config) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "inventory-consumer"
	c.Version = sarama.V2_0_0_0
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.CommitInterval = cfg.CommitInterval
	c.Consumer.Offsets.Retention = 7 * 24 * time.Hour
	c.Consumer.Group.Rebalance.Strategy = sarama.BalanceStrategyRange
	c.Consumer.Group.Session.Timeout = cfg.SessionTimeout
	c.Consumer.Group.Heartbeat.Interval = cfg.SessionTimeout / 10
	return c
}
