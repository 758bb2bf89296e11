package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Table writes rows as Markdown tables: the main one (a row per service);
// the skeleton's, when one was measured (the ceiling and the graph's
// shape); and the scale-out's, when Options.Instances asked for it. With
// more than one repetition of the throughput phase, a note above them says
// so, the throughput columns are Summarize's and the service/skeleton
// events/s ratio is followed by its spread: "0.74× (0.56-0.78)".
func Table(w io.Writer, rows []Row) {
	reps := 0
	for _, r := range rows {
		reps = max(reps, len(r.Reps))
	}
	if reps > 1 {
		fmt.Fprintf(w, "Throughput: the median of %d repetitions; a ratio is the median of each repetition's ratio (min-max beside the service/skeleton events/s); peak RSS: the largest.\n\n", reps)
	}
	fmt.Fprintln(w, "| service | mode | input events | events/s | bare consumer/s | % of bare | events per CPU-s | sink writes | startup | p50 | p99 (at changes/s) | peak RSS | result |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rows {
		p50, p99 := "-", "-"
		if !math.IsNaN(r.P50) {
			p50 = fmt.Sprintf("%.0f ms", r.P50*1000)
			p99 = fmt.Sprintf("%.0f ms (%.0f/s, %d samples)", r.P99*1000, r.SteadyRate, r.Samples)
		}
		s := Summarize(r)
		fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.0f | %.0f%% | %.0f | %.0f | %.1f s | %s | %s | %d MiB | %s |\n",
			r.Service, r.Mode, r.Events, s.Rate, s.BareRate, 100*s.OfBare, s.PerCPU, s.SinkWrites,
			s.Startup.Seconds(), p50, p99, s.PeakRSS>>20, s.Verified)
	}
	skeleton := false
	for _, r := range rows {
		skeleton = skeleton || len(r.Reps) > 0 && r.Reps[0].Skeleton != nil
	}
	if skeleton {
		fmt.Fprintln(w)
		// The service's processor alone (Processor), as the skeleton has
		// no sink; its CPU includes the sinks' work in a Kafka → sink mode.
		fmt.Fprintln(w, "| service | processor events/s | events per CPU-s | skeleton events/s | skeleton events per CPU-s | service/skeleton events/s | service/skeleton per CPU-s | skeleton % of bare | hottest loop partition: service | hottest loop partition: skeleton | table writes per input: service / skeleton | loop messages per input: service / skeleton | skeleton startup |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range rows {
			if len(r.Reps) == 0 || r.Reps[0].Skeleton == nil {
				continue
			}
			s, main, sk, ev := Summarize(r), r.Reps[0].Main, *r.Reps[0].Skeleton, r.Events
			ratio := fmt.Sprintf("%.2f×", s.Ratio)
			if len(r.Reps) > 1 {
				ratio += fmt.Sprintf(" (%.2f-%.2f)", s.RatioMin, s.RatioMax)
			}
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %.0f | %.0f | %s | %.2f× | %.0f%% | %s | %s | %s / %s | %s / %s | %.1f s |\n",
				r.Service, s.ProcessorRate, s.PerCPU, s.SkeletonRate, s.SkeletonPerCPU,
				ratio, s.CPURatio, 100*s.SkeletonOfBare,
				HotShare(main.Loop), HotShare(sk.Loop),
				perInput(main.TableWrites, ev), perInput(sk.TableWrites, ev),
				perInput(main.LoopRecords(), ev), perInput(sk.LoopRecords(), ev), s.SkeletonStartup.Seconds())
		}
	}
	scale := false
	for _, r := range rows {
		scale = scale || len(r.Scale) > 0
	}
	if !scale {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| service | instances | events/s (all together) | speed-up | input partitions per instance | input records per instance | CPU-s per 1,000 events per instance | events per CPU-s (all) | group formed | result |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|---|---:|---:|---|")
	for _, r := range rows {
		var one float64
		for _, s := range r.Scale {
			if s.Instances == 1 {
				one = s.Rate(r.Events)
			}
		}
		for _, s := range r.Scale {
			speedup := "-"
			if one > 0 {
				speedup = fmt.Sprintf("%.2f×", s.Rate(r.Events)/one)
			}
			fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %s | %s | %.0f | %.1f s | %s |\n",
				r.Service, s.Instances, s.Rate(r.Events), speedup, FormatSplit(s.Split), formatCounts(s.Processed),
				CPUPerThousand(s.CPU, s.Processed), s.PerCPUSecond(r.Events), s.Formed.Seconds(), s.Verified)
		}
	}
}

// Summary is a row's throughput phase over its repetitions (Row.Reps), as
// the tables show it: each rate, and each ratio of two rates measured in
// the same repetition (never the ratio of two medians), is the median over
// the repetitions (Median); so are the startups and the sink writes. The
// peak RSS is the largest of the service's. The graph's shape (the loop's
// spread, the writes per input) is the first repetition's (Row.Reps[0]).
type Summary struct {
	Rate, BareRate, PerCPU float64 // the service's events/s to the sink, the bare consumer's, the service's per CPU-s
	OfBare                 float64 // the service's events/s / the bare consumer's
	SinkWrites             float64
	Startup                time.Duration
	PeakRSS                int64
	// Verified is the result: the first repetition's when each
	// repetition's passed; else every failed one's, after its repetition
	// ("repetition 2 of 3: MISMATCH: ...") when there were several.
	Verified string

	// With a skeleton (else 0):
	ProcessorRate                float64 // the service's events/s without the sink
	SkeletonRate, SkeletonPerCPU float64
	Ratio                        float64 // ProcessorRate / SkeletonRate
	RatioMin, RatioMax           float64 // Ratio's spread over the repetitions
	CPURatio                     float64 // service / skeleton events per CPU-s
	SkeletonOfBare               float64 // SkeletonRate / BareRate
	SkeletonStartup              time.Duration
}

// Summarize is the Summary of r's repetitions.
func Summarize(r Row) Summary {
	ev := r.Events
	// each is f of every repetition.
	each := func(f func(Rep) float64) []float64 {
		xs := make([]float64, len(r.Reps))
		for i, p := range r.Reps {
			xs[i] = f(p)
		}
		return xs
	}
	med := func(f func(Rep) float64) float64 { return Median(each(f)) }
	s := Summary{
		Rate:       med(func(p Rep) float64 { return p.Main.Rate(ev) }),
		BareRate:   med(func(p Rep) float64 { return p.BareRate(ev) }),
		PerCPU:     med(func(p Rep) float64 { return p.Main.PerCPUSecond(ev) }),
		OfBare:     med(func(p Rep) float64 { return p.Main.Rate(ev) / p.BareRate(ev) }),
		SinkWrites: med(func(p Rep) float64 { return float64(p.Main.SinkWrites) }),
		Startup:    time.Duration(med(func(p Rep) float64 { return float64(p.Main.Startup) })),
		Verified:   verdict(r.Reps),
	}
	for _, p := range r.Reps {
		if len(p.Main.PeakRSS) > 0 {
			s.PeakRSS = max(s.PeakRSS, p.Main.PeakRSS[0])
		}
	}
	if len(r.Reps) == 0 || r.Reps[0].Skeleton == nil {
		return s
	}
	s.ProcessorRate = med(func(p Rep) float64 { return p.Main.ProcessorRate(ev) })
	s.SkeletonRate = med(func(p Rep) float64 { return p.Skeleton.Rate(ev) })
	s.SkeletonPerCPU = med(func(p Rep) float64 { return p.Skeleton.PerCPUSecond(ev) })
	ratios := each(func(p Rep) float64 { return p.Main.ProcessorRate(ev) / p.Skeleton.Rate(ev) })
	s.Ratio, s.RatioMin, s.RatioMax = Median(ratios), slices.Min(ratios), slices.Max(ratios)
	s.CPURatio = med(func(p Rep) float64 { return p.Main.PerCPUSecond(ev) / p.Skeleton.PerCPUSecond(ev) })
	s.SkeletonOfBare = med(func(p Rep) float64 { return p.Skeleton.Rate(ev) / p.BareRate(ev) })
	s.SkeletonStartup = time.Duration(med(func(p Rep) float64 { return float64(p.Skeleton.Startup) }))
	return s
}

// Median is the middle value of xs, the mean of the two middle ones for
// an even count; NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// verdict is the result column over the repetitions: the first one's
// result when every check passed (every passing check says "= oracle");
// else the failed ones', each after its repetition when there were
// several.
func verdict(reps []Rep) string {
	if len(reps) == 0 {
		return "-"
	}
	if len(reps) == 1 {
		return reps[0].Main.Verified
	}
	var failed []string
	for k, p := range reps {
		if !strings.Contains(p.Main.Verified, "= oracle") {
			failed = append(failed, fmt.Sprintf("repetition %d of %d: %s", k+1, len(reps), p.Main.Verified))
		}
	}
	if len(failed) == 0 {
		return reps[0].Main.Verified
	}
	return strings.Join(failed, "; ")
}

// HotShare is the busiest partition's share of all records of a topic,
// beside the even share: "9.1% (1/12 = 8.3%)"; "-" for an empty topic.
func HotShare(counts []int64) string {
	var total, most int64
	for _, n := range counts {
		total += n
		most = max(most, n)
	}
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%% (1/%d = %.1f%%)", 100*float64(most)/float64(total), len(counts), 100/float64(len(counts)))
}

// FormatSplit is the input partitions of each process: "4/4/4".
func FormatSplit(split []int) string {
	if len(split) == 0 {
		return "-"
	}
	parts := make([]string, len(split))
	for i, n := range split {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, "/")
}

// CPUPerThousand is each process's CPU-seconds per 1,000 input records it
// handled: "0.21/0.23/0.22"; "-" for a process that handled none.
func CPUPerThousand(cpu []time.Duration, processed []float64) string {
	if len(cpu) == 0 || len(cpu) != len(processed) {
		return "-"
	}
	parts := make([]string, len(cpu))
	for i := range cpu {
		if processed[i] <= 0 {
			parts[i] = "-"
			continue
		}
		parts[i] = fmt.Sprintf("%.3f", cpu[i].Seconds()*1000/processed[i])
	}
	return strings.Join(parts, "/")
}

func formatCounts(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(parts, "/")
}

// perInput is records per input record, two decimals.
func perInput(n int64, events int) string {
	if events == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(n)/float64(events))
}
