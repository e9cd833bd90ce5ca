package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/complchain/complchain/nvme/target"
)

// openBackings opens the storage of namespaces 1..n of each of subs
// subsystems, as the returned slice's maps give it by subsystem index
// and NSID: the files or block devices of --backing (NSID=PATH, existing;
// one subsystem only), then for the other NSIDs the files of --backing-dir,
// which is created if missing (DIR/nsid-<NSID>.img, or
// DIR/sub<I>/nsid-<NSID>.img with several subsystems; each created sparse
// at size bytes, or reused with its data). NSIDs in neither have no
// backend: sparse memory. A file backs one namespace only, whatever
// path names it. The returned function closes every file; on error
// nothing stays open.
func openBackings(dir string, pairs []string, subs, n int, size uint64) ([]map[uint32]target.Backend, func() error, error) {
	paths, err := parseKeyMap(pairs, "NSID", func(s string) (string, error) {
		if s == "" {
			return "", errors.New("empty path")
		}
		return s, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("--backing: %w", err)
	}
	if len(paths) > 0 && subs > 1 {
		return nil, nil, fmt.Errorf("--backing: with one subsystem only (--subsystems %d)", subs)
	}
	out := make([]map[uint32]target.Backend, subs)
	for i := range out {
		out[i] = make(map[uint32]target.Backend)
	}
	var files []*target.FileBackend
	type owner struct {
		fi   os.FileInfo
		nsid uint32
	}
	var owners []owner
	// claim records that path backs nsid, unless it already backs
	// another; a path that does not exist yet backs none.
	claim := func(path string, nsid uint32) error {
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, o := range owners {
			if os.SameFile(o.fi, fi) {
				return fmt.Errorf("%s is already the storage of NSID %d", path, o.nsid)
			}
		}
		owners = append(owners, owner{fi, nsid})
		return nil
	}
	closeAll := func() error {
		var errs []error
		for _, f := range files {
			errs = append(errs, f.Close())
		}
		return errors.Join(errs...)
	}
	for nsid, path := range paths {
		if nsid > uint32(n) {
			closeAll()
			return nil, nil, fmt.Errorf("--backing %d=%s: NSID %d not in 1..%d (--namespaces)", nsid, path, nsid, n)
		}
		f, err := target.OpenFile(path)
		if err == nil {
			if err = claim(path, nsid); err != nil {
				f.Close()
			}
		}
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("--backing %d=%s: %w", nsid, path, err)
		}
		files = append(files, f)
		out[0][nsid] = f
	}
	if dir == "" {
		return out, closeAll, nil
	}
	for i := range subs {
		d := dir
		if subs > 1 {
			d = filepath.Join(dir, fmt.Sprintf("sub%d", i+1))
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("--backing-dir: %w", err)
		}
		for id := 1; id <= n; id++ {
			nsid := uint32(id)
			if out[i][nsid] != nil {
				continue
			}
			path := filepath.Join(d, fmt.Sprintf("nsid-%d.img", nsid))
			var f *target.FileBackend
			err := claim(path, nsid) // before CreateFile checks its size
			if err == nil {
				f, err = target.CreateFile(path, int64(min(size, 1<<62)))
			}
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("--backing-dir: %w", err)
			}
			files = append(files, f)
			out[i][nsid] = f
		}
	}
	return out, closeAll, nil
}
