package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/target"
)

// parseANAStates parses the target's --ana values, PORTID[:GRPID]=STATE
// (group 1 when GRPID is left out), into the initial ANA states of each
// port. It refuses a PORTID not in 1..ports, a group not in
// 1..target.MaxANAGroups, an unknown state and a port and group given
// twice.
func parseANAStates(vals []string, ports int) (map[uint16]map[uint32]nvme.ANAState, error) {
	out := make(map[uint16]map[uint32]nvme.ANAState)
	for _, v := range vals {
		key, name, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want PORTID[:GRPID]=STATE", v)
		}
		p, g, hasGroup := strings.Cut(key, ":")
		port, err := strconv.ParseUint(p, 10, 16)
		if err != nil || port == 0 || int(port) > ports {
			return nil, fmt.Errorf("%q: PORTID %q not in 1..%d (one per --listen)", v, p, ports)
		}
		grp := uint64(1)
		if hasGroup {
			if grp, err = strconv.ParseUint(g, 10, 32); err != nil || grp == 0 || grp > target.MaxANAGroups {
				return nil, fmt.Errorf("%q: ANA group %q not in 1..%d", v, g, target.MaxANAGroups)
			}
		}
		s, err := nvme.ParseANAState(name)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", v, err)
		}
		m := out[uint16(port)]
		if m == nil {
			m = make(map[uint32]nvme.ANAState)
			out[uint16(port)] = m
		}
		if _, dup := m[uint32(grp)]; dup {
			return nil, fmt.Errorf("%q: port %d group %d given twice", v, port, grp)
		}
		m[uint32(grp)] = s
	}
	return out, nil
}
