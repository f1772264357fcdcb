package main

import (
	"context"
	"log"
	"sync"
)

// Processor applies events on a pool of workers so that a slow event does
// not hold up the partition it came from.
type Processor struct {
	store  *Store
	stats  *Stats
	logger *log.Logger
	queue  chan Event
	wg     sync.WaitGroup
}

func NewProcessor(store *Store, stats *Stats, workers int, logger *log.Logger) *Processor {
	p := &Processor{store: store, stats: stats, logger: logger, queue: make(chan Event, 256)}
	for i := 0; i < workers; i++ {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

// Submit queues an event for the workers.
func (p *Processor) Submit(ev Event) {
	p.queue <- ev
}

// Close lets the workers finish the queued events and waits for them.
func (p *Processor) Close() {
	close(p.queue)
	p.wg.Wait()
}

func (p *Processor) work() {
	defer p.wg.Done()
	for ev := range p.queue {
		outcome, err := p.store.Apply(context.Background(), ev)
		if err != nil {
			p.stats.Failed++
			p.logger.Printf("event %s (partition %d offset %d) failed: %v", ev.EventID, ev.Partition, ev.Offset, err)
			continue
		}
		switch outcome {
		case Applied:
			p.stats.Applied++
		case Rejected:
			p.stats.Rejected++
		case Duplicate:
			p.stats.Duplicates++
		}
		p.stats.LastEvent = ev.EventID
	}
}
