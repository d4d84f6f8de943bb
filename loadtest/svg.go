package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Inline SVG charts for report.html: the report is one file that opens
// anywhere, with no script and no CDN.

type series struct {
	Name string
	Pts  [][2]float64 // x, y
}

// palette is distinguishable for the common colour blindnesses (Okabe-Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"}

const (
	chartW, chartH             = 1100, 320
	padL, padR, padT, padB     = 90, 20, 40, 50
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	legendRowH, legendFontSize = 20, 14
)

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var t []float64
	// The last tick is at or above hi, so nothing is drawn past the top.
	for v := math.Floor(lo/step) * step; ; v += step {
		t = append(t, v)
		if v >= hi-step*1e-9 {
			return t
		}
	}
}

// fmtNum writes axis labels short: 15000 → 15k, 2.5e6 → 2.5M.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimZero(fmt.Sprintf("%.1f", v/1e9)) + "G"
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case a >= 1e4:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a >= 10 || v == 0:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return trimZero(fmt.Sprintf("%.1f", v))
	}
	return trimZero(fmt.Sprintf("%.3f", v))
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// lineChart draws series over a shared x axis (seconds).
func lineChart(title, xLabel, yLabel string, ss []series) string {
	var maxX, maxY float64
	n := 0
	for _, s := range ss {
		for _, p := range s.Pts {
			maxX, maxY = math.Max(maxX, p[0]), math.Max(maxY, p[1])
			n++
		}
	}
	if n == 0 || maxY == 0 {
		return emptyChart(title)
	}
	xt, yt := niceTicks(0, maxX, 10), niceTicks(0, maxY*1.05, 5)
	maxX, maxY = xt[len(xt)-1], yt[len(yt)-1]
	x := func(v float64) float64 { return padL + v/maxX*plotW }
	y := func(v float64) float64 { return padT + plotH - v/maxY*plotH }
	var b strings.Builder
	h := chartH + 10 + legendRowH*((len(ss)+2)/3)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif">`, chartW, h, chartW, h)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="18" font-weight="bold">%s</text>`, padL, html.EscapeString(title))
	axes(&b, xt, yt, x, y, xLabel, yLabel)
	for i, s := range ss {
		var pts []string
		for _, p := range s.Pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p[0]), y(p[1])))
		}
		c := palette[i%len(palette)]
		// Later series dashed: two runs with the same curve (both held
		// 15,000 connections) stay both visible.
		dash := ""
		if i > 0 {
			dash = fmt.Sprintf(` stroke-dasharray="%d 6"`, 6+4*(i%3))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.5"%s points="%s"/>`, c, dash, strings.Join(pts, " "))
		legend(&b, i, s.Name, c)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func axes(b *strings.Builder, xt, yt []float64, x, y func(float64) float64, xLabel, yLabel string) {
	for _, v := range yt {
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, padL, padL+plotW, y(v), y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="13" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-8, y(v), fmtNum(v))
	}
	for _, v := range xt {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="13" text-anchor="middle">%s</text>`, x(v), padT+plotH+18, fmtNum(v))
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#333"/>`, padL, padL+plotW, padT+plotH, padT+plotH)
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#333"/>`, padL, padL, padT, padT+plotH)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="14" text-anchor="middle">%s</text>`, padL+plotW/2, padT+plotH+40, html.EscapeString(xLabel))
	fmt.Fprintf(b, `<text transform="translate(20 %d) rotate(-90)" font-size="14" text-anchor="middle">%s</text>`, padT+plotH/2, html.EscapeString(yLabel))
}

func legend(b *strings.Builder, i int, name, color string) {
	lx := padL + (i%3)*(plotW/3)
	// Below the x axis label, one row per three series.
	ly := chartH + 4 + legendRowH*(i/3)
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="18" height="6" fill="%s"/>`, lx, ly-6, color)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="%d">%s</text>`, lx+24, ly, legendFontSize, html.EscapeString(name))
}

// barChart draws groups of bars: for each category (x), one bar per
// series, with the value written above it.
func barChart(title, yLabel string, cats []string, names []string, vals [][]float64) string {
	maxY := 0.0
	for _, row := range vals {
		for _, v := range row {
			maxY = math.Max(maxY, v)
		}
	}
	if maxY == 0 || len(cats) == 0 {
		return emptyChart(title)
	}
	yt := niceTicks(0, maxY*1.1, 5)
	maxY = yt[len(yt)-1]
	y := func(v float64) float64 { return padT + plotH - v/maxY*plotH }
	groupW := float64(plotW) / float64(len(cats))
	barW := groupW * 0.8 / float64(max(len(names), 1))
	var b strings.Builder
	h := chartH + 10 + legendRowH*((len(names)+2)/3)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif">`, chartW, h, chartW, h)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="18" font-weight="bold">%s</text>`, padL, html.EscapeString(title))
	x := func(v float64) float64 { return padL + v }
	axes(&b, nil, yt, x, y, "", yLabel)
	for ci, cat := range cats {
		gx := padL + groupW*float64(ci) + groupW*0.1
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="13" text-anchor="middle">%s</text>`, padL+groupW*(float64(ci)+0.5), padT+plotH+18, html.EscapeString(cat))
		for si := range names {
			v := vals[si][ci]
			bx := gx + barW*float64(si)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, bx, y(v), barW-2, padT+plotH-y(v), palette[si%len(palette)])
			if v > 0 && barW >= 24 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" text-anchor="middle">%s</text>`, bx+barW/2, y(v)-4, fmtNum(v))
			}
		}
	}
	for si, n := range names {
		legend(&b, si, n, palette[si%len(palette)])
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func emptyChart(title string) string {
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d 60" width="%d" height="60" font-family="sans-serif"><text x="%d" y="24" font-size="18" font-weight="bold">%s</text><text x="%d" y="48" font-size="14" fill="#666">no data in this run</text></svg>`,
		chartW, chartW, padL, html.EscapeString(title), padL)
}
