// Package tcp implements the NVMe over TCP transport: the PDU codec, the
// host side of a queue pair (HostQueue) and the controller side of one
// connection (ServeTarget).
//
// # Codec
//
// A PDU is an 8-byte common header (type, flags, HLEN, PDO, PLEN), a
// type-specific header, an optional header digest, optional data and an
// optional data digest. Digests are CRC-32C (Castagnoli), stored
// little-endian, over the HLEN bytes of the header and over the data.
// Reader.Next decodes the common header first and checks, before it reads
// or allocates anything else: the type is known; HLEN is the one of that
// type (128 for ICReq/ICResp, 72 for CapsuleCmd, 24 for the others); the
// header digest flag is present when negotiated; PLEN covers the header
// and its digest and is at most header + 255 bytes of padding + the
// Reader's maximum data + 4 (152 for TermReq); PDO is 0 without data and
// otherwise lies between the end of the header and PLEN. Its buffer is
// reused, so a PDU's slices are valid only until the next call, and it never
// holds more than that bound whatever PLEN claims; a PDU larger than its
// 64 KiB buffer is read into one that grows as the bytes arrive, so a
// header whose PLEN announces more data than is sent costs a few KiB.
// That buffer, up to 160 KiB (an H2CData of the default MAXH2CDATA fits),
// is given back to a pool shared by all Readers at the next call, so
// that a connection between such PDUs holds its 64 KiB only; the next
// large PDU takes one from the pool only if it is no larger than what
// has arrived of the PDU would grow (2.5 times). A larger buffer stays
// with its Reader for the next PDU (growing one each time would cost as
// much again in allocations): a connection that once received a PDU of
// more than 160 KiB keeps that much until it ends. Digests are verified
// once the PDU is in: a header digest error is fatal (FES 03h), a data
// digest error is not (Next returns the PDU with ErrDataDigest).
//
// Writers append to a caller's buffer: AppendICReq, AppendICResp,
// AppendTermReq, and the methods of Digests (AppendCapsuleCmd,
// AppendCapsuleResp, AppendData for H2CData, C2HData and R2T), which set
// the digest flags, PDO and PLEN. Encoding and decoding a capsule allocate
// nothing; they reproduce byte for byte the PDUs Linux sends (testdata
// holds real captures).
//
// # Host queue
//
// NewHostQueue sends ICReq and checks ICResp as Linux does: PFV 0, digests
// exactly as requested, CPDA 0, MAXH2CDATA a multiple of 4 and at least
// 4096. Do then runs commands concurrently, up to HostConfig.Depth: it
// assigns a free command identifier (one whose caller gave up stays taken
// until the controller answers), sets the SGL (in-capsule data for writes
// up to InCapsuleSize and always for fabrics commands, such as Connect's
// 1024 bytes; a transport data block otherwise), and one reader goroutine
// matches completions in any order, copies C2HData into the caller's buffer
// (offsets must follow each other within the buffer; a DATA_SUCCESS flag,
// valid only with LAST_PDU, completes the command) and answers R2T with
// H2CData PDUs of at most MAXH2CDATA bytes (R2Ts must not be empty, reach
// past the data or go back over data already asked for, as in Linux). One
// writer goroutine sends everything queued since its last write in a
// single write.
//
// What a command transferred is checked when it completes: a success after
// fewer C2HData bytes than the read's buffer, or after R2Ts for less than
// the write's data, fails that command with ErrShortTransfer, and the part
// of the buffer not received is zeroed, so a reused buffer never passes
// its old bytes off as new ones. A C2HData PDU whose data digest does not
// match fails its command with Transient Transport Error (NVMe/TCP
// 7.4.6.1, and as Linux has done since 2021 rather than resetting the
// connection); the queue and the other commands go on.
//
// # Target
//
// ServeTarget answers ICReq (PFV 0, HPDA 0, digests as asked; the ICReq is
// read with a 128-byte buffer, so a connection that sends nothing costs
// little, and later PDUs through one of 4 KiB until a Connect succeeded,
// then of 64 KiB), then reads nothing after a Connect until its handler
// answered:
// before a Connect succeeded, every other command completes with Command
// Sequence Error and no data moves, and the queue's ID and size come from
// the accepted Connect only. It reads capsules, gathers write data
// (in-capsule with a Data Block descriptor with offset, or one R2T per
// command for the whole transfer, so at most one R2T per command is
// outstanding whatever the host's MAXR2T, then H2CData PDUs in order, each
// at most MAXH2CDATA), calls the Handler in a goroutine per command and
// sends C2HData PDUs of at most MaxC2HData bytes, then the CapsuleResp
// with CID, SQID and SQHead filled in (SQHead counts fetched commands
// modulo the queue size). It does not use the DATA_SUCCESS optimisation.
// A command that moves no data (SGL length 0) is executed whatever its
// descriptor type, as Linux's nvmet does; in-capsule data with any
// descriptor but 01h fails the command with SGL Descriptor Type Invalid; a
// second ICReq is a PDU Sequence Error. Write data, in-capsule or H2CData,
// whose data digest does not match fails its command with Transient
// Transport Error (no DNR) without running the handler, and the
// connection goes on, as the host side does for C2HData (Linux's nvmet
// resets the connection instead).
//
// Limits: InCapsuleSize, MaxH2CData, MaxTransfer (a larger command fails
// with StatusInvalidField), MaxOutstanding executing commands (beyond
// which it stops reading) and as many writes waiting for data (beyond
// which the host is cut off with FESDataLimit); ConnectTimeout until a
// Connect succeeded and DataTimeout from an R2T to its last H2CData; a
// WriteBudget of write buffers per connection and a shared Budget across
// connections, for which writes wait with their R2T unsent; and 4 MiB of
// responses queued for a host that does not read them, beyond which the
// handlers wait. Write buffers come from pools by size class and go back
// when a write has executed or the connection ends.
//
// Fault knobs for tests: TargetConfig.MalformedAfter sends a PDU with an
// invalid HLEN in place of a response, TargetConfig.DropAfter closes the
// connection without a word when a command beyond that count arrives
// (ServeTarget then returns ErrDropped).
//
// # Errors
//
// A protocol violation is a *TermError carrying the fatal error status
// (FES) and the offset of the offending header field, like the ConnectionError
// of golang.org/x/net/http2. The side that detects it sends a TermReq with
// them and closes the connection; a TermReq from the peer becomes a
// *TermError with Remote set. A HostQueue that stops fails every
// outstanding and later command with the same error: a *TermError, an
// error wrapping io.ErrUnexpectedEOF or the network error when the peer
// vanished or stopped mid-PDU, or ErrClosed after Close. A command the
// controller failed returns its nvme.Status. Match them with errors.As and
// errors.Is.
//
// Once a Wait returns, the command's data buffer is the caller's: a Wait
// that gives up (its context, the queue stopping) abandons the command,
// and the reader writes nothing more into the buffer, even from PDUs it
// read before the connection closed. A command that timed out keeps its
// command identifier until both its answer and its Wait are in, so a late
// answer never completes the next command given the identifier.
package tcp
