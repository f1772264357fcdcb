package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is read from the environment once at startup.
type Config struct {
	DatabaseURL    string
	Brokers        []string
	Topic          string
	GroupID        string
	Workers        int
	CommitInterval time.Duration
	StatsInterval  time.Duration
	WarehouseURL   string
	SessionTimeout time.Duration
}

func loadConfig() (Config, error) {
	cfg := Config{
		DatabaseURL: os.Getenv("DATABASE_URL"),
		Topic:       firstNonEmpty(os.Getenv("INVENTORY_TOPIC"), os.Getenv("KAFKA_TOPIC_INVENTORY_EVENTS"), "inventory-events"),
		GroupID:     firstNonEmpty(os.Getenv("INVENTORY_GROUP_ID"), os.Getenv("RACEBENCH_GROUP_PREFIX")+"inventory-consumer"),
		// The warehouse management system's stock-level API.
		WarehouseURL: os.Getenv("WAREHOUSE_URL"),
	}
	if cfg.DatabaseURL == "" {
		return cfg, fmt.Errorf("DATABASE_URL is not set")
	}
	brokers := firstNonEmpty(os.Getenv("KAFKA_BOOTSTRAP_SERVERS"), "localhost:9092")
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	var err error
	if cfg.Workers, err = intEnv("WORKERS", 8); err != nil {
		return cfg, err
	}
	if cfg.CommitInterval, err = millisEnv("OFFSET_COMMIT_INTERVAL_MS", 1000); err != nil {
		return cfg, err
	}
	if cfg.StatsInterval, err = millisEnv("STATS_INTERVAL_MS", 10000); err != nil {
		return cfg, err
	}
	if cfg.SessionTimeout, err = millisEnv("KAFKA_SESSION_TIMEOUT_MS", 10000); err != nil {
		return cfg, err
	}
	if cfg.Workers < 1 {
		return cfg, fmt.Errorf("WORKERS must be at least 1")
	}
	return cfg, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func intEnv(name string, def int) (int, error) {
	raw := os.Getenv(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", name, err)
	}
	return n, nil
}

func millisEnv(name string, def int) (time.Duration, error) {
	n, err := intEnv(name, def)
	return time.Duration(n) * time.Millisecond, err
}
