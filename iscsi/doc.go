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
// only up to the MaxRecvDataSegmentLength this side declared (Limits),
// into a buffer that grows as its bytes arrive;
// text is parsed with bounds on keys, values and pairs (ParseText); a
// protocol violation is a *ProtocolError and ends the connection; a
// digest mismatch is a *DigestError. Errors wrap with %w.
//
// Limits, with their defaults: MaxRecvDataSegmentLength 262144 declared
// (8192 during login), text of one exchange MaxTextLength (1 MiB), keys
// MaxKeyLength (63) and values MaxValueLength (8192) bytes, CHAP
// challenges 1024 bytes; Config.QueueDepth (128) commands in flight and
// Config.MaxDataIn (16 MiB) per command; on the target
// TargetConfig.QueueDepth (128, the CmdSN window), MaxSessions (4096),
// LoginTimeout (15 s), MaxWriteLength (1 MiB), one SendTargets key per
// Text Request; 16 login rounds, 1024 PDUs of one Login or Text
// exchange (C bit); SendTargets names MaxNameLength (223) bytes without
// control characters; every PDU write 30 s. A target's connection reads
// its login through a 4 KiB buffer and its session through one of 64 KiB,
// so that connections that send nothing cost little.
//
// One connection per session (MaxConnections=1) and ErrorRecoveryLevel=0:
// a connection that fails takes its session and its commands with it.
package iscsi
