// Command workloads runs the workloads of package peers — heavy tail,
// slow consumer, early stop, CPU-bound — on complchain and its peers,
// interleaved in rounds, and prints a Markdown table for each.
//
//	go run ./cmd/workloads [-rounds 7] [-seed 1] [-only tail,slow,stop,cpu]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/complchain/complchain/bench/peers"
)

func main() {
	rounds := flag.Int("rounds", 7, "rounds; each runs every implementation once, in a shuffled order")
	seed := flag.Uint64("seed", 1, "seed of the task durations and of the order in each round")
	only := flag.String("only", "", "comma-separated workloads to run, by the start of their name (tail, slow, early, cpu); all if empty")
	flag.Parse()

	fmt.Printf("GOMAXPROCS=%d, %s, seed %d\n\n", runtime.GOMAXPROCS(0), runtime.Version(), *seed)
	for _, w := range peers.Workloads(*seed, 1) {
		if !selected(*only, w.Name) {
			continue
		}
		peers.Table(os.Stdout, w, peers.Rounds(w, peers.Runners, *rounds, *seed))
	}
}

func selected(only, name string) bool {
	if only == "" {
		return true
	}
	for p := range strings.SplitSeq(only, ",") {
		if p != "" && strings.HasPrefix(strings.ToLower(strings.TrimPrefix(name, "heavy ")), p) {
			return true
		}
	}
	return false
}
