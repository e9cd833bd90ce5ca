package control

import "fmt"

// Limits of the endpoint.
const (
	MaxRequestBytes  = 64 << 10 // bytes of a request body
	MaxResponseBytes = 64 << 20 // bytes of a response body the Client reads
)

// Subsystem is an NVM subsystem: its NQN, namespaces in NSID order and
// allowed hosts (sorted; AllowAnyHost when any host may connect).
type Subsystem struct {
	NQN          string      `json:"nqn"`
	MaxNSID      uint32      `json:"max_nsid"`
	AllowAnyHost bool        `json:"allow_any_host"`
	AllowedHosts []string    `json:"allowed_hosts"`
	Namespaces   []Namespace `json:"namespaces"`
}

// Namespace is an attached namespace: size in bytes, a multiple of the
// block size in bytes (512 or 4096).
type Namespace struct {
	NSID      uint32 `json:"nsid"`
	Size      uint64 `json:"size"`
	BlockSize uint32 `json:"block_size"`
}

// Port is a port served: its PORTID and listener address ("IP:port").
type Port struct {
	PortID uint16 `json:"portid"`
	Addr   string `json:"addr"`
}

// AttachRequest attaches namespace NSID (1..MaxNSID) of Size bytes (0:
// the subsystem's default) with BlockSize-byte blocks (0: its default).
type AttachRequest struct {
	NSID      uint32 `json:"nsid"`
	Size      uint64 `json:"size,omitempty"`
	BlockSize uint32 `json:"block_size,omitempty"`
}

// ResizeRequest sets a namespace's size in bytes: a positive multiple of
// its block size.
type ResizeRequest struct {
	Size uint64 `json:"size"`
}

// Error is the body of a refused request and what Client returns for
// one: the HTTP status, the request field at fault (a JSON field or a
// path wildcard: "nqn", "nsid", "size", "block_size", "hostnqn", "body")
// and the reason.
type Error struct {
	Status  int    `json:"status"`
	Field   string `json:"field,omitempty"`
	Message string `json:"error"`
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("control: %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("control: %d: %s: %s", e.Status, e.Field, e.Message)
}
