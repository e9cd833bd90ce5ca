package target

import "github.com/complchain/complchain/nvme"

// aenResultDiscoveryChange is the Asynchronous Event Request result of
// the Discovery Log Page Change notice: type notice, information F0h,
// log page 70h.
const aenResultDiscoveryChange = nvme.AsyncTypeNotice | nvme.AsyncNoticeDiscoveryChanged<<8 | nvme.LogDiscovery<<16

// discoveryChangedLocked increments the discovery log's GENCTR and raises
// the Discovery Log Page Change notice on every discovery controller that
// enabled it (Asynchronous Event Configuration bit 31), as Linux's nvmet
// does when a port, subsystem or allowed host changes. The notice is
// masked once reported until the controller reads the log. t.mu is held.
func (t *Target) discoveryChangedLocked() {
	t.genctr++
	for _, c := range t.ctrls {
		if !c.discovery() {
			continue
		}
		c.mu.Lock()
		if c.aenCfg&nvme.AsyncEventDiscoveryChanged != 0 {
			c.pending = true
			c.deliverLocked()
		}
		c.mu.Unlock()
	}
}

// discoveryLogRead unmasks the Discovery Log Page Change notice after a
// read of the log without RAE.
func (c *controller) discoveryLogRead(rae bool) {
	if rae {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.masked = false
	c.deliverLocked()
}
