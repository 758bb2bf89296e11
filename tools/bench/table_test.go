package bench

import (
	"bytes"
	"math"
	"slices"
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
	rep := Rep{Bare: time.Second / 10, Main: run(1, time.Second), Skeleton: &sk}
	rows := []Row{{Service: "inventory-service", Mode: "processor only", Events: 40, Reps: []Rep{rep},
		P50: math.NaN(), P99: math.NaN(), Scale: []GroupRun{run(1, time.Second), run(2, time.Second/2)}}}
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
	if !strings.HasPrefix(out, "| service |") {
		t.Errorf("a note above the tables of one repetition:\n%s", out)
	}
	if n := strings.Count(out, "\n|---"); n != 3 {
		t.Errorf("%d tables, want 3:\n%s", n, out)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{0.56, 0.78, 0.74}, 0.74},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
		{[]float64{5, 1}, 3},
	} {
		xs := slices.Clone(tc.xs)
		if got := Median(xs); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
		if !slices.Equal(xs, tc.xs) {
			t.Errorf("Median reordered its argument: %v", xs)
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}

// repsOf are repetitions over 100 events at these service (processor) and
// skeleton events/s, each with peak RSS rss[i] MiB and result ok.
func repsOf(service, skeleton []float64, rss []int64) []Rep {
	var reps []Rep
	for i := range service {
		sk := GroupRun{Elapsed: time.Duration(100 / skeleton[i] * float64(time.Second)), CPU: []time.Duration{time.Second}}
		reps = append(reps, Rep{Bare: time.Second / 10, Skeleton: &sk, Main: GroupRun{
			Elapsed: time.Second, Processor: time.Duration(100 / service[i] * float64(time.Second)),
			CPU: []time.Duration{time.Second}, PeakRSS: []int64{rss[i] << 20}, Verified: "7 products' stock in the group table = oracle"}})
	}
	return reps
}

func TestSummarizeTakesTheMedianOfEachRepetitionsRatio(t *testing.T) {
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	// Odd: service 100, 200, 400/s against skeleton 100, 400, 500/s: the
	// ratios 1.0, 0.5, 0.8 have the median 0.8; the ratio of the medians
	// would be 200/400 = 0.5.
	s := Summarize(Row{Events: 100, Reps: repsOf([]float64{100, 200, 400}, []float64{100, 400, 500}, []int64{90, 120, 100})})
	if !near(s.Ratio, 0.8) || !near(s.RatioMin, 0.5) || !near(s.RatioMax, 1) {
		t.Errorf("odd: ratio %v (%v-%v), want 0.8 (0.5-1)", s.Ratio, s.RatioMin, s.RatioMax)
	}
	if !near(s.ProcessorRate, 200) || !near(s.SkeletonRate, 400) {
		t.Errorf("odd: rates %v / %v, want 200 / 400", s.ProcessorRate, s.SkeletonRate)
	}
	if s.PeakRSS != 120<<20 {
		t.Errorf("odd: peak RSS %d MiB, want the largest, 120", s.PeakRSS>>20)
	}
	// Even: a fourth at 100 against 50/s: the ratios 1.0, 0.5, 0.8, 2.0
	// have the median 0.9; the medians 150 and 250 would give 0.6.
	s = Summarize(Row{Events: 100, Reps: repsOf([]float64{100, 200, 400, 100}, []float64{100, 400, 500, 50}, []int64{1, 1, 1, 1})})
	if !near(s.Ratio, 0.9) || !near(s.RatioMin, 0.5) || !near(s.RatioMax, 2) {
		t.Errorf("even: ratio %v (%v-%v), want 0.9 (0.5-2)", s.Ratio, s.RatioMin, s.RatioMax)
	}
	if !near(s.ProcessorRate, 150) || !near(s.SkeletonRate, 250) {
		t.Errorf("even: rates %v / %v, want 150 / 250", s.ProcessorRate, s.SkeletonRate)
	}
}

func TestTablesOfRepetitions(t *testing.T) {
	reps := repsOf([]float64{100, 200, 400}, []float64{100, 400, 500}, []int64{90, 120, 100})
	row := Row{Service: "inventory-service", Mode: "processor only", Events: 100, Reps: reps, P50: math.NaN(), P99: math.NaN()}
	var b bytes.Buffer
	Table(&b, []Row{row})
	out := b.String()
	for _, want := range []string{
		"Throughput: the median of 3 repetitions",
		"| 120 MiB | 7 products' stock in the group table = oracle |",
		"| inventory-service | 200 | 100 | 400 | 100 | 0.80× (0.50-1.00) | 1.00× |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	reps[1].Main.Verified = "MISMATCH: 3 of 7 products' stock in the group table differ from the oracle"
	b.Reset()
	Table(&b, []Row{row})
	if want := "| repetition 2 of 3: MISMATCH: 3 of 7 products' stock in the group table differ from the oracle |"; !strings.Contains(b.String(), want) {
		t.Errorf("missing %q in\n%s", want, b.String())
	}
}
