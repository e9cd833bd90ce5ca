package trace_test

import (
	"os"
	"time"

	"github.com/complchain/complchain/trace"
)

// Each task gets its own named track; open the output in ui.perfetto.dev.
func Example() {
	r := trace.New()
	t0 := time.Unix(0, 0)
	r.Span("nsid 1", "identify", t0, t0.Add(2*time.Millisecond))
	r.Instant("nsid 1", "registered", t0.Add(2*time.Millisecond))
	r.WriteTo(os.Stdout)
	// Output:
	// {"displayTimeUnit":"ms","traceEvents":[{"name":"thread_name","ph":"M","ts":0,"pid":1,"tid":1,"args":{"name":"nsid 1"}}
	// ,{"name":"thread_sort_index","ph":"M","ts":0,"pid":1,"tid":1,"args":{"sort_index":0}}
	// ,{"name":"identify","ph":"X","ts":0,"dur":2000,"pid":1,"tid":1}
	// ,{"name":"registered","ph":"i","ts":2000,"s":"t","pid":1,"tid":1}
	// ]}
}
