package control

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/complchain/complchain/nvme/target"
)

// FuzzRequest sends any method, path and body to the handler: the answer
// is one of the API's statuses, a refusal carries an Error of the same
// status, and the namespaces stay valid.
func FuzzRequest(f *testing.F) {
	base := "/v1/subsystems/" + subNQN
	f.Add("GET", "/v1/subsystems", "")
	f.Add("POST", base+"/namespaces", `{"nsid":3,"size":4096,"block_size":4096}`)
	f.Add("PATCH", base+"/namespaces/1", `{"size":-1}`)
	f.Add("PATCH", base+"/namespaces/1", `{"size":1e30}`)
	f.Add("DELETE", base+"/namespaces/4294967295", "")
	f.Add("POST", base+"/hosts/nqn.%00x", "")
	f.Add("DELETE", base+"/hosts/%2F", "")
	f.Add("POST", base+"/namespaces", `{"nsid":3}{"nsid":4}`)
	f.Add("PUT", "/v1/ports", "[]")
	f.Add("PUT", "/v1/ports/1/ana/1", `{"state":"inaccessible"}`)
	tg, err := target.New(target.Config{NQN: subNQN, Namespaces: 2, NamespaceSize: 1 << 20, MaxNSID: 16})
	if err != nil {
		f.Fatal(err)
	}
	defer tg.Close()
	h := NewHandler(tg)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(method, " \t\r\n") || method == "" {
			return
		}
		u, err := url.ParseRequestURI(path)
		if err != nil || u.Host != "" {
			return
		}
		req := httptest.NewRequest("GET", "http://control/", strings.NewReader(body))
		req.Method, req.URL, req.RequestURI = method, u, path
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch st := w.Code; st {
		case 200, 201, 204:
		case 301, 307, 308, 405: // ServeMux's own answers: cleaned paths, methods
		case 400, 404, 409, 413:
			var e Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Status != st || e.Message == "" {
				t.Fatalf("%s %s: %d with body %q", method, path, st, w.Body)
			}
		default:
			t.Fatalf("%s %s: status %d (%s)", method, path, st, w.Body)
		}
		for _, ns := range tg.Namespaces() {
			if ns.NSID == 0 || ns.NSID > 16 || ns.Size == 0 || ns.Size%uint64(ns.BlockSize) != 0 {
				t.Fatalf("after %s %s: namespace %+v", method, path, ns)
			}
		}
	})
}
