package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
)

// identityRoot is the file system the default host identity is read from
// (/etc/nvme/hostnqn, /etc/machine-id, ...); tests replace it.
var identityRoot fs.FS = os.DirFS("/")

// Default TCP ports of nvme-cli (NVME_RDMA_IP_PORT, NVME_DISC_IP_PORT).
const (
	ioPort        = "4420"
	discoveryPort = "8009"
)

// defaultKATO is the keep alive timeout asked for unless
// --keep-alive-tmo says otherwise, in seconds.
const defaultKATO = 10

// maxKATO is the largest --keep-alive-tmo: KATO is 32 bits of
// milliseconds in Connect.
const maxKATO = math.MaxUint32 / 1000

// connFlags are nvme-cli's "nvme connect" flags that complchain shares,
// with nvme-cli's letters.
type connFlags struct {
	transport             string
	traddr, trsvcid       string
	hostNQN, hostID       string
	hdrDigest, dataDigest bool
	kato                  int // seconds; 0: no keep alive
	verbose               bool

	identity host.Identity // resolved by resolve
}

// register adds the flags to fl.
func (f *connFlags) register(fl *pflag.FlagSet) {
	fl.StringVarP(&f.transport, "transport", "t", "tcp", "transport, as nvme-cli's; only tcp")
	fl.StringVarP(&f.traddr, "traddr", "a", "", "target address, as nvme-cli's (an alternative to --addr)")
	fl.StringVarP(&f.trsvcid, "trsvcid", "s", "", "target TCP port with --traddr (default "+ioPort+" with --nqn, else "+discoveryPort+", the discovery port, as nvme-cli)")
	fl.StringVarP(&f.hostNQN, "hostnqn", "q", "", "host NQN (default /etc/nvme/hostnqn, else "+host.UUIDNQNPrefix+"<host ID>)")
	fl.StringVarP(&f.hostID, "hostid", "I", "", "host ID, a UUID (default /etc/nvme/hostid, else the UUID of the host NQN, else the machine's: DMI product UUID or one derived from /etc/machine-id)")
	fl.BoolVarP(&f.hdrDigest, "hdr-digest", "g", false, "use the NVMe/TCP header digest (CRC32C)")
	fl.BoolVarP(&f.dataDigest, "data-digest", "G", false, "use the NVMe/TCP data digest (CRC32C)")
	fl.IntVarP(&f.kato, "keep-alive-tmo", "k", defaultKATO, fmt.Sprintf("keep alive timeout in seconds, sent in Connect; Keep Alive is sent every half of it (0: none; at most %d)", maxKATO))
}

// resolve checks the connection flags, makes --traddr and --trsvcid the
// one --addr, and loads the host identity, which it prints on stderr with
// --verbose.
func (f *scanFlags) resolve(stderr io.Writer) error {
	switch {
	case f.transport != "tcp":
		return fmt.Errorf("--transport %q: only tcp is supported", printable(f.transport))
	case len(f.addrs) > 0 && (f.traddr != "" || f.trsvcid != ""):
		return errors.New("--addr and --traddr/--trsvcid both say where the target is: give one")
	case f.trsvcid != "" && f.traddr == "":
		return errors.New("--trsvcid needs --traddr")
	case f.traddr != "":
		port := f.trsvcid
		if port == "" {
			port = discoveryPort
			if len(f.nqns) > 0 {
				port = ioPort
			}
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("--trsvcid %q: want a TCP port, 1 to 65535", port)
		}
		f.addrs = []string{net.JoinHostPort(f.traddr, port)}
	}
	if f.kato < 0 || f.kato > maxKATO {
		return fmt.Errorf("--keep-alive-tmo %d: want 0 to %d seconds", f.kato, maxKATO)
	}
	id, err := host.LoadIdentity(identityRoot, f.hostNQN, f.hostID)
	if err != nil {
		return err
	}
	f.identity = id
	if f.verbose {
		fmt.Fprintf(stderr, "host NQN %s (%s), host ID %s (%s)\n", printable(id.NQN), id.NQNFrom, nvme.AppendUUID(nil, id.ID), id.IDFrom)
	}
	return nil
}

// hostConfig is the configuration of every connection: the host
// identity and the connection flags.
func (f *scanFlags) hostConfig() host.Config {
	kato := time.Duration(f.kato) * time.Second
	if f.kato == 0 {
		kato = -1 // host.Config's "none"
	}
	return host.Config{
		HostNQN: f.identity.NQN, HostID: f.identity.ID, KATO: kato,
		HeaderDigest: f.digests || f.hdrDigest, DataDigest: f.digests || f.dataDigest,
		AdminQueueDepth: f.queueDepth, CommandTimeout: f.timeout,
	}
}
