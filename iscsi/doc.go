// Package iscsi speaks iSCSI (RFC 7143) over TCP: a PDU codec with
// header and data digests, login with CHAP (RFC 1994) and text
// negotiation, SendTargets discovery, an initiator Session that carries
// SCSI commands with several in flight, and a Target that serves the
// emulated hosts of package scsi, one iSCSI target name per host.
//
// In Linux every iSCSI session is a SCSI host; so is a Session here: it
// implements scsi.Transport, and a scsi.Scanner scans a set of targets
// at once, naming their disks in host order.
//
// Every value from the peer is untrusted. A PDU's data segment is read
// only up to the MaxRecvDataSegmentLength this side declared (Limits);
// text is parsed with bounds on keys, values and pairs (ParseText); a
// protocol violation is a *ProtocolError and ends the connection; a
// digest mismatch is a *DigestError. Errors wrap with %w.
//
// One connection per session (MaxConnections=1) and ErrorRecoveryLevel=0:
// a connection that fails takes its session and its commands with it.
package iscsi
