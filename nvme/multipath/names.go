package multipath

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/complchain/complchain/internal/ida"
	"github.com/complchain/complchain/nvme"
)

// Limits of a names file: what OpenNames accepts, and what Names records.
const (
	NamesVersion     = 1        // the version Save writes and OpenNames reads
	MaxNamesFileSize = 16 << 20 // bytes
	MaxInstance      = 1 << 16  // largest head instance the persistent policy hands out or reads
	maxIdentityLen   = 64       // "nguid." and 32 hex digits fit
)

// ErrInstancesExhausted is returned when every persistent instance from
// 1 to MaxInstance of a subsystem is recorded.
var ErrInstancesExhausted = errors.New("multipath: every persistent instance is recorded")

// Identity returns the key under which the persistent policy records a
// namespace: "nguid.<32 hex digits>" if its NGUID is not zero, else
// "eui.<16 hex digits>", else "uuid.<32 hex digits>", else "nsid.<NSID>",
// the NSID being unique only within the subsystem the key is recorded
// under.
func Identity(nsid uint32, ids nvme.NSIdentifiers) string {
	switch {
	case ids.NGUID != [16]byte{}:
		return "nguid." + hex.EncodeToString(ids.NGUID[:])
	case ids.EUI64 != [8]byte{}:
		return "eui." + hex.EncodeToString(ids.EUI64[:])
	case ids.UUID != [16]byte{}:
		return "uuid." + hex.EncodeToString(ids.UUID[:])
	}
	return "nsid." + strconv.FormatUint(uint64(nsid), 10)
}

// Names is the state of the persistent naming policy: for each subsystem
// NQN, the head instance recorded for each namespace identity. It is kept
// in a file (complchain scan --names-file), read by OpenNames and written
// by Save. A Names is safe for concurrent use.
type Names struct {
	path string
	mu   sync.Mutex
	subs map[string]*subsystemNames
}

type subsystemNames struct {
	byID  map[string]int
	taken ida.IDA // the instances of byID
}

// namesFile is the JSON form of a names file.
type namesFile struct {
	Version    int              `json:"version"`
	Subsystems []subsystemEntry `json:"subsystems"`
}

type subsystemEntry struct {
	NQN        string       `json:"nqn"`
	Namespaces []namesEntry `json:"namespaces"`
}

type namesEntry struct {
	ID       string `json:"id"`
	Instance int    `json:"instance"`
}

// A NamesFileError is a names file that cannot be used: unreadable,
// larger than MaxNamesFileSize, not JSON of version NamesVersion, or
// holding an empty, too long or repeated NQN or identity, an instance
// outside 1..MaxInstance, or one instance for two identities. The file is
// left as it is: a corrupt file is never reset.
type NamesFileError struct {
	Path string
	Err  error
}

func (e *NamesFileError) Error() string {
	return fmt.Sprintf("multipath: names file %s: %v", e.Path, e.Err)
}

func (e *NamesFileError) Unwrap() error { return e.Err }

// OpenNames reads the names file at path. A file that does not exist is
// an empty state, which Save creates; any other problem is a
// *NamesFileError.
func OpenNames(path string) (*Names, error) {
	n := &Names{path: path, subs: make(map[string]*subsystemNames)}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return nil, &NamesFileError{Path: path, Err: err}
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > MaxNamesFileSize {
		return nil, &NamesFileError{Path: path, Err: fmt.Errorf("%d bytes, larger than %d", fi.Size(), MaxNamesFileSize)}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxNamesFileSize+1))
	if err != nil {
		return nil, &NamesFileError{Path: path, Err: err}
	}
	if len(b) > MaxNamesFileSize {
		return nil, &NamesFileError{Path: path, Err: fmt.Errorf("larger than %d bytes", MaxNamesFileSize)}
	}
	if err := n.decode(b); err != nil {
		return nil, &NamesFileError{Path: path, Err: err}
	}
	return n, nil
}

func (n *Names) decode(b []byte) error {
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	if head.Version != NamesVersion {
		return fmt.Errorf("version %d, want %d", head.Version, NamesVersion)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var f namesFile
	if err := d.Decode(&f); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON object")
	}
	for _, s := range f.Subsystems {
		if s.NQN == "" || len(s.NQN) > nvme.MaxNQNLen {
			return fmt.Errorf("subsystem NQN of %d bytes (want 1 to %d)", len(s.NQN), nvme.MaxNQNLen)
		}
		if n.subs[s.NQN] != nil {
			return fmt.Errorf("subsystem %q listed twice", s.NQN)
		}
		sn := &subsystemNames{byID: make(map[string]int, len(s.Namespaces))}
		used := make(map[int]string, len(s.Namespaces))
		for _, e := range s.Namespaces {
			switch {
			case e.ID == "" || len(e.ID) > maxIdentityLen:
				return fmt.Errorf("subsystem %q: identity of %d bytes (want 1 to %d)", s.NQN, len(e.ID), maxIdentityLen)
			case e.Instance < 1 || e.Instance > MaxInstance:
				return fmt.Errorf("subsystem %q: %s has instance %d (want 1 to %d)", s.NQN, e.ID, e.Instance, MaxInstance)
			case sn.byID[e.ID] != 0:
				return fmt.Errorf("subsystem %q: %s listed twice", s.NQN, e.ID)
			case used[e.Instance] != "":
				return fmt.Errorf("subsystem %q: instance %d given to %s and %s", s.NQN, e.Instance, used[e.Instance], e.ID)
			}
			sn.byID[e.ID], used[e.Instance] = e.Instance, e.ID
		}
		sn.markTaken(used)
		n.subs[s.NQN] = sn
	}
	return nil
}

// markTaken marks the instances of used taken in sn.taken, which is
// empty: it takes 1 to the largest, the smallest free each time, and
// gives back those not used.
func (sn *subsystemNames) markTaken(used map[int]string) {
	top := 0
	for i := range used {
		top = max(top, i)
	}
	for i := 1; i <= top; i++ {
		sn.taken.Get(1)
	}
	for i := 1; i <= top; i++ {
		if used[i] == "" {
			sn.taken.Put(i)
		}
	}
}

// instance returns the instance recorded for identity id in subsystem
// nqn, recording the smallest instance that no identity of the subsystem
// holds and inUse does not report if it has none. (An instance Forget
// freed may still be in use by a head.)
func (n *Names) instance(nqn, id string, inUse func(int) bool) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sn := n.subs[nqn]
	if sn == nil {
		sn = &subsystemNames{byID: make(map[string]int)}
		n.subs[nqn] = sn
	}
	if i := sn.byID[id]; i != 0 {
		return i, nil
	}
	var skipped []int
	defer func() {
		for _, i := range skipped {
			sn.taken.Put(i)
		}
	}()
	for {
		i := sn.taken.Get(1)
		if i > MaxInstance {
			skipped = append(skipped, i)
			return 0, fmt.Errorf("%w: subsystem %s", ErrInstancesExhausted, nqn)
		}
		if inUse(i) {
			skipped = append(skipped, i)
			continue
		}
		sn.byID[id] = i
		return i, nil
	}
}

// Lookup returns the instance recorded for identity id (see Identity) in
// subsystem nqn, and whether there is one.
func (n *Names) Lookup(nqn, id string) (int, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	i := 0
	if sn := n.subs[nqn]; sn != nil {
		i = sn.byID[id]
	}
	return i, i != 0
}

// Forget frees the instance recorded for identity id in subsystem nqn:
// the next new namespace may take it. A head that holds the instance
// keeps it until it is removed. Forget reports whether there was one.
func (n *Names) Forget(nqn, id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	sn := n.subs[nqn]
	if sn == nil || sn.byID[id] == 0 {
		return false
	}
	sn.taken.Put(sn.byID[id])
	delete(sn.byID, id)
	return true
}

// Save writes the state to its file atomically: to a temporary file in
// the same directory, synced, then renamed over the file. Subsystems are
// sorted by NQN and namespaces by instance, so equal states write equal
// files.
func (n *Names) Save() error {
	n.mu.Lock()
	f := namesFile{Version: NamesVersion, Subsystems: []subsystemEntry{}}
	for nqn, sn := range n.subs {
		s := subsystemEntry{NQN: nqn, Namespaces: []namesEntry{}}
		for id, i := range sn.byID {
			s.Namespaces = append(s.Namespaces, namesEntry{ID: id, Instance: i})
		}
		slices.SortFunc(s.Namespaces, func(a, b namesEntry) int { return a.Instance - b.Instance })
		f.Subsystems = append(f.Subsystems, s)
	}
	n.mu.Unlock()
	slices.SortFunc(f.Subsystems, func(a, b subsystemEntry) int { return strings.Compare(a.NQN, b.NQN) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(n.path, append(b, '\n')); err != nil {
		return &NamesFileError{Path: n.path, Err: err}
	}
	return nil
}

// writeAtomic replaces the file at path with b: a reader sees the old
// content or the new, never part of it.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
