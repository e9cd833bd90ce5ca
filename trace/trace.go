// Package trace records spans of work and writes them in the Chrome
// trace-event JSON format, which Perfetto (ui.perfetto.dev) and
// chrome://tracing open: one named track per task.
package trace

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// A Recorder collects spans. A nil *Recorder records nothing, so callers
// need not check whether tracing is on. Its methods are safe for concurrent
// use.
type Recorder struct {
	mu     sync.Mutex
	start  time.Time
	tracks map[string]int // track name → tid, in order of first use
	names  []string
	spans  []span
}

type span struct {
	tid        int
	name       string
	start, end time.Time
	instant    bool
}

// New returns an empty Recorder.
func New() *Recorder { return &Recorder{tracks: map[string]int{}} }

// Span records that the work name ran on track from start to end.
func (r *Recorder) Span(track, name string, start, end time.Time) {
	r.add(track, span{name: name, start: start, end: end})
}

// Instant records that name happened on track at t.
func (r *Recorder) Instant(track, name string, t time.Time) {
	r.add(track, span{name: name, start: t, end: t, instant: true})
}

func (r *Recorder) add(track string, s span) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	tid, ok := r.tracks[track]
	if !ok {
		tid = len(r.names) + 1
		r.tracks[track] = tid
		r.names = append(r.names, track)
	}
	if r.start.IsZero() || s.start.Before(r.start) {
		r.start = s.start
	}
	s.tid = tid
	r.spans = append(r.spans, s)
}

// Len returns the number of spans and instants recorded.
func (r *Recorder) Len() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.spans)
}

// Event is one trace event of the Chrome trace-event format.
type Event struct {
	Name  string         `json:"name"`
	Phase string         `json:"ph"`
	TS    float64        `json:"ts"` // microseconds since the first span
	Dur   float64        `json:"dur,omitempty"`
	Scope string         `json:"s,omitempty"` // of an instant event: "t", its track
	PID   int            `json:"pid"`
	TID   int            `json:"tid"`
	Args  map[string]any `json:"args,omitempty"`
}

// WriteTo writes the spans as {"traceEvents": [...]}: a thread_name and a
// thread_sort_index metadata event for each track, in order of first use,
// then a complete ("X") event for each span and an instant ("i") event for
// each instant, in the order recorded. Times are in microseconds from the
// earliest one recorded.
func (r *Recorder) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: bufio.NewWriter(w)}
	enc := json.NewEncoder(cw)
	io.WriteString(cw, `{"displayTimeUnit":"ms","traceEvents":[`)
	first := true
	emit := func(e Event) {
		if !first {
			io.WriteString(cw, ",")
		}
		first = false
		enc.Encode(e)
	}
	if r != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, name := range r.names {
			emit(Event{Name: "thread_name", Phase: "M", PID: 1, TID: i + 1, Args: map[string]any{"name": name}})
			emit(Event{Name: "thread_sort_index", Phase: "M", PID: 1, TID: i + 1, Args: map[string]any{"sort_index": i}})
		}
		for _, s := range r.spans {
			if s.instant {
				emit(Event{Name: s.name, Phase: "i", Scope: "t", PID: 1, TID: s.tid, TS: micros(s.start.Sub(r.start))})
				continue
			}
			emit(Event{Name: s.name, Phase: "X", PID: 1, TID: s.tid,
				TS: micros(s.start.Sub(r.start)), Dur: max(micros(s.end.Sub(s.start)), 0.001)})
		}
	}
	io.WriteString(cw, "]}\n")
	if cw.err == nil {
		cw.err = cw.w.(*bufio.Writer).Flush()
	}
	return cw.n, cw.err
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
