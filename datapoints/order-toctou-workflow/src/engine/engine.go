package engine

import (
	"context"
	"fmt"
	"time"
)

// Role marks an activity's part in a decide-then-act sequence.
type Role string

const (
	RoleNone  Role = ""
	RoleCheck Role = "check"
	RoleAct   Role = "act"
)

// ActivitySpec names an activity invocation for the history.
type ActivitySpec struct {
	Name    string
	Subject string
	Role    Role
	// Input is a short description of the arguments, shown on "scheduled".
	Input string
}

// Workflow is the handle a workflow function uses to run activities.
type Workflow struct {
	ctx  context.Context
	id   string
	name string
	rec  *Recorder
}

// Engine runs workflows and records their history.
type Engine struct {
	rec *Recorder
}

// New returns an engine recording to rec (which may be nil).
func New(rec *Recorder) *Engine {
	return &Engine{rec: rec}
}

// Run executes fn as the workflow name with the given id and records its
// start and end.
func (e *Engine) Run(ctx context.Context, name, id, input string, fn func(*Workflow) error) error {
	w := &Workflow{ctx: ctx, id: id, name: name, rec: e.rec}
	w.note("workflow started: " + input)
	err := fn(w)
	if err != nil {
		w.note("workflow failed: " + err.Error())
	} else {
		w.note("workflow completed")
	}
	return err
}

// ID is the workflow id.
func (w *Workflow) ID() string { return w.id }

// Context is the workflow's context.
func (w *Workflow) Context() context.Context { return w.ctx }

func (w *Workflow) note(detail string) {
	w.rec.Record(Event{Flow: w.id, Activity: w.name, Kind: KindNote, Detail: detail})
}

func (w *Workflow) record(spec ActivitySpec, kind, detail string) {
	w.rec.Record(Event{
		Flow:     w.id,
		Activity: spec.Name,
		Kind:     kind,
		Subject:  spec.Subject,
		Role:     string(spec.Role),
		Detail:   detail,
	})
}

// Sleep is a durable-timer stand-in: it waits d (or until the workflow's
// context ends) and records the timer firing.
func (w *Workflow) Sleep(name string, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		w.rec.Record(Event{Flow: w.id, Activity: name, Kind: KindTimer, Detail: fmt.Sprintf("fired after %s", d)})
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

// Future is the pending result of an activity started with Start.
type Future[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// Get waits for the activity and returns its result.
func (f *Future[T]) Get() (T, error) {
	<-f.done
	return f.val, f.err
}

// Start schedules an activity and runs it in its own goroutine.
func Start[T any](w *Workflow, spec ActivitySpec, fn func(context.Context) (T, error)) *Future[T] {
	f := &Future[T]{done: make(chan struct{})}
	w.record(spec, KindScheduled, spec.Input)
	go func() {
		defer close(f.done)
		w.record(spec, KindStarted, "")
		f.val, f.err = fn(w.ctx)
		if f.err != nil {
			w.record(spec, KindFailed, f.err.Error())
			return
		}
		w.record(spec, KindCompleted, describe(f.val))
	}()
	return f
}

// Execute runs an activity and waits for its result.
func Execute[T any](w *Workflow, spec ActivitySpec, fn func(context.Context) (T, error)) (T, error) {
	return Start(w, spec, fn).Get()
}

func describe(v any) string {
	if s, ok := v.(fmt.Stringer); ok {
		return s.String()
	}
	return ""
}
