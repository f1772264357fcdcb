package main

import (
	"context"
	"log"
	"time"
)

// Stats counts what the workers did, for the periodic log line.
type Stats struct {
	Applied    int64
	Rejected   int64
	Duplicates int64
	Failed     int64
	LastEvent  string
}

func (s *Stats) report(ctx context.Context, every time.Duration, logger *log.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			logger.Printf("stats applied=%d rejected=%d duplicates=%d failed=%d last=%s",
				s.Applied, s.Rejected, s.Duplicates, s.Failed, s.LastEvent)
		}
	}
}
