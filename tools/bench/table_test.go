package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestHotShare(t *testing.T) {
	for _, tc := range []struct {
		counts []int64
		want   string
	}{
		{[]int64{91, 83, 83, 83, 83, 83, 83, 83, 83, 83, 83, 79}, "9.1% (1/12 = 8.3%)"},
		{[]int64{10, 10, 10, 10}, "25.0% (1/4 = 25.0%)"},
		{[]int64{0, 0, 30, 0, 0, 0}, "100.0% (1/6 = 16.7%)"},
		{[]int64{0, 0}, "-"},
		{nil, "-"},
	} {
		if got := HotShare(tc.counts); got != tc.want {
			t.Errorf("HotShare(%v) = %q, want %q", tc.counts, got, tc.want)
		}
	}
}

func TestFormatSplit(t *testing.T) {
	for _, tc := range []struct {
		split []int
		want  string
	}{
		{[]int{4, 4, 4}, "4/4/4"},
		{[]int{12}, "12"},
		{[]int{7, 5}, "7/5"},
		{nil, "-"},
	} {
		if got := FormatSplit(tc.split); got != tc.want {
			t.Errorf("FormatSplit(%v) = %q, want %q", tc.split, got, tc.want)
		}
	}
}

func TestCPUPerThousand(t *testing.T) {
	got := CPUPerThousand([]time.Duration{2 * time.Second, 500 * time.Millisecond, time.Second}, []float64{10000, 2500, 0})
	if got != "0.200/0.200/-" {
		t.Errorf("got %q", got)
	}
	if got := CPUPerThousand([]time.Duration{time.Second}, nil); got != "-" {
		t.Errorf("without counts: %q", got)
	}
}

func TestTablesPrintSkeletonAndScaleOut(t *testing.T) {
	loop := []int64{10, 10, 10, 10}
	run := func(n int, elapsed time.Duration) GroupRun {
		r := GroupRun{Instances: n, Elapsed: elapsed, Processor: elapsed, Loop: loop, TableWrites: 60, Verified: "ok"}
		for i := 0; i < n; i++ {
			r.CPU = append(r.CPU, time.Second)
			r.PeakRSS = append(r.PeakRSS, 100<<20)
			r.Processed = append(r.Processed, float64(40/n))
			r.Split = append(r.Split, 4/n)
		}
		return r
	}
	sk := run(1, time.Second/4)
	rows := []Row{{Service: "inventory-service", Mode: "processor only", Events: 40, Bare: time.Second / 10,
		P50: math.NaN(), P99: math.NaN(), Main: run(1, time.Second), Skeleton: &sk, Scale: []GroupRun{run(1, time.Second), run(2, time.Second/2)}}}
	var b bytes.Buffer
	Table(&b, rows)
	out := b.String()
	for _, want := range []string{
		"| inventory-service | processor only | 40 | 40 | 400 | 10% | 40 | 0 | 0.0 s | - | - | 100 MiB | ok |",
		"| inventory-service | 40 | 40 | 160 | 40 | 0.25× | 1.00× | 40% | 25.0% (1/4 = 25.0%) | 25.0% (1/4 = 25.0%) | 1.50 / 1.50 | 1.00 / 1.00 |",
		"| inventory-service | 2 | 80 | 2.00× | 2/2 | 20/20 | 50.000/50.000 | 20 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n|---"); n != 3 {
		t.Errorf("%d tables, want 3:\n%s", n, out)
	}
}
