package target

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// MaxIdentifyDelay is the longest delay an identify-delay profile may
// give a namespace.
const MaxIdentifyDelay = time.Hour

// ParseIdentifyDelay returns the delays of an identify-delay profile for
// the namespaces nsids (in NSID order), for Faults.IdentifyDelay:
//
//	reverse:STEP      the k-th of the N NSIDs answers after (N-k+1) × STEP:
//	                  the first NSID last, the last first
//	random:SEED:MAX   each NSID a delay drawn uniformly from 0..MAX by a
//	                  PCG generator seeded with SEED (a uint64): the same
//	                  delays on every run with the same seed
//	nsid:ID=D,ID=D…   the delays listed, for NSIDs that need not be in nsids
//
// Durations are Go durations (20ms, 1.5s), each delay at most
// MaxIdentifyDelay. Errors name the part of the profile at fault.
func ParseIdentifyDelay(profile string, nsids []uint32) (map[uint32]time.Duration, error) {
	kind, arg, _ := strings.Cut(profile, ":")
	out := make(map[uint32]time.Duration, len(nsids))
	switch kind {
	case "reverse":
		step, err := parseDelay(arg)
		if err != nil {
			return nil, fmt.Errorf("identify delay %q: %w", profile, err)
		}
		n := len(nsids)
		if step > 0 && time.Duration(n) > MaxIdentifyDelay/step {
			return nil, fmt.Errorf("identify delay %q: %d × %v is above %v", profile, n, step, MaxIdentifyDelay)
		}
		for k, id := range nsids {
			out[id] = time.Duration(n-k) * step
		}
	case "random":
		s, m, ok := strings.Cut(arg, ":")
		seed, err := strconv.ParseUint(s, 0, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("identify delay %q: want random:SEED:MAX with SEED a number", profile)
		}
		limit, err := parseDelay(m)
		if err != nil {
			return nil, fmt.Errorf("identify delay %q: %w", profile, err)
		}
		r := rand.New(rand.NewPCG(seed, seed))
		for _, id := range nsids {
			out[id] = time.Duration(r.Int64N(int64(limit) + 1))
		}
	case "nsid":
		for _, p := range strings.Split(arg, ",") {
			k, v, ok := strings.Cut(p, "=")
			id, err := strconv.ParseUint(k, 10, 32)
			if !ok || err != nil || id == 0 {
				return nil, fmt.Errorf("identify delay %q: %q: want NSID=DURATION", profile, p)
			}
			d, err := parseDelay(v)
			if err != nil {
				return nil, fmt.Errorf("identify delay %q: %q: %w", profile, p, err)
			}
			out[uint32(id)] = d
		}
	default:
		return nil, fmt.Errorf("identify delay %q: want reverse:STEP, random:SEED:MAX or nsid:ID=DURATION,…", profile)
	}
	return out, nil
}

// parseDelay parses a duration of 0..MaxIdentifyDelay.
func parseDelay(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 || d > MaxIdentifyDelay {
		return 0, fmt.Errorf("delay %v not in 0..%v", d, MaxIdentifyDelay)
	}
	return d, nil
}
