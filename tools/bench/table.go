package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Table writes rows as Markdown tables: the main one (a row per service);
// the skeleton's, when one was measured (the ceiling and the graph's
// shape); and the scale-out's, when Options.Instances asked for it.
func Table(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| service | mode | input events | events/s | bare consumer/s | % of bare | events per CPU-s | sink writes | startup | p50 | p99 (at changes/s) | peak RSS | result |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rows {
		p50, p99 := "-", "-"
		if !math.IsNaN(r.P50) {
			p50 = fmt.Sprintf("%.0f ms", r.P50*1000)
			p99 = fmt.Sprintf("%.0f ms (%.0f/s, %d samples)", r.P99*1000, r.SteadyRate, r.Samples)
		}
		var rss int64
		if len(r.Main.PeakRSS) > 0 {
			rss = r.Main.PeakRSS[0]
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.0f | %.0f%% | %.0f | %d | %.1f s | %s | %s | %d MiB | %s |\n",
			r.Service, r.Mode, r.Events, r.Rate(), r.BareRate(), 100*r.Rate()/r.BareRate(), r.Main.PerCPUSecond(r.Events), r.Main.SinkWrites,
			r.Main.Startup.Seconds(), p50, p99, rss>>20, r.Main.Verified)
	}
	skeleton := false
	for _, r := range rows {
		skeleton = skeleton || r.Skeleton != nil
	}
	if skeleton {
		fmt.Fprintln(w)
		// The service's processor alone (Processor), as the skeleton has
		// no sink; its CPU includes the sinks' work in a Kafka → sink mode.
		fmt.Fprintln(w, "| service | processor events/s | events per CPU-s | skeleton events/s | skeleton events per CPU-s | service/skeleton events/s | service/skeleton per CPU-s | skeleton % of bare | hottest loop partition: service | hottest loop partition: skeleton | table writes per input: service / skeleton | loop messages per input: service / skeleton | skeleton startup |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range rows {
			if r.Skeleton == nil {
				continue
			}
			sk, ev := *r.Skeleton, r.Events
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %.0f | %.0f | %.2f× | %.2f× | %.0f%% | %s | %s | %s / %s | %s / %s | %.1f s |\n",
				r.Service, r.Main.ProcessorRate(ev), r.Main.PerCPUSecond(ev), sk.Rate(ev), sk.PerCPUSecond(ev),
				r.Main.ProcessorRate(ev)/sk.Rate(ev), r.Main.PerCPUSecond(ev)/sk.PerCPUSecond(ev), 100*sk.Rate(ev)/r.BareRate(),
				HotShare(r.Main.Loop), HotShare(sk.Loop),
				perInput(r.Main.TableWrites, ev), perInput(sk.TableWrites, ev),
				perInput(r.Main.LoopRecords(), ev), perInput(sk.LoopRecords(), ev), sk.Startup.Seconds())
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
