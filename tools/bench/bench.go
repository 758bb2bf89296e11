// Package bench is the load command's engine (cmd/cdc-bench). For each
// service it starts a fresh in-process Kafka-protocol broker (kfake),
// dynalite or an in-process S3 as the sink, generates N Debezium changes
// with the shop simulator (connector replays included) and measures, in one
// run:
//
//   - the read rate of a bare franz-go consumer over the service's topics;
//   - the service's rate, as a separate OS process (the real binary's code,
//     state in LevelDB), from its first table write until its sink has
//     converged: every input record processed and committed, and every
//     table change written to DynamoDB (or the next S3 flush done);
//   - its peak RSS (VmHWM);
//   - at a steady rate, the latency from each change's source commit time
//     to the DynamoDB write that made it visible (p50, p99), from the
//     service's mirror_source_to_sink_seconds histogram;
//   - and that the converged result equals the simulator's oracle.
//
// Convergence is observed from the outside, through Kafka: the group's
// committed offsets against the high watermarks. Time spans come from the
// record timestamps of the group table (when the processor wrote) and the
// service's last-write metrics (when the sink wrote), so polling does not
// blur them.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// Sink kinds.
const (
	SinkDynamo = "dynamodb"
	SinkS3     = "s3"
)

// Service is a service the load command can run.
type Service struct {
	Spec   config.Service
	Build  app.Builder
	Tables []string // the CDC tables it reads
	Sink   string   // SinkDynamo or SinkS3
}

// Services are the three services, by name.
var Services = map[string]Service{
	config.Inventory.Name: {config.Inventory, app.Inventory, []string{"products", "order_items"}, SinkDynamo},
	config.Analytics.Name: {config.Analytics, app.Analytics, []string{"orders", "order_items"}, SinkS3},
	config.Search.Name:    {config.Search, app.Search, []string{"products"}, SinkDynamo},
}

// Options configures a run.
type Options struct {
	Services   []string // service names; see Services
	Changes    int      // changes generated (before replays)
	Products   int      // initial catalogue size
	Partitions int32    // partitions of the CDC topics
	Sinks      bool     // false: processors, views and API only
	Rate       float64  // changes/s of the latency phase; 0 skips it
	Steady     time.Duration
	Seed       uint64
	// Format is the connector's converter (dbzenc.ConverterFormat): "json"
	// (the default when empty: the JsonConverter's envelope with schemas),
	// "avro", "jsonschema" or "protobuf" (the Confluent converters; each
	// phase starts a Schema Registry, tools/registry, the records' schemas
	// are registered there and the service reads them through
	// SCHEMA_REGISTRY_URL).
	Format string
	// Exe is the binary that serves a service when started as
	// `Exe -serve <name> [-no-sinks]` (the load command itself).
	Exe     string
	WorkDir string // child logs and state
	// ProfileDir, when set, receives a CPU profile of each service process
	// (<service>-<phase>.pprof).
	ProfileDir string
	Log        *slog.Logger
}

// Row is one service's measurements.
type Row struct {
	Service    string
	Mode       string
	Events     int           // records on the service's input topics, replays and tombstones included
	Elapsed    time.Duration // first table write to converged sink
	Startup    time.Duration // process start to first table write
	Bare       time.Duration // bare consumer over the same records
	PeakRSS    int64
	CPU        time.Duration // the service process's CPU time until converged, startup included
	SteadyRate float64       // changes/s achieved in the latency phase
	P50, P99   float64       // seconds; NaN when not measured
	Samples    int           // latency observations
	SinkWrites int           // items written to DynamoDB (after coalescing) or report objects to S3
	Verified   string
}

// Rate is the service's events per second.
func (r Row) Rate() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// BareRate is the bare consumer's records per second.
func (r Row) BareRate() float64 { return float64(r.Events) / r.Bare.Seconds() }

// converter is Format, "json" when empty.
func (o Options) converter() string {
	if o.Format == "" {
		return "json"
	}
	return o.Format
}

// Run measures each service of o in turn and returns the rows.
func Run(ctx context.Context, o Options) ([]Row, error) {
	var rows []Row
	if _, err := dbzenc.ConverterFormat(o.converter()); err != nil {
		return nil, fmt.Errorf("format: %w", err)
	}
	for _, name := range o.Services {
		svc, ok := Services[name]
		if !ok {
			return rows, fmt.Errorf("unknown service %q (want one of inventory-service, analytics-service, search-indexer)", name)
		}
		row, err := throughput(ctx, o, svc)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", name, err)
		}
		row.P50, row.P99 = math.NaN(), math.NaN()
		if o.Sinks && svc.Sink == SinkDynamo && o.Rate > 0 && o.Steady > 0 {
			if err := latency(ctx, o, svc, &row); err != nil {
				return rows, fmt.Errorf("%s latency: %w", name, err)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func topicsOf(svc Service, prefix string) []string {
	out := make([]string, len(svc.Tables))
	for i, t := range svc.Tables {
		out[i] = prefix + ".public." + t
	}
	return out
}

// throughput: everything is in Kafka before the service starts.
func throughput(ctx context.Context, o Options, svc Service) (Row, error) {
	log := o.Log.With("service", svc.Spec.Name, "phase", "throughput")
	row := Row{Service: svc.Spec.Name, Mode: "processor only"}
	if o.Sinks {
		row.Mode = "Kafka → " + map[string]string{SinkDynamo: "DynamoDB", SinkS3: "S3"}[svc.Sink]
	}
	if c := o.converter(); c != "json" {
		row.Mode += ", " + c
	}
	env, err := startEnv(ctx, o, svc, "throughput")
	if err != nil {
		return row, err
	}
	defer env.Close()

	changes := shopsim.New(shopsim.Config{Seed: o.Seed, Products: o.Products}).Generate(o.Changes)
	recs, err := shopsim.Encode(changes, env.encodeOptions())
	if err != nil {
		return row, err
	}
	recs = shopsim.WithReplays(recs, o.Seed, shopsim.Replay{Every: 2000, Back: 200})
	inputs := topicsOf(svc, "dbserver1")
	for _, r := range recs {
		for _, t := range inputs {
			if r.Topic == t {
				row.Events++
			}
		}
	}
	log.Info("producing", "changes", len(changes), "records", len(recs), "service_inputs", row.Events)
	if err := produceAll(ctx, env.kafka.Brokers(), recs); err != nil {
		return row, err
	}

	n, bare, err := bareRead(ctx, env.kafka.Brokers(), inputs, row.Events)
	if err != nil {
		return row, err
	}
	row.Bare = bare
	log.Info("bare consumer", "records", n, "elapsed", bare, "per_second", int(float64(n)/bare.Seconds()))

	child, err := env.startService(ctx, o, svc, inputs)
	if err != nil {
		return row, err
	}
	defer child.Stop()
	group := svc.Spec.DefaultGroup
	table := group + "-table"
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := env.probe.waitCaughtUp(wctx, group, append(inputs, group+"-loop")...); err != nil {
		return row, child.annotate(err)
	}
	first, last, err := env.probe.span(ctx, table)
	if err != nil {
		return row, err
	}
	end := last
	if o.Sinks {
		if end, err = env.sinkConverged(wctx, svc, child, group, table); err != nil {
			return row, child.annotate(err)
		}
	}
	row.Elapsed, row.Startup = end.Sub(first), first.Sub(child.started)
	if row.PeakRSS, err = peakRSS(child.cmd.Process.Pid); err != nil {
		return row, err
	}
	if row.CPU, err = cpuTime(child.cmd.Process.Pid); err != nil {
		return row, err
	}
	if o.Sinks {
		m, err := scrape(ctx, child.url)
		if err != nil {
			return row, err
		}
		row.SinkWrites = int(m.sum("mirror_items_written_total") + m.sum("analytics_s3_objects_written_total"))
	}
	row.Verified = verify(ctx, env, svc, child.url, changes, o.Sinks)
	// A record the service could not read (a wrong format, a schema it
	// could not get) is dead-lettered and counts as consumed: say so.
	if m, err := scrape(ctx, child.url); err != nil {
		return row, err
	} else if dead := m.sum("cdc_dead_letters_total"); dead > 0 {
		row.Verified = fmt.Sprintf("MISMATCH: %.0f records dead-lettered; %s", dead, row.Verified)
	}
	log.Info("converged", "events", row.Events, "elapsed", row.Elapsed, "per_second", int(row.Rate()),
		"startup", row.Startup, "cpu", row.CPU, "sink_writes", row.SinkWrites, "peak_rss_mib", row.PeakRSS>>20, "verified", row.Verified)
	return row, nil
}

// latency: the service runs on a fresh broker; the live shop's snapshot is
// loaded first, then changes arrive at o.Rate for o.Steady, stamped with
// the wall clock, and the histogram's growth over that span is the answer.
func latency(ctx context.Context, o Options, svc Service, row *Row) error {
	log := o.Log.With("service", svc.Spec.Name, "phase", "latency")
	env, err := startEnv(ctx, o, svc, "latency")
	if err != nil {
		return err
	}
	defer env.Close()
	inputs := topicsOf(svc, "dbserver1")
	child, err := env.startService(ctx, o, svc, inputs)
	if err != nil {
		return err
	}
	defer child.Stop()
	group := svc.Spec.DefaultGroup
	table := group + "-table"

	shop := shopsim.New(shopsim.Config{Seed: o.Seed + 1, Products: o.Products, Live: true})
	prod, err := kgo.NewClient(kgo.SeedBrokers(env.kafka.Brokers()...), kgo.ProducerLinger(0))
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer prod.Close()
	var produced int
	var mu sync.Mutex
	var produceErr error
	failed := func() error { mu.Lock(); defer mu.Unlock(); return produceErr }
	emit := func(cs []shopsim.Change) error {
		recs, err := shopsim.Encode(cs, env.encodeOptions())
		if err != nil {
			return err
		}
		for _, r := range recs {
			prod.Produce(ctx, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
				mu.Lock()
				if err != nil && produceErr == nil {
					produceErr = err
				}
				mu.Unlock()
			})
		}
		produced += len(cs)
		return failed()
	}
	if err := emit(shop.Snapshot()); err != nil {
		return err
	}
	if err := prod.Flush(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := env.probe.waitCaughtUp(wctx, group, append(inputs, group+"-loop")...); err != nil {
		return child.annotate(err)
	}
	if _, err := env.sinkConverged(wctx, svc, child, group, table); err != nil {
		return child.annotate(err)
	}
	before, err := scrape(ctx, child.url)
	if err != nil {
		return err
	}
	snapshot := produced
	log.Info("steady load", "rate", o.Rate, "for", o.Steady)
	rctx, rcancel := context.WithTimeout(ctx, o.Steady)
	start := time.Now()
	err = shop.Run(rctx, o.Rate, emit)
	took := time.Since(start)
	rcancel()
	if err != nil && rctx.Err() == nil {
		return fmt.Errorf("steady load: %w", err)
	}
	if err := prod.Flush(ctx); err != nil {
		return err
	}
	if err := failed(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	if err := env.probe.waitCaughtUp(wctx, group, append(inputs, group+"-loop")...); err != nil {
		return child.annotate(err)
	}
	if _, err := env.sinkConverged(wctx, svc, child, group, table); err != nil {
		return child.annotate(err)
	}
	after, err := scrape(ctx, child.url)
	if err != nil {
		return err
	}
	const h = "mirror_source_to_sink_seconds"
	row.P50, row.Samples = quantile(0.50, before.buckets(h), after.buckets(h))
	row.P99, _ = quantile(0.99, before.buckets(h), after.buckets(h))
	row.SteadyRate = float64(produced-snapshot) / took.Seconds()
	log.Info("latency", "changes", produced-snapshot, "rate", int(row.SteadyRate), "p50", row.P50, "p99", row.P99, "samples", row.Samples)
	return nil
}

// produceAll writes recs in order, in batches, and waits for every ack.
func produceAll(ctx context.Context, brokers []string, recs []shopsim.Record) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100000))
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer cl.Close()
	const batch = 10000
	for i := 0; i < len(recs); i += batch {
		end := min(i+batch, len(recs))
		krs := make([]*kgo.Record, 0, end-i)
		for _, r := range recs[i:end] {
			krs = append(krs, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}
	return nil
}

// workDir makes a fresh directory for one phase of one service.
func workDir(o Options, svc Service, phase string) (string, error) {
	dir := filepath.Join(o.WorkDir, strings.ReplaceAll(svc.Spec.Name, "/", "_")+"-"+phase)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// Table writes rows as a Markdown table.
func Table(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| service | mode | input events | events/s | bare consumer/s | % of bare | events per CPU-s | sink writes | startup | p50 | p99 (at changes/s) | peak RSS | result |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rows {
		p50, p99 := "-", "-"
		if !math.IsNaN(r.P50) {
			p50 = fmt.Sprintf("%.0f ms", r.P50*1000)
			p99 = fmt.Sprintf("%.0f ms (%.0f/s, %d samples)", r.P99*1000, r.SteadyRate, r.Samples)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.0f | %.0f%% | %.0f | %d | %.1f s | %s | %s | %d MiB | %s |\n",
			r.Service, r.Mode, r.Events, r.Rate(), r.BareRate(), 100*r.Rate()/r.BareRate(), float64(r.Events)/r.CPU.Seconds(), r.SinkWrites,
			r.Startup.Seconds(), p50, p99, r.PeakRSS>>20, r.Verified)
	}
}
