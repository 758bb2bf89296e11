// Command cdc-bench is the load command: it produces N Debezium changes
// into an in-process broker, runs a service against them (as a separate
// process: this binary with -serve) and prints, per service, the events/s
// until its sink converged, a bare consumer's rate over the same topics,
// a Goka skeleton's rate over the same records (this binary with
// -serve-skeleton: the ceiling), the loop topic's busiest partition and the
// writes per input record, with -instances the rate of several processes
// in one group, p50/p99 source-to-DynamoDB latency at a steady rate, and
// peak RSS. With -repeat N the throughput measurement (bare consumer,
// service, skeleton, on a fresh broker each time) runs N times, the service
// and skeleton runs alternating, and the tables show the median of each
// rate and of each repetition's ratios, the min-max of the service/skeleton
// ratio and the largest peak RSS; the latency and scale-out phases run
// once. With -profile-summary it groups the samples of pprof profiles
// into buckets (JSON decode, Sarama, table writes, GC, callbacks, ...).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/tools/bench"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

func main() {
	serve := flag.String("serve", "", "internal: serve this service (the child process of a run)")
	serveSkeleton := flag.String("serve-skeleton", "", "internal: serve the Goka skeleton of this service (the child process of a run)")
	noSinks := flag.Bool("no-sinks", false, "internal: with -serve, run without DynamoDB and S3")
	profile := flag.String("profile", "", "with -serve or -serve-skeleton: write a CPU profile of the process to this file and an allocation profile (alloc_space) beside it (.alloc.pprof); otherwise: directory for the processes' profiles")
	summary := flag.String("profile-summary", "", "print the share of each bucket (JSON decode, Sarama, table writes, GC, callbacks, ...) of these pprof files (comma-separated; CPU or allocation profiles) and exit")
	services := flag.String("services", "inventory-service,search-indexer,analytics-service", "services to measure, comma-separated")
	n := flag.Int("n", 200000, "changes to generate (connector replays come on top)")
	products := flag.Int("products", 10000, "initial catalogue size")
	partitions := flag.Int("partitions", 6, "partitions of the CDC topics")
	sinks := flag.Bool("sinks", true, "measure to the sink (DynamoDB or S3); false: processors alone")
	skeleton := flag.Bool("skeleton", true, "also run the Goka skeleton of each service over the same records (JSON format only)")
	instances := flag.String("instances", "1", "process counts of the scale-out phase, comma-separated (e.g. 1,2,3): each count above 1 runs the service again as that many processes in one consumer group")
	repeat := flag.Int("repeat", 1, "run the throughput measurement (service, then skeleton, each time on a fresh broker) this many times and report medians: of each rate, of each repetition's ratios (with the service/skeleton events/s ratio's min-max), the largest peak RSS, every failed result; -rate and -instances still run once")
	rate := flag.Float64("rate", 5000, "changes/s of the steady latency phase; 0 skips it")
	steady := flag.Duration("steady", 30*time.Second, "length of the steady latency phase")
	seed := flag.Uint64("seed", 1, "simulator seed")
	format := flag.String("format", "json", "the connector's converter: "+dbzenc.Converters+" (the Confluent converters with a Schema Registry on loopback)")
	work := flag.String("work", "", "directory for service logs and state (default: a temporary one, removed after)")
	flag.Parse()

	switch {
	case *summary != "":
		if err := bench.ProfileSummary(os.Stdout, strings.Split(*summary, ",")); err != nil {
			fmt.Fprintf(os.Stderr, "profile summary: %v\n", err)
			os.Exit(1)
		}
		return
	case *serve != "" || *serveSkeleton != "":
		name := *serve + *serveSkeleton
		svc, ok := bench.Services[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown service %q\n", name)
			os.Exit(2)
		}
		os.Exit(serveChild(svc, *serveSkeleton != "", !*noSinks, *profile))
	}
	counts, err := parseInstances(*instances)
	if err != nil {
		fmt.Fprintf(os.Stderr, "-instances: %v\n", err)
		os.Exit(2)
	}
	if *repeat < 1 {
		fmt.Fprintf(os.Stderr, "-repeat: %d is not a number of runs\n", *repeat)
		os.Exit(2)
	}
	os.Exit(run(bench.Options{
		Services: strings.Split(*services, ","), Changes: *n, Products: *products, Partitions: int32(*partitions),
		Sinks: *sinks, Rate: *rate, Steady: *steady, Seed: *seed, Format: *format, Skeleton: *skeleton, Instances: counts,
		Repeat: *repeat, ProfileDir: *profile,
	}, *work))
}

// parseInstances reads "1,2,3".
func parseInstances(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a process count", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// serveChild is the child process: one service or its skeleton,
// optionally profiled (CPU while it runs, allocations at exit).
func serveChild(svc bench.Service, skeleton, sinks bool, profile string) int {
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "profile: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "profile: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
		defer writeAllocProfile(allocPath(profile))
	}
	switch {
	case skeleton:
		return bench.ServeSkeleton(svc.Spec)
	case !sinks:
		return app.MainWithoutSinks(svc.Spec, svc.Build)
	default:
		return app.Main(svc.Spec, svc.Build)
	}
}

// allocPath is the allocation profile beside a CPU profile.
func allocPath(cpu string) string { return strings.TrimSuffix(cpu, ".pprof") + ".alloc.pprof" }

// writeAllocProfile writes the heap profile; its default sample type is
// alloc_space (bytes allocated since the start).
func writeAllocProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "allocation profile: %v\n", err)
		return
	}
	defer f.Close()
	runtime.GC() // the profile is as of the last collection
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintf(os.Stderr, "allocation profile: %v\n", err)
	}
}

func run(o bench.Options, work string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	exe, err := os.Executable()
	if err != nil {
		log.Error("cannot find own binary", "error", err)
		return 1
	}
	if work == "" {
		if work, err = os.MkdirTemp("", "cdc-bench-"); err != nil {
			log.Error("work directory", "error", err)
			return 1
		}
		defer os.RemoveAll(work)
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			log.Error("profile directory", "error", err)
			return 1
		}
	}
	o.Exe, o.WorkDir, o.Log = exe, work, log
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	rows, err := bench.Run(ctx, o)
	bench.Table(os.Stdout, rows)
	if err != nil {
		log.Error("run failed", "error", err)
		return 1
	}
	if o.ProfileDir != "" {
		// The throughput phase's CPU profiles (its first repetition's):
		// each service beside its skeleton.
		var cpu []string
		for _, svc := range o.Services {
			for _, suffix := range []string{"", "-skeleton"} {
				p := filepath.Join(o.ProfileDir, svc+"-throughput"+suffix+".pprof")
				if _, err := os.Stat(p); err == nil {
					cpu = append(cpu, p)
				}
			}
		}
		if len(cpu) > 0 {
			fmt.Println()
			if err := bench.ProfileSummary(os.Stdout, cpu); err != nil {
				log.Error("profile summary", "error", err)
				return 1
			}
		}
	}
	return 0
}
