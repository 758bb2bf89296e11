// Command cdc-bench is the load command: it produces N Debezium changes
// into an in-process broker, runs a service against them (as a separate
// process: this binary with -serve) and prints, per service, the events/s
// until its sink converged, a bare consumer's rate over the same topics,
// p50/p99 source-to-DynamoDB latency at a steady rate, and peak RSS.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/tools/bench"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

func main() {
	serve := flag.String("serve", "", "internal: serve this service (the child process of a run)")
	noSinks := flag.Bool("no-sinks", false, "internal: with -serve, run without DynamoDB and S3")
	profile := flag.String("profile", "", "with -serve: write a CPU profile of the service to this file; otherwise: directory for the services' CPU profiles")
	services := flag.String("services", "inventory-service,search-indexer,analytics-service", "services to measure, comma-separated")
	n := flag.Int("n", 200000, "changes to generate (connector replays come on top)")
	products := flag.Int("products", 10000, "initial catalogue size")
	partitions := flag.Int("partitions", 6, "partitions of the CDC topics")
	sinks := flag.Bool("sinks", true, "measure to the sink (DynamoDB or S3); false: processors alone")
	rate := flag.Float64("rate", 5000, "changes/s of the steady latency phase; 0 skips it")
	steady := flag.Duration("steady", 30*time.Second, "length of the steady latency phase")
	seed := flag.Uint64("seed", 1, "simulator seed")
	format := flag.String("format", "json", "the connector's converter: "+dbzenc.Converters+" (the Confluent converters with a Schema Registry on loopback)")
	work := flag.String("work", "", "directory for service logs and state (default: a temporary one, removed after)")
	flag.Parse()

	if *serve != "" {
		svc, ok := bench.Services[*serve]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown service %q\n", *serve)
			os.Exit(2)
		}
		os.Exit(serveService(svc, !*noSinks, *profile))
	}
	os.Exit(run(*services, *format, *n, *products, *partitions, *sinks, *rate, *steady, *seed, *work, *profile))
}

// serveService is the child process: one service, optionally profiled.
func serveService(svc bench.Service, sinks bool, profile string) int {
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
	}
	if !sinks {
		return app.MainWithoutSinks(svc.Spec, svc.Build)
	}
	return app.Main(svc.Spec, svc.Build)
}

func run(services, format string, n, products, partitions int, sinks bool, rate float64, steady time.Duration, seed uint64, work, profile string) int {
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	rows, err := bench.Run(ctx, bench.Options{
		Services: strings.Split(services, ","), Changes: n, Products: products, Partitions: int32(partitions),
		Sinks: sinks, Rate: rate, Steady: steady, Seed: seed, Format: format, Exe: exe, WorkDir: work, Log: log, ProfileDir: profile,
	})
	bench.Table(os.Stdout, rows)
	if err != nil {
		log.Error("run failed", "error", err)
		return 1
	}
	return 0
}
