// Package stats turns recorded latencies into the percentiles a load test
// reports.
package stats

import (
	"math"
	"slices"
)

// Summary is a latency distribution in milliseconds.
type Summary struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted: the smallest value that at least p% of the values do not exceed.
// Nearest rank never invents a value that was not measured, which keeps
// p999 of a few thousand samples honest (it is the maximum then).
func Percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps 99.9/100*1000 (999.0000000000001 in floats) at 999.
	rank := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Summarize sorts micros (latencies in microseconds) in place and returns
// their distribution in milliseconds.
func Summarize(micros []int64) Summary {
	if len(micros) == 0 {
		return Summary{}
	}
	slices.Sort(micros)
	var sum float64
	for _, v := range micros {
		sum += float64(v)
	}
	ms := func(us int64) float64 { return math.Round(float64(us)) / 1000 }
	return Summary{
		N:    len(micros),
		P50:  ms(Percentile(micros, 50)),
		P90:  ms(Percentile(micros, 90)),
		P99:  ms(Percentile(micros, 99)),
		P999: ms(Percentile(micros, 99.9)),
		Max:  ms(micros[len(micros)-1]),
		Mean: math.Round(sum/float64(len(micros))) / 1000,
	}
}
