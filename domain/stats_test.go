package domain_test

import (
	"testing"
	"time"

	"siteinspect/domain"
)

// TestPercentile pins the interpolation the figures use (linear between
// the closest ranks), checked by hand.
func TestPercentile(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		p    float64
		want float64
	}{
		{nil, 50, 0},
		{[]float64{7}, 90, 7},
		{[]float64{11.5, 0.5, 3, 2}, 50, 2.5},  // unsorted; mean of the middle two
		{[]float64{0.5, 2, 3, 11.5}, 90, 8.95}, // 3 + 0.7 × 8.5
		{[]float64{4, 1.5, 1, 0.5, 1}, 50, 1},  // odd count: the middle one
		{[]float64{4, 1.5, 1, 0.5, 1}, 90, 3},  // 1.5 + 0.6 × 2.5
		{[]float64{1, 2, 3}, 100, 3},
		{[]float64{1, 2, 3}, 0, 1},
	} {
		if got := domain.Round2(domain.Percentile(c.v, c.p)); got != c.want {
			t.Errorf("Percentile(%v, %v): got %v, want %v", c.v, c.p, got, c.want)
		}
	}
	v := []float64{3, 1, 2}
	domain.Percentile(v, 50)
	if v[0] != 3 || v[1] != 1 || v[2] != 2 {
		t.Errorf("Percentile reordered its input: %v", v)
	}
	got := domain.Summarize([]time.Duration{90 * time.Minute, 30 * time.Minute})
	if want := (domain.Durations{Count: 2, Median: 1, P90: 1.4}); got != want {
		t.Errorf("Summarize: got %+v, want %+v", got, want)
	}
}
