package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/complchain/complchain/nvme/target"
)

// NewHandler returns the handler of the version 1 API (see the package
// doc) acting on t.
func NewHandler(t *target.Target) http.Handler {
	h := &handler{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/subsystems", h.listSubsystems)
	mux.HandleFunc("GET /v1/subsystems/{nqn}", h.getSubsystem)
	mux.HandleFunc("POST /v1/subsystems/{nqn}/namespaces", h.attach)
	mux.HandleFunc("PATCH /v1/subsystems/{nqn}/namespaces/{nsid}", h.resize)
	mux.HandleFunc("DELETE /v1/subsystems/{nqn}/namespaces/{nsid}", h.detach)
	mux.HandleFunc("POST /v1/subsystems/{nqn}/hosts/{hostnqn}", h.allowHost)
	mux.HandleFunc("DELETE /v1/subsystems/{nqn}/hosts/{hostnqn}", h.disallowHost)
	mux.HandleFunc("GET /v1/ports", h.listPorts)
	mux.HandleFunc("PUT /v1/ports/{portid}/ana/{grpid}", h.setANA)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Message: "no such resource"})
	})
	return mux
}

type handler struct{ t *target.Target }

func (h *handler) listSubsystems(w http.ResponseWriter, r *http.Request) {
	subs := h.t.Subsystems()
	out := make([]Subsystem, 0, len(subs))
	for _, s := range subs {
		out = append(out, subsystemOf(s))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) getSubsystem(w http.ResponseWriter, r *http.Request) {
	if s := h.subsystem(w, r); s != nil {
		writeJSON(w, http.StatusOK, subsystemOf(s))
	}
}

func (h *handler) attach(w http.ResponseWriter, r *http.Request) {
	s := h.subsystem(w, r)
	if s == nil {
		return
	}
	var req AttachRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.NSID == 0 || req.NSID > s.MaxNSID() {
		writeError(w, &Error{Status: http.StatusBadRequest, Field: "nsid",
			Message: fmt.Sprintf("NSID %d not in 1..%d", req.NSID, s.MaxNSID())})
		return
	}
	if req.BlockSize != 0 && req.BlockSize != 512 && req.BlockSize != 4096 {
		writeError(w, &Error{Status: http.StatusBadRequest, Field: "block_size",
			Message: fmt.Sprintf("block size %d, want 512 or 4096", req.BlockSize)})
		return
	}
	err := s.Attach(target.Namespace{NSID: req.NSID, Size: req.Size, BlockSize: req.BlockSize})
	if err != nil {
		writeError(w, namespaceError(err, "size"))
		return
	}
	writeJSON(w, http.StatusCreated, namespaceOf(s, req.NSID))
}

func (h *handler) resize(w http.ResponseWriter, r *http.Request) {
	s, nsid := h.namespace(w, r)
	if s == nil {
		return
	}
	var req ResizeRequest
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.Resize(nsid, req.Size); err != nil {
		writeError(w, namespaceError(err, "size"))
		return
	}
	writeJSON(w, http.StatusOK, namespaceOf(s, nsid))
}

func (h *handler) detach(w http.ResponseWriter, r *http.Request) {
	s, nsid := h.namespace(w, r)
	if s == nil {
		return
	}
	if err := s.Detach(nsid); err != nil {
		writeError(w, namespaceError(err, "nsid"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) allowHost(w http.ResponseWriter, r *http.Request) {
	h.hosts(w, r, (*target.Subsystem).AllowHost)
}

func (h *handler) disallowHost(w http.ResponseWriter, r *http.Request) {
	h.hosts(w, r, (*target.Subsystem).DisallowHost)
}

// hosts applies change to the subsystem and host of r's path.
func (h *handler) hosts(w http.ResponseWriter, r *http.Request, change func(*target.Subsystem, string) error) {
	s := h.subsystem(w, r)
	if s == nil {
		return
	}
	if err := change(s, r.PathValue("hostnqn")); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, target.ErrNoHost) {
			status = http.StatusNotFound
		}
		writeError(w, &Error{Status: status, Field: "hostnqn", Message: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, subsystemOf(s))
}

func (h *handler) listPorts(w http.ResponseWriter, r *http.Request) {
	ports := h.t.Ports()
	out := make([]Port, 0, len(ports))
	for _, p := range ports {
		out = append(out, Port{PortID: p.ID(), Addr: p.Addr().String()})
	}
	writeJSON(w, http.StatusOK, out)
}

// subsystem returns the subsystem of r's path, or nil after answering 404.
func (h *handler) subsystem(w http.ResponseWriter, r *http.Request) *target.Subsystem {
	nqn := r.PathValue("nqn")
	s := h.t.Subsystem(nqn)
	if s == nil {
		writeError(w, &Error{Status: http.StatusNotFound, Field: "nqn", Message: fmt.Sprintf("no subsystem %q", nqn)})
	}
	return s
}

// namespace returns the subsystem and NSID of r's path, or nil after
// answering 400 or 404.
func (h *handler) namespace(w http.ResponseWriter, r *http.Request) (*target.Subsystem, uint32) {
	s := h.subsystem(w, r)
	if s == nil {
		return nil, 0
	}
	v := r.PathValue("nsid")
	nsid, err := strconv.ParseUint(v, 10, 32)
	if err != nil || nsid == 0 {
		writeError(w, &Error{Status: http.StatusBadRequest, Field: "nsid", Message: fmt.Sprintf("%q is not an NSID", v)})
		return nil, 0
	}
	return s, uint32(nsid)
}

// namespaceError maps an error of Attach, Detach or Resize; field is the
// one an invalid namespace names unless the error says otherwise.
func namespaceError(err error, field string) *Error {
	e := &Error{Status: http.StatusBadRequest, Field: field, Message: err.Error()}
	switch {
	case errors.Is(err, target.ErrNamespaceExists):
		e.Status, e.Field = http.StatusConflict, "nsid"
	case errors.Is(err, target.ErrNoNamespace):
		e.Status, e.Field = http.StatusNotFound, "nsid"
	case errors.Is(err, target.ErrInvalidNamespace):
	default:
		e.Status, e.Field = http.StatusInternalServerError, ""
	}
	return e
}

func subsystemOf(s *target.Subsystem) Subsystem {
	hosts, anyHost := s.AllowedHosts()
	out := Subsystem{NQN: s.NQN(), MaxNSID: s.MaxNSID(), AllowAnyHost: anyHost, AllowedHosts: hosts, Namespaces: []Namespace{}}
	if hosts == nil {
		out.AllowedHosts = []string{}
	}
	for _, ns := range s.Namespaces() {
		out.Namespaces = append(out.Namespaces, apiNamespace(ns))
	}
	return out
}

// namespaceOf returns namespace nsid of s as it is now; the zero
// Namespace if it was detached meanwhile.
func namespaceOf(s *target.Subsystem, nsid uint32) Namespace {
	for _, ns := range s.Namespaces() {
		if ns.NSID == nsid {
			return apiNamespace(ns)
		}
	}
	return Namespace{}
}

func apiNamespace(ns target.Namespace) Namespace {
	return Namespace{NSID: ns.NSID, Size: ns.Size, BlockSize: ns.BlockSize}
}

// readJSON decodes r's body, one JSON object of at most MaxRequestBytes
// bytes with known fields only, into v; it answers 400 or 413 and returns
// false if it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(new(json.RawMessage)) != io.EOF {
			err = errors.New("more than one JSON value")
		}
	}
	if err == nil {
		return true
	}
	e := &Error{Status: http.StatusBadRequest, Field: "body", Message: err.Error()}
	var tooBig *http.MaxBytesError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		e.Status, e.Message = http.StatusRequestEntityTooLarge, fmt.Sprintf("more than %d bytes", tooBig.Limit)
	case errors.As(err, &typ):
		e.Field, e.Message = typ.Field, fmt.Sprintf("JSON %s is not a %s", typ.Value, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		e.Field, e.Message = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field"
	}
	writeError(w, e)
	return false
}

func writeError(w http.ResponseWriter, e *Error) { writeJSON(w, e.Status, e) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
