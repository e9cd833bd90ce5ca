package control

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/target"
)

// ANA is the Asymmetric Namespace Access state of ANA group GRPID through
// port PORTID: "optimized", "non-optimized", "inaccessible",
// "persistent-loss" or "change", as nvme-cli and Linux's configfs name
// them.
type ANA struct {
	PortID uint16 `json:"portid"`
	GRPID  uint32 `json:"grpid"`
	State  string `json:"state"`
}

// ANARequest sets an ANA state (see ANA).
type ANARequest struct {
	State string `json:"state"`
}

// setANA serves PUT /v1/ports/{portid}/ana/{grpid}.
func (h *handler) setANA(w http.ResponseWriter, r *http.Request) {
	v := r.PathValue("portid")
	port, err := strconv.ParseUint(v, 10, 16)
	if err != nil || port == 0 {
		writeError(w, &Error{Status: http.StatusBadRequest, Field: "portid", Message: fmt.Sprintf("%q is not a PORTID (1..65535)", v)})
		return
	}
	v = r.PathValue("grpid")
	grp, err := strconv.ParseUint(v, 10, 32)
	if err != nil || grp == 0 || grp > target.MaxANAGroups {
		writeError(w, &Error{Status: http.StatusBadRequest, Field: "grpid", Message: fmt.Sprintf("%q is not an ANA group (1..%d)", v, target.MaxANAGroups)})
		return
	}
	var req ANARequest
	if !readJSON(w, r, &req) {
		return
	}
	st, err := nvme.ParseANAState(req.State)
	if err != nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Field: "state", Message: err.Error()})
		return
	}
	// The group and state are valid: SetANAState refuses only a port
	// not served.
	if err := h.t.SetANAState(uint16(port), uint32(grp), st); err != nil {
		writeError(w, &Error{Status: http.StatusNotFound, Field: "portid", Message: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, ANA{PortID: uint16(port), GRPID: uint32(grp), State: st.String()})
}

// SetANAState sets the ANA state of group grpid through port portID
// ("optimized", "non-optimized", "inaccessible", "persistent-loss",
// "change"); hosts connected through the port get the ANA change notice.
func (c *Client) SetANAState(ctx context.Context, portID uint16, grpid uint32, state string) (ANA, error) {
	var out ANA
	path := "/v1/ports/" + strconv.FormatUint(uint64(portID), 10) + "/ana/" + strconv.FormatUint(uint64(grpid), 10)
	return out, c.do(ctx, http.MethodPut, path, ANARequest{State: state}, &out)
}
