package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestWriteTo(t *testing.T) {
	r := New()
	t0 := time.Unix(100, 0)
	r.Span("nsid 2", "identify", t0.Add(time.Millisecond), t0.Add(3*time.Millisecond))
	r.Span("nsid 1", "identify", t0, t0.Add(2*time.Millisecond))
	r.Span("nsid 2", "register", t0.Add(3*time.Millisecond), t0.Add(3500*time.Microsecond))
	r.Instant("nsid 1", "failed", t0.Add(4*time.Millisecond))
	var buf bytes.Buffer
	n, err := r.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d bytes", n, err, buf.Len())
	}
	var doc struct{ TraceEvents []Event }
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, buf.Bytes())
	}
	var got []string
	for _, e := range doc.TraceEvents {
		switch e.Phase {
		case "M":
			switch e.Name {
			case "thread_name":
				got = append(got, fmt.Sprintf("track %d %v", e.TID, e.Args["name"]))
			case "thread_sort_index":
				got = append(got, fmt.Sprintf("sort %d %v", e.TID, e.Args["sort_index"]))
			}
		case "X":
			got = append(got, fmt.Sprintf("%s tid %d ts %g dur %g", e.Name, e.TID, e.TS, e.Dur))
		case "i":
			got = append(got, fmt.Sprintf("%s tid %d ts %g scope %s", e.Name, e.TID, e.TS, e.Scope))
		}
	}
	want := []string{
		"track 1 nsid 2", "sort 1 0", "track 2 nsid 1", "sort 2 1",
		"identify tid 1 ts 1000 dur 2000", "identify tid 2 ts 0 dur 2000", "register tid 1 ts 3000 dur 500",
		"failed tid 2 ts 4000 scope t",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n%q\nwant\n%q", got, want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.ErrUnsupported }

func TestWriteError(t *testing.T) {
	r := New()
	for i := range 1000 { // more than bufio buffers
		r.Span("a", fmt.Sprint("step ", i), time.Now(), time.Now())
	}
	if _, err := r.WriteTo(failWriter{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("WriteTo = %v, want the writer's error", err)
	}
}

func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.Span("a", "b", time.Now(), time.Now())
	r.Instant("a", "b", time.Now())
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil || !json.Valid(buf.Bytes()) || r.Len() != 0 {
		t.Fatalf("nil recorder wrote %q, %v", buf.String(), err)
	}
}

func TestConcurrentSpans(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 100 {
				now := time.Now()
				r.Span(fmt.Sprint("task ", i), fmt.Sprint("step ", j), now, now)
			}
		})
	}
	wg.Wait()
	if r.Len() != 1600 {
		t.Fatalf("Len = %d, want 1600", r.Len())
	}
}
