package main

import (
	"bufio"
	"fmt"
	"io"
	"math/big"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/fabric"
	"github.com/complchain/complchain/nvme/scan"
)

// nvmeCLIVersion is the nvme-cli release whose "nvme list" table
// printTable reproduces byte for byte.
const nvmeCLIVersion = "2.16"

// listColumns are the columns of nvme-cli's "nvme list" table and their
// least widths (nvme-print-stdout.c, stdout_simple_list).
var listColumns = [...]struct {
	name  string
	width int
}{{"Node", 21}, {"Generic", 21}, {"SN", 20}, {"Model", 40}, {"Namespace", 10}, {"Usage", 26}, {"Format", 16}, {"FW Rev", 8}}

// listCtrl is a controller's identity and namespaces, as the listings
// print them.
type listCtrl struct {
	id  *nvme.IdentifyController
	nss []*scan.Namespace
}

// listOf returns the listing of each controller, in instance order.
func listOf(ctrls []*fabric.Controller) []listCtrl {
	out := make([]listCtrl, len(ctrls))
	for i, c := range ctrls {
		out[i] = listCtrl{c.Ctrl.IdentifyController(), c.Scanner.Namespaces()}
	}
	return out
}

// printTable prints the namespaces of ctrls as nvme-cli 2.16's "nvme
// list" does: a row per namespace in byte order of the device name
// (nvme0n1, nvme0n10, nvme0n2, nvme1n1), each cell left-aligned and
// padded to its column's width, a column as wide as its widest cell and
// at least its least width, one space between columns, the last column
// padded too. Serial, model and firmware are each controller's, as the
// kernel's sysfs values as libnvme reads them: up to the first NUL, less
// trailing spaces (nvme-cli itself fails on an empty one; here the cell is
// empty), and, unlike nvme-cli, with bytes a terminal would act on
// escaped (printable).
func printTable(w io.Writer, ctrls []listCtrl) error {
	// Each controller's SN, Model and FW Rev cells, worked out once.
	ids := make([][3]string, len(ctrls))
	type row struct {
		ns    *scan.Namespace
		ctrl  int
		cells [2]string // Usage and Format
	}
	var all []row
	for i := range ctrls {
		id := ctrls[i].id
		ids[i] = [3]string{printable(libnvmeAttr(id.SerialNumber)), printable(libnvmeAttr(id.ModelNumber)), printable(libnvmeAttr(id.Firmware))}
		for _, ns := range ctrls[i].nss {
			all = append(all, row{ns: ns, ctrl: i})
		}
	}
	slices.SortFunc(all, func(a, b row) int { return strings.Compare(a.ns.Name, b.ns.Name) })
	// The widths come from the cells' lengths; the cells but Usage and
	// Format are written from their parts.
	var last listCells
	var width [len(listColumns)]int
	for i, c := range listColumns {
		width[i] = c.width
	}
	for r := range all {
		a := &all[r]
		ns, id := a.ns, &ids[a.ctrl]
		a.cells = last.of(ns)
		lens := [len(listColumns)]int{len("/dev/") + len(ns.Name), len("/dev/") + len(ns.Generic), len(id[0]), len(id[1]),
			len("0x") + hexDigits(ns.NSID), len(a.cells[0]), len(a.cells[1]), len(id[2])}
		for i, n := range lens {
			width[i] = max(width[i], n)
		}
	}
	bw := bufio.NewWriter(w)
	// cell writes column i's cell, made of a and b, padded to its width.
	cell := func(i int, a, b string) {
		if i > 0 {
			bw.WriteByte(' ')
		}
		bw.WriteString(a)
		bw.WriteString(b)
		for n := len(a) + len(b); n < width[i]; n++ {
			bw.WriteByte(' ')
		}
	}
	for i, c := range listColumns {
		cell(i, c.name, "")
	}
	bw.WriteByte('\n')
	for i := range listColumns {
		cell(i, strings.Repeat("-", width[i]), "")
	}
	bw.WriteByte('\n')
	var nsid [8]byte
	for _, a := range all {
		ns, id := a.ns, &ids[a.ctrl]
		cell(0, "/dev/", ns.Name)
		cell(1, "/dev/", ns.Generic)
		cell(2, id[0], "")
		cell(3, id[1], "")
		bw.WriteString(" 0x")
		n, _ := bw.Write(strconv.AppendUint(nsid[:0], uint64(ns.NSID), 16))
		for n += len("0x"); n < width[4]; n++ {
			bw.WriteByte(' ')
		}
		cell(5, a.cells[0], "")
		cell(6, a.cells[1], "")
		cell(7, id[2], "")
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// hexDigits returns the number of lower-case hex digits of v ("%x").
func hexDigits(v uint32) int { return max(1, (bits.Len32(v)+3)/4) }

// listCells holds the Usage and Format cells of the namespace before:
// a target's namespaces are mostly alike, and each cell costs a division
// in 64-bit precision or a Sprintf.
type listCells struct {
	used, size        uint64
	blockSize         uint32
	metadata          uint16
	ok                bool
	usage, formatCell string
}

// of returns ns's Usage and Format cells, worked out anew only where ns
// differs from the namespace before.
func (c *listCells) of(ns *scan.Namespace) [2]string {
	if !c.ok || ns.Used != c.used || ns.Size != c.size || ns.BlockSize != c.blockSize {
		c.usage = listUsage(ns)
	}
	if !c.ok || ns.BlockSize != c.blockSize || ns.MetadataSize != c.metadata {
		c.formatCell = listFormat(ns)
	}
	c.used, c.size, c.blockSize, c.metadata, c.ok = ns.Used, ns.Size, ns.BlockSize, ns.MetadataSize, true
	return [2]string{c.usage, c.formatCell}
}

// libnvmeAttr returns an Identify Controller string as libnvme reads it
// from sysfs: the kernel prints the field up to its first NUL, and libnvme
// cuts trailing spaces.
func libnvmeAttr(field string) string {
	s, _, _ := strings.Cut(field, "\x00")
	return strings.TrimRight(s, " ")
}

// listUsage is the Usage cell: NUSE and NSZE in bytes with SI prefixes,
// "%6.2f %2sB / %6.2f %2sB", e.g. "  1.07  GB /   1.07  GB".
func listUsage(ns *scan.Namespace) string {
	bs := uint64(ns.BlockSize)
	// nvme-cli multiplies in 64-bit unsigned arithmetic, then converts.
	used, usuf := siScale(float64(ns.Used * bs))
	size, ssuf := siScale(float64(ns.Size * bs))
	return fmt.Sprintf("%6.2f %2sB / %6.2f %2sB", used, usuf, size, ssuf)
}

// listFormat is the Format cell: the block size with a binary prefix,
// rounded to the nearest unit, and the metadata size,
// "%3.0f %2sB + %2d B", e.g. "512   B +  0 B" or "  4 KiB +  0 B".
func listFormat(ns *scan.Namespace) string {
	v, suf := int64(ns.BlockSize), ""
	for _, p := range []struct {
		shift  uint
		suffix string
	}{{50, "Pi"}, {40, "Ti"}, {30, "Gi"}, {20, "Mi"}, {10, "Ki"}} {
		if v >= 1<<p.shift {
			v, suf = (v+1<<(p.shift-1))>>p.shift, p.suffix
			break
		}
	}
	return fmt.Sprintf("%3.0f %2sB + %2d B", float64(v), suf, ns.MetadataSize)
}

// siMagnitudes are nvme-cli's SI prefixes (util/suffix.c), largest first.
var siMagnitudes = [...]struct {
	magnitude float64
	suffix    string
}{{1e30, "Q"}, {1e27, "R"}, {1e24, "Y"}, {1e21, "Z"}, {1e18, "E"}, {1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}}

// siScale divides v by the largest SI magnitude not above it and returns
// the quotient and the prefix, as nvme-cli's suffix_si_get: the division
// is done in x86-64 long double (a 64-bit significand), then rounded to a
// double.
func siScale(v float64) (float64, string) {
	for _, m := range siMagnitudes {
		if v >= m.magnitude {
			q := new(big.Float).SetPrec(64).Quo(new(big.Float).SetFloat64(v), new(big.Float).SetFloat64(m.magnitude))
			f, _ := q.Float64()
			return f, m.suffix
		}
	}
	return v, ""
}

// siSize formats n bytes as nvme-cli's Usage column does, e.g. "  1.07  GB".
func siSize(n uint64) string {
	v, suf := siScale(float64(n))
	return fmt.Sprintf("%6.2f %2sB", v, suf)
}
