package stats

import "testing"

func TestPercentile(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1) // 1..100
	}
	cases := []struct {
		in   []int64
		p    float64
		want int64
	}{
		{nil, 50, 0},
		{[]int64{7}, 50, 7},
		{[]int64{7}, 99.9, 7},
		{hundred, 50, 50},
		{hundred, 99, 99},
		{hundred, 99.9, 100},
		{hundred, 100, 100},
		{hundred, 0.1, 1},
		{[]int64{1, 2, 3, 4}, 50, 2},
		{[]int64{1, 2, 3, 4}, 51, 3},
	}
	for _, c := range cases {
		if got := Percentile(c.in, c.p); got != c.want {
			t.Errorf("p%v of %d values: got %d want %d", c.p, len(c.in), got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	us := make([]int64, 0, 1000)
	for i := 1000; i >= 1; i-- { // unsorted on purpose
		us = append(us, int64(i)*1000) // 1..1000 ms
	}
	s := Summarize(us)
	if s.N != 1000 || s.P50 != 500 || s.P90 != 900 || s.P99 != 990 || s.P999 != 999 || s.Max != 1000 || s.Mean != 500.5 {
		t.Errorf("got %+v", s)
	}
	if (Summarize(nil) != Summary{}) {
		t.Error("empty input must give the zero summary")
	}
	if s := Summarize([]int64{1500}); s.P50 != 1.5 {
		t.Errorf("microseconds to ms: got %v", s.P50)
	}
}
