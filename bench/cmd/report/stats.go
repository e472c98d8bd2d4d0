package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Summary is the spread of one figure over its samples.
type Summary struct {
	N                   int
	Median, P99         float64
	Min, Max, P10, P90  float64
	Unit                string
	MedianAbsDeviation  float64
	RelativeSpreadRange float64 // (max-min)/median
}

// summarize sorts a copy of xs and returns its order statistics. p99 is
// the nearest-rank percentile, so below 100 samples it is the largest
// sample but one at most, and below 50 the largest: the report says so.
func summarize(xs []float64, unit string) Summary {
	if len(xs) == 0 {
		return Summary{Unit: unit}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := quantile(s, 0.5)
	dev := make([]float64, len(s))
	for i, x := range s {
		dev[i] = math.Abs(x - med)
	}
	slices.Sort(dev)
	out := Summary{N: len(s), Median: med, P99: nearestRank(s, 0.99), Min: s[0], Max: s[len(s)-1],
		P10: quantile(s, 0.1), P90: quantile(s, 0.9), Unit: unit, MedianAbsDeviation: quantile(dev, 0.5)}
	if med != 0 {
		out.RelativeSpreadRange = (out.Max - out.Min) / math.Abs(med)
	}
	return out
}

// quantile interpolates linearly between order statistics of sorted s.
func quantile(s []float64, q float64) float64 {
	if len(s) == 1 {
		return s[0]
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// nearestRank is the smallest sample with at least q of the samples at or
// below it.
func nearestRank(s []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// num formats a value with a precision that suits its size.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case v == math.Trunc(v) && a < 1e7:
		return fmt.Sprintf("%.0f", v)
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// cells renders a summary as table cells: n | median | p99 | min–max | MAD.
func (s Summary) cells() string {
	if s.N == 0 {
		return "0 | – | – | – | –"
	}
	return fmt.Sprintf("%d | %s | %s | %s–%s | %s", s.N, num(s.Median), num(s.P99), num(s.Min), num(s.Max), num(s.MedianAbsDeviation))
}
