// Package control is the control endpoint of a running target.Target:
// HTTP with JSON bodies, served on a unix socket, in the spirit of SPDK's
// RPC socket and of what nvmetcli writes into Linux's configfs. It lists
// the subsystems and ports, attaches, detaches and resizes namespaces,
// and changes a subsystem's allowed hosts and a port's ANA states; each
// change raises on connected hosts what the NVMe specification says it
// raises (see target.Subsystem.Attach, Detach, Resize and AllowHost, and
// target.Target.SetANAState).
//
// # API, version 1
//
//	GET    /v1/subsystems                                 200 []Subsystem
//	GET    /v1/subsystems/{nqn}                           200 Subsystem
//	POST   /v1/subsystems/{nqn}/namespaces                201 Namespace   body AttachRequest
//	PATCH  /v1/subsystems/{nqn}/namespaces/{nsid}         200 Namespace   body ResizeRequest
//	DELETE /v1/subsystems/{nqn}/namespaces/{nsid}         204
//	POST   /v1/subsystems/{nqn}/hosts/{hostnqn}           200 Subsystem
//	DELETE /v1/subsystems/{nqn}/hosts/{hostnqn}           200 Subsystem
//	GET    /v1/ports                                      200 []Port
//	PUT    /v1/ports/{portid}/ana/{grpid}                 200 ANA         body ANARequest
//
// NQNs in paths are path-escaped (url.PathEscape). Request bodies are
// JSON objects of at most MaxRequestBytes bytes with no unknown fields.
// A refused request gets 400 (malformed or invalid), 404 (no such
// subsystem, namespace or host), 405 (method), 409 (NSID in use) or 413
// (body too large) with an Error body naming the field at fault; the
// target goes on serving.
//
// Listen creates the socket with permissions 0600, so that only its owner
// may change the target; Serve serves it, at most MaxConns connections at
// once; Client calls it, as the complchain CLI's "target ctl" verbs do.
package control
