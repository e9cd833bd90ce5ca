package target

// MaxNSID returns the largest NSID the subsystem takes (Identify
// Controller NN): Attach refuses NSIDs above it.
func (s *Subsystem) MaxNSID() uint32 { return s.cfg.MaxNSID }
