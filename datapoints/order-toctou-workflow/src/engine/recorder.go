// Package engine is a small in-process workflow engine: workflows schedule
// activities (optionally in parallel), sleep on timers, and every step is
// recorded as an event so a run can be replayed as a timeline.
package engine

import (
	"encoding/json"
	"os"
	"sync"
	"time"
)

// Event is one line of the events file.
type Event struct {
	AtMicros int64  `json:"at_us"`
	Flow     string `json:"flow"`
	Activity string `json:"activity"`
	Kind     string `json:"kind"`
	Subject  string `json:"subject,omitempty"`
	Role     string `json:"role,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// Event kinds.
const (
	KindScheduled = "scheduled"
	KindStarted   = "started"
	KindCompleted = "completed"
	KindFailed    = "failed"
	KindTimer     = "timer"
	KindNote      = "note"
)

// Recorder appends events as JSON lines to a file. All workflows of the
// process share one Recorder, so their timestamps are on one monotonic clock.
// A nil *Recorder records nothing.
type Recorder struct {
	origin time.Time
	mu     sync.Mutex
	f      *os.File
}

// OpenRecorder opens (or creates) path for appending. An empty path returns a
// nil Recorder, which discards events.
func OpenRecorder(path string) (*Recorder, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Recorder{origin: time.Now(), f: f}, nil
}

// Record stamps e with the current monotonic time and appends it.
func (r *Recorder) Record(e Event) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e.AtMicros = time.Since(r.origin).Microseconds()
	line, err := json.Marshal(e)
	if err != nil {
		return
	}
	r.f.Write(append(line, '\n'))
}

// Close flushes and closes the events file.
func (r *Recorder) Close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Close()
}
