package main

import (
	"cmp"
	"fmt"
	"image/color"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotModes are the series plotBench draws, in the order of their colours
// and shapes.
var plotModes = []string{"async", "ordered", "sync", floorMode, "bound"}

// checkPlotFile fails if --plot names a file of a format it cannot draw.
func checkPlotFile(name string) error {
	if name == "" {
		return nil
	}
	if ext := strings.ToLower(filepath.Ext(name)); ext != ".svg" && ext != ".png" {
		return fmt.Errorf("--plot %q: want a .svg or .png file", name)
	}
	return nil
}

// plotBench draws cells to file, an SVG or PNG image: the median scan
// time of each mode, with its min–max range, the bound and the floor,
// against RTT on log scales. If all cells have one RTT but several
// numbers of namespaces, it draws them against the number of namespaces
// instead. Cells without emulated delay are left out (no log scale holds
// 0).
func plotBench(file string, cells []*benchCell, cpuLoad int) error {
	var (
		rtts []time.Duration
		ns   []int
	)
	for _, c := range cells {
		if c.RTT > 0 {
			if !slices.Contains(rtts, c.RTT) {
				rtts = append(rtts, c.RTT)
			}
			if !slices.Contains(ns, c.Namespaces) {
				ns = append(ns, c.Namespaces)
			}
		}
	}
	if len(rtts) == 0 {
		return fmt.Errorf("--plot: no round-trip time above 0 to draw on a log scale")
	}
	byN := len(rtts) == 1 && len(ns) > 1
	p := plot.New()
	var title []string // short: a viewer without the font may draw it wider
	if byN {
		title = append(title, fmt.Sprintf("RTT %v", rtts[0]))
		p.X.Label.Text = "namespaces"
	} else {
		p.X.Label.Text = "round-trip time (ms)"
		if len(ns) == 1 {
			title = append(title, fmt.Sprintf("%d namespaces", ns[0]))
		}
	}
	if q := cells[0].QueueDepth; q > 0 {
		title = append(title, fmt.Sprintf("queue depth %d", q))
	}
	if cpuLoad > 0 {
		title = append(title, fmt.Sprintf("CPU load %d", cpuLoad))
	}
	p.Title.Text = strings.Join(title, ", ")
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.Text = "scan time (ms)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true // above the slowest at the least x: empty
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	p.Add(plotter.NewGrid())

	// One series per mode, and per number of namespaces when drawn
	// against RTT; the bound of each, taken from any mode's cells.
	type series struct {
		name  string
		cells []*benchCell
	}
	var all []*series
	find := func(name string) *series {
		for _, s := range all {
			if s.name == name {
				return s
			}
		}
		s := &series{name: name}
		all = append(all, s)
		return s
	}
	for _, c := range cells {
		if c.RTT <= 0 {
			continue
		}
		name := c.Mode
		if !byN && len(ns) > 1 {
			name += fmt.Sprintf(", N=%d", c.Namespaces)
		}
		s := find(name)
		s.cells = append(s.cells, c)
		if c.Mode != floorMode {
			b := find(strings.Replace(name, c.Mode, "bound", 1))
			if !slices.ContainsFunc(b.cells, func(o *benchCell) bool { return o.RTT == c.RTT && o.Namespaces == c.Namespaces }) {
				b.cells = append(b.cells, &benchCell{RTT: c.RTT, Namespaces: c.Namespaces, Median: c.Bound, Mode: "bound"})
			}
		}
	}
	x := func(c *benchCell) float64 {
		if byN {
			return float64(c.Namespaces)
		}
		return float64(c.RTT) / 1e6
	}
	var ticks plot.ConstantTicks // at the values measured
	for _, c := range cells {
		if v := x(c); c.RTT > 0 && !slices.ContainsFunc(ticks, func(t plot.Tick) bool { return t.Value == v }) {
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		}
	}
	p.X.Tick.Marker = ticks
	slices.SortStableFunc(all, func(a, b *series) int { // the legend in plotModes order
		return slices.Index(plotModes, a.cells[0].Mode) - slices.Index(plotModes, b.cells[0].Mode)
	})
	for i, s := range all {
		slices.SortFunc(s.cells, func(a, b *benchCell) int { return cmp.Compare(x(a), x(b)) })
		xys := make(plotter.XYs, len(s.cells))
		errs := make(plotter.YErrors, len(s.cells))
		for j, c := range s.cells {
			xys[j] = plotter.XY{X: x(c), Y: float64(c.Median) / 1e6}
			if c.Min > 0 {
				errs[j].Low, errs[j].High = float64(c.Median-c.Min)/1e6, float64(c.Max-c.Median)/1e6
			}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		style := slices.Index(plotModes, s.cells[0].Mode) // a mode looks the same in every plot
		if len(ns) > 1 && !byN {
			style = i
		}
		line.Color = plotutil.Color(style)
		line.Width = vg.Points(1.5)
		points.Color = line.Color
		points.Shape = plotutil.Shape(style)
		switch s.cells[0].Mode {
		case "bound":
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			line.Color, points.Color = color.Gray{Y: 90}, color.Gray{Y: 90}
		case floorMode:
			line.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		}
		p.Add(line, points)
		if s.cells[0].Min > 0 {
			bars, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{xys, errs})
			if err != nil {
				return fmt.Errorf("--plot: %w", err)
			}
			bars.Color = line.Color
			p.Add(bars)
		}
		p.Legend.Add(s.name, line, points)
	}
	p.X.Min, p.X.Max = p.X.Min/1.5, p.X.Max*1.5 // points and labels clear of the edges
	p.Legend.ThumbnailWidth = vg.Points(24)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Padding = vg.Points(1)
	if err := p.Save(16*vg.Centimeter, 11*vg.Centimeter, file); err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	return nil
}
