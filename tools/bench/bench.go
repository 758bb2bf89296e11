// Package bench is the load command's engine (cmd/cdc-bench). For each
// service it starts a fresh in-process Kafka-protocol broker (kfake),
// dynalite or an in-process S3 as the sink, generates N Debezium changes
// with the shop simulator (connector replays included) and measures, in one
// run:
//
//   - the read rate of a bare franz-go consumer over the service's topics;
//   - the service's rate, as a separate OS process (the real binary's code,
//     state in LevelDB), from the first record its processor wrote (the
//     re-keyed first input record on its loop topic) until its sink has
//     converged: every input record processed and committed, and every
//     table change written to DynamoDB (or the next S3 flush done);
//   - its CPU time, peak RSS (VmHWM), how its loop messages spread over
//     the loop topic's partitions (the busiest partition's share) and how
//     many loop messages and table writes it made per input record;
//   - the same for the Goka skeleton (skeleton.go): a minimal processor
//     with the service's graph shape and production's Goka options, over
//     the same records under its own group: the ceiling of the service;
//   - with Options.Instances, the service again with 2, 3, ... processes
//     in one consumer group (scale-out): their rate together, the input
//     partitions each owned, and each one's CPU per input record;
//   - at a steady rate, the latency from each change's source commit time
//     to the DynamoDB write that made it visible (p50, p99), from the
//     service's mirror_source_to_sink_seconds histogram;
//   - and that the converged result equals the simulator's oracle (in
//     DynamoDB, else in the group table read from Kafka).
//
// With Options.Repeat > 1 the throughput measurement (the bare consumer,
// the service, then its skeleton) runs that many times, each on a fresh
// broker, so that the service's runs and the skeleton's alternate; the
// tables show medians (Summarize).
//
// Convergence is observed from the outside, through Kafka: the group's
// committed offsets against the high watermarks. Time spans come from the
// record timestamps of the group's loop and table topics (when the
// processor wrote) and the service's last-write metrics (when the sink
// wrote), so polling does not blur them.
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	// Skeleton runs the Goka skeleton (skeleton.go) after the service, over
	// the same records (JSON only: the skeleton has no registry client).
	Skeleton bool
	// Instances are the process counts of the scale-out phase: for each
	// count the service runs again, on a fresh broker with the same
	// records, as that many processes in one consumer group (see
	// scaleOut). Empty or {1}: no scale-out phase.
	Instances []int
	// Repeat is how many times the throughput phase runs (the bare
	// consumer, the service, then its skeleton, on a fresh broker each
	// time); 0 or 1: once. The latency and scale-out phases run once.
	Repeat int
	// Exe is the binary that serves a service when started as
	// `Exe -serve <name> [-no-sinks]` (the load command itself), and the
	// skeleton as `Exe -serve-skeleton <name>`.
	Exe     string
	WorkDir string // child logs and state
	// ProfileDir, when set, receives a CPU profile and an allocation
	// profile of each process: <service>-<phase>[-skeleton|-i<k>].pprof and
	// .alloc.pprof.
	ProfileDir string
	Log        *slog.Logger
}

// Row is one service's measurements.
type Row struct {
	Service    string
	Mode       string
	Events     int        // records on the service's input topics, replays and tombstones included
	Reps       []Rep      // the throughput phase, once per repetition (Options.Repeat), in order
	Scale      []GroupRun // one per Options.Instances count, when more than 1
	SteadyRate float64    // changes/s achieved in the latency phase
	P50, P99   float64    // seconds; NaN when not measured
	Samples    int        // latency observations
}

// Rep is one repetition of the throughput phase, on its own broker.
type Rep struct {
	Bare     time.Duration // bare consumer over the input records
	Main     GroupRun      // the service, one process
	Skeleton *GroupRun     // the Goka skeleton; nil when not measured
}

// BareRate is the bare consumer's records per second.
func (p Rep) BareRate(events int) float64 { return float64(events) / p.Bare.Seconds() }

// GroupRun is one measured run of a group over the phase's input records: the
// service (one or more processes) or its skeleton.
type GroupRun struct {
	Instances int
	Elapsed   time.Duration   // first record the group wrote (loop or table) to converged sink
	Processor time.Duration   // first to last record the group wrote: Elapsed without the sink
	Startup   time.Duration   // first process start to that record
	Formed    time.Duration   // scale-out: first process start to the group formed with every process
	CPU       []time.Duration // per process, until converged: startup included, except in the scale-out phase (from Formed on)
	PeakRSS   []int64         // per process
	// Processed is each process's input records handled (its
	// cdc_messages_total: changes, tombstones, truncates and dead letters;
	// records handled again after a rebalance count again); nil for the
	// skeleton, which has no metrics.
	Processed   []float64
	Split       []int   // input partitions each process owned at convergence
	Loop        []int64 // records per partition of the group's loop topic
	TableWrites int64   // records on the group's table topic
	SinkWrites  int     // items written to DynamoDB (after coalescing) or report objects to S3
	Verified    string
}

// Rate is the events per second of a run over events input records.
func (r GroupRun) Rate(events int) float64 { return float64(events) / r.Elapsed.Seconds() }

// ProcessorRate is the events per second of the run's processor alone
// (without the sink's convergence).
func (r GroupRun) ProcessorRate(events int) float64 { return float64(events) / r.Processor.Seconds() }

// CPUTotal is the CPU time of all the run's processes.
func (r GroupRun) CPUTotal() time.Duration {
	var t time.Duration
	for _, c := range r.CPU {
		t += c
	}
	return t
}

// PerCPUSecond is events per CPU-second over all the run's processes.
func (r GroupRun) PerCPUSecond(events int) float64 { return float64(events) / r.CPUTotal().Seconds() }

// LoopRecords is the number of loop messages.
func (r GroupRun) LoopRecords() int64 {
	var t int64
	for _, n := range r.Loop {
		t += n
	}
	return t
}

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
	for _, n := range o.Instances {
		if n < 1 {
			return nil, fmt.Errorf("instances: %d processes", n)
		}
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
		for _, n := range o.Instances {
			if len(o.Instances) == 1 && n == 1 {
				break // no scale-out asked for
			}
			r, err := scaleOut(ctx, o, svc, n)
			if err != nil {
				return rows, fmt.Errorf("%s with %d instances: %w", name, n, err)
			}
			row.Scale = append(row.Scale, r)
		}
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

// load generates the run's changes (the same for every phase: the seed
// decides), encodes them in the phase's format with connector replays,
// produces the records of the service's input topics and returns the
// changes and the number of those records.
func (e *env) load(ctx context.Context, o Options, svc Service, log *slog.Logger) ([]shopsim.Change, int, error) {
	changes := shopsim.New(shopsim.Config{Seed: o.Seed, Products: o.Products}).Generate(o.Changes)
	recs, err := shopsim.Encode(changes, e.encodeOptions())
	if err != nil {
		return nil, 0, err
	}
	recs = shopsim.WithReplays(recs, o.Seed, shopsim.Replay{Every: 2000, Back: 200})
	// Only the service's topics: the others would be produced for nothing
	// (and, in the scale-out phase, while the group runs).
	inputs := recs[:0:0]
	for _, r := range recs {
		if slices.Contains(topicsOf(svc, "dbserver1"), r.Topic) {
			inputs = append(inputs, r)
		}
	}
	log.Info("producing", "changes", len(changes), "records", len(recs), "service_inputs", len(inputs))
	start := time.Now()
	if err := produceAll(ctx, e.kafka.Brokers(), inputs); err != nil {
		return nil, 0, err
	}
	log.Info("produced", "records", len(inputs), "elapsed", time.Since(start))
	return changes, len(inputs), nil
}

// throughput measures the service Options.Repeat times (at least once),
// each time on a fresh broker (repetition), so that the service's runs and
// its skeleton's alternate.
func throughput(ctx context.Context, o Options, svc Service) (Row, error) {
	row := Row{Service: svc.Spec.Name, Mode: "processor only"}
	if o.Sinks {
		row.Mode = "Kafka → " + map[string]string{SinkDynamo: "DynamoDB", SinkS3: "S3"}[svc.Sink]
	}
	if c := o.converter(); c != "json" {
		row.Mode += ", " + c
	}
	for k := 1; k <= max(o.Repeat, 1); k++ {
		events, rep, err := repetition(ctx, o, svc, k)
		if err != nil {
			if o.Repeat > 1 {
				err = fmt.Errorf("repetition %d: %w", k, err)
			}
			return row, err
		}
		row.Events = events
		row.Reps = append(row.Reps, rep)
	}
	return row, nil
}

// repetition is the k-th run of the throughput phase (its directory and
// profiles: throughput, then throughput-2, ...): everything is in Kafka
// before the service starts; then the skeleton reads the same records
// under its own group. It returns the number of input records.
func repetition(ctx context.Context, o Options, svc Service, k int) (int, Rep, error) {
	phase := "throughput"
	if k > 1 {
		phase += "-" + strconv.Itoa(k)
	}
	log := o.Log.With("service", svc.Spec.Name, "phase", phase)
	var rep Rep
	env, err := startEnv(ctx, o, svc, phase)
	if err != nil {
		return 0, rep, err
	}
	defer env.Close()
	changes, events, err := env.load(ctx, o, svc, log)
	if err != nil {
		return 0, rep, err
	}
	inputs := topicsOf(svc, "dbserver1")
	n, bare, err := bareRead(ctx, env.kafka.Brokers(), inputs, events)
	if err != nil {
		return events, rep, err
	}
	rep.Bare = bare
	log.Info("bare consumer", "records", n, "elapsed", bare, "per_second", int(float64(n)/bare.Seconds()))

	if rep.Main, err = env.runService(ctx, o, svc, inputs, changes); err != nil {
		return events, rep, err
	}
	log.Info("converged", "events", events, "elapsed", rep.Main.Elapsed, "per_second", int(rep.Main.Rate(events)),
		"startup", rep.Main.Startup, "cpu", rep.Main.CPU, "loop", rep.Main.LoopRecords(), "table", rep.Main.TableWrites,
		"sink_writes", rep.Main.SinkWrites, "peak_rss_mib", rep.Main.PeakRSS[0]>>20, "verified", rep.Main.Verified)
	if !o.Skeleton {
		return events, rep, nil
	}
	if o.converter() != "json" {
		log.Info("no skeleton: it reads the JSON converter's records only", "format", o.converter())
		return events, rep, nil
	}
	sk, err := env.runSkeleton(ctx, o, svc, inputs)
	if err != nil {
		return events, rep, fmt.Errorf("skeleton: %w", err)
	}
	rep.Skeleton = &sk
	log.Info("skeleton converged", "elapsed", sk.Elapsed, "per_second", int(sk.Rate(events)), "startup", sk.Startup,
		"cpu", sk.CPU, "loop", sk.LoopRecords(), "table", sk.TableWrites, "service_per_skeleton", rep.Main.ProcessorRate(events)/sk.Rate(events))
	return events, rep, nil
}

// scaleOut runs the service as n processes in one group on a fresh
// broker. The processes start on the empty input topics, and the records
// are produced once the group has formed with all n members: started on
// records already there, the first process would have read most of them
// before the others joined.
func scaleOut(ctx context.Context, o Options, svc Service, n int) (GroupRun, error) {
	log := o.Log.With("service", svc.Spec.Name, "phase", fmt.Sprintf("x%d", n))
	env, err := startEnv(ctx, o, svc, fmt.Sprintf("x%d", n))
	if err != nil {
		return GroupRun{}, err
	}
	defer env.Close()
	inputs := topicsOf(svc, "dbserver1")
	cs, err := env.startGroup(ctx, o, svc, inputs, n)
	defer stopAll(cs)
	if err != nil {
		return GroupRun{}, err
	}
	if _, err := env.probe.assignment(ctx, svc.Spec.DefaultGroup, inputs[0], n); err != nil {
		return GroupRun{}, cs[0].annotate(err)
	}
	formed := time.Since(cs[0].started)
	// CPU is counted from here: the start and the rebalances while the
	// group formed are not the processing of the records.
	base := make([]time.Duration, len(cs))
	for i, c := range cs {
		if base[i], err = cpuTime(c.cmd.Process.Pid); err != nil {
			return GroupRun{}, err
		}
	}
	changes, events, err := env.load(ctx, o, svc, log)
	if err != nil {
		return GroupRun{}, err
	}
	r, err := env.measureGroup(ctx, o, svc, inputs, changes, cs)
	if err != nil {
		return r, err
	}
	r.Formed = formed
	for i := range r.CPU {
		r.CPU[i] -= base[i]
	}
	log.Info("converged", "instances", n, "events", events, "elapsed", r.Elapsed, "per_second", int(r.Rate(events)),
		"group_formed", formed, "split", r.Split, "processed", r.Processed, "cpu", r.CPU, "verified", r.Verified)
	return r, nil
}

// profilePath is the CPU profile of a process of the phase ("" without
// -profile); its allocation profile goes beside it (.alloc.pprof).
func (e *env) profilePath(o Options, suffix string) string {
	if o.ProfileDir == "" {
		return ""
	}
	return filepath.Join(o.ProfileDir, filepath.Base(e.dir)+suffix+".pprof")
}

// runService runs the service as one process in its default group over
// the records already produced, until converged, measures it, checks the
// result and stops it.
func (e *env) runService(ctx context.Context, o Options, svc Service, inputs []string, changes []shopsim.Change) (GroupRun, error) {
	cs, err := e.startGroup(ctx, o, svc, inputs, 1)
	defer stopAll(cs)
	if err != nil {
		return GroupRun{}, err
	}
	return e.measureGroup(ctx, o, svc, inputs, changes, cs)
}

// startGroup starts n processes of the service in its default group, each
// with its own HTTP port, STATE_DIR and client id.
func (e *env) startGroup(ctx context.Context, o Options, svc Service, inputs []string, n int) ([]*child, error) {
	var cs []*child
	for i := 1; i <= n; i++ {
		spec := childSpec{name: "service", clientID: svc.Spec.Name, profile: e.profilePath(o, "")}
		if n > 1 {
			k := strconv.Itoa(i)
			spec = childSpec{name: "service-" + k, clientID: svc.Spec.Name + "-" + k, profile: e.profilePath(o, "-i"+k)}
		}
		c, err := e.startService(ctx, o, svc, inputs, spec)
		if err != nil {
			return cs, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func stopAll(cs []*child) {
	for _, c := range cs {
		c.Stop()
	}
}

// measureGroup waits until the service's processes cs have converged,
// measures them and checks the result.
func (e *env) measureGroup(ctx context.Context, o Options, svc Service, inputs []string, changes []shopsim.Change, cs []*child) (GroupRun, error) {
	group := svc.Spec.DefaultGroup
	r, err := e.converge(ctx, o.Sinks, svc, group, inputs, cs)
	if err != nil {
		return r, err
	}
	var dead float64
	for _, c := range cs {
		m, err := scrape(ctx, c.url)
		if err != nil {
			return r, err
		}
		r.Processed = append(r.Processed, m.sum("cdc_messages_total"))
		if o.Sinks {
			r.SinkWrites += int(m.sum("mirror_items_written_total") + m.sum("analytics_s3_objects_written_total"))
		}
		// A record the service could not read (a wrong format, a schema
		// it could not get) is dead-lettered and counts as consumed.
		dead += m.sum("cdc_dead_letters_total")
	}
	r.Verified = verify(ctx, e, svc, group, changes, o.Sinks)
	if dead > 0 {
		r.Verified = fmt.Sprintf("MISMATCH: %.0f records dead-lettered; %s", dead, r.Verified)
	}
	return r, nil
}

// runSkeleton runs the service's skeleton under its own group over the
// same input records until it has consumed them all, and measures it.
func (e *env) runSkeleton(ctx context.Context, o Options, svc Service, inputs []string) (GroupRun, error) {
	group := SkeletonGroup(svc.Spec.Name)
	c, err := e.startService(ctx, o, svc, inputs, childSpec{name: "skeleton", skeleton: true, group: group,
		clientID: group, profile: e.profilePath(o, "-skeleton")})
	if err != nil {
		return GroupRun{}, err
	}
	defer c.Stop()
	r, err := e.converge(ctx, false, svc, group, inputs, []*child{c})
	if err != nil {
		return r, err
	}
	if loop := r.LoopRecords(); r.TableWrites != loop {
		r.Verified = fmt.Sprintf("MISMATCH: %d table writes for %d loop messages", r.TableWrites, loop)
	} else {
		r.Verified = fmt.Sprintf("%d table writes = loop messages", loop)
	}
	return r, nil
}

// converge waits until group has consumed every record of inputs and of
// its loop (and, with sinks, the sink has every table change), then
// measures the processes: the span from the first record the group wrote
// to convergence, each process's CPU time and peak RSS, the loop topic's
// spread and the table's writes, and the input partitions each process
// owns (by its client id).
func (e *env) converge(ctx context.Context, sinks bool, svc Service, group string, inputs []string, cs []*child) (GroupRun, error) {
	r := GroupRun{Instances: len(cs)}
	loop, table := group+"-loop", group+"-table"
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := e.probe.waitCaughtUp(wctx, group, append(inputs, loop)...); err != nil {
		return r, cs[0].annotate(err)
	}
	first, last, err := e.probe.span(ctx, loop, table)
	if err != nil {
		return r, err
	}
	end := last
	if sinks {
		if end, err = e.sinkConverged(wctx, svc, cs, group, table); err != nil {
			return r, cs[0].annotate(err)
		}
	}
	r.Elapsed, r.Processor, r.Startup = end.Sub(first), last.Sub(first), first.Sub(cs[0].started)
	for _, c := range cs {
		rss, err := peakRSS(c.cmd.Process.Pid)
		if err != nil {
			return r, err
		}
		cpu, err := cpuTime(c.cmd.Process.Pid)
		if err != nil {
			return r, err
		}
		r.PeakRSS, r.CPU = append(r.PeakRSS, rss), append(r.CPU, cpu)
	}
	if r.Loop, err = e.probe.partitionCounts(loop); err != nil {
		return r, err
	}
	tc, err := e.probe.partitionCounts(table)
	if err != nil {
		return r, err
	}
	for _, n := range tc {
		r.TableWrites += n
	}
	owned, err := e.probe.assignment(ctx, group, inputs[0], len(cs))
	if err != nil {
		return r, err
	}
	for _, c := range cs {
		r.Split = append(r.Split, len(owned[c.clientID]))
	}
	return r, nil
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
	svcChild, err := env.startService(ctx, o, svc, inputs, childSpec{name: "service", clientID: svc.Spec.Name, profile: env.profilePath(o, "")})
	if err != nil {
		return err
	}
	defer svcChild.Stop()
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
		return svcChild.annotate(err)
	}
	if _, err := env.sinkConverged(wctx, svc, []*child{svcChild}, group, table); err != nil {
		return svcChild.annotate(err)
	}
	before, err := scrape(ctx, svcChild.url)
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
		return svcChild.annotate(err)
	}
	if _, err := env.sinkConverged(wctx, svc, []*child{svcChild}, group, table); err != nil {
		return svcChild.annotate(err)
	}
	after, err := scrape(ctx, svcChild.url)
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
