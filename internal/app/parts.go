package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/kafka"
	"github.com/cdcflow/cdcflow/internal/registry"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/sinks/dlq"
	"github.com/cdcflow/cdcflow/sinks/dynamo"
	"github.com/cdcflow/cdcflow/sinks/mirror"
	"github.com/cdcflow/cdcflow/sinks/retry"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// wiring collects the parts of one service while its builder (inventory.go,
// analytics.go, search.go) lays out the service's topology; each method
// adds one group, view or sink, registers its readiness or health, and
// returns what the builder needs next.
type wiring struct {
	cfg  config.Config
	d    Deps
	srv  *httpapi.Server
	unit *Unit
	lag  *kafka.Lag // consumer_lag of every group the service runs
}

func newWiring(cfg config.Config, d Deps, srv *httpapi.Server) *wiring {
	w := &wiring{cfg: cfg, d: d, srv: srv, unit: &Unit{Name: cfg.Service.Name}}
	w.lag = kafka.NewLag(d.Kafka, cfg.Service.Name, d.Registry, cfg.LagInterval)
	w.add(Part{Name: w.name("consumer-lag"), Stage: StageProcess, Run: w.lag.Run})
	return w
}

// name is a part's name: the service's, then what.
func (w *wiring) name(what string) string { return w.cfg.Service.Name + "/" + what }

func (w *wiring) add(p Part) { w.unit.Parts = append(w.unit.Parts, p) }

// outputs creates the topics the service writes, partitioned like input.
func (w *wiring) outputs(input string, topics ...string) error {
	if err := w.d.Kafka.EnsureStreams(input, topics...); err != nil {
		return fmt.Errorf("%s: %w", w.cfg.Service.Name, err)
	}
	return nil
}

// input is the CDC input edge of the service's processor: decoding,
// dead letters and the input metrics; with SCHEMA_REGISTRY_URL, the schema
// registry client that Confluent-framed (Avro, JSON Schema) records are decoded with,
// reported degraded in /readyz while it fails.
func (w *wiring) input() (*cdc.Input, error) {
	ic := cdc.InputConfig{
		Service:  w.cfg.Service.Name,
		DLQTopic: goka.Stream(w.cfg.DLQTopic),
		Decoder:  debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: w.cfg.DecimalScale, UnavailablePlaceholder: w.cfg.UnavailablePlaceholder}),
		Metrics:  cdc.NewMetrics(w.d.Registry, w.cfg.Service.Name),
		Log:      w.d.Log,
	}
	if sc := w.cfg.SchemaRegistry; sc.Enabled() {
		cl, err := registry.New(registry.Options[*debezium.RegistrySchema]{
			URLs: sc.URLs, Username: sc.Username, Password: sc.Password, CAFile: sc.CAFile, Timeout: sc.Timeout,
			ParseTyped: debezium.ParseRegistrySchema, Service: w.cfg.Service.Name, Registerer: w.d.Registry, Log: w.d.Log,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w.cfg.Service.Name, err)
		}
		ic.Schemas = cl
		ic.Backoff = func(n int) time.Duration { return retry.FullJitter(n, 50*time.Millisecond, 5*time.Second) }
		w.srv.Degraded(w.name("schema-registry"), cl.Health)
	}
	return cdc.NewInput(ic), nil
}

// processor runs the Goka processor of graph; it is ready once its group
// table has recovered.
func (w *wiring) processor(graph *goka.GroupGraph, opts ...goka.ProcessorOption) error {
	name := w.name("processor")
	p, err := goka.NewProcessor(w.d.Kafka.Brokers, graph, w.d.Kafka.ProcessorOptions(opts...)...)
	if err != nil {
		return fmt.Errorf("%s: create processor for group %s: %w", name, graph.Group(), err)
	}
	w.lag.Watch(graph)
	log := w.d.Log
	w.add(Part{Name: name, Stage: StageProcess, Run: func(ctx context.Context) error {
		err := p.Run(ctx)
		if err != nil && ctx.Err() != nil && errors.Is(err, cdc.ErrStopped) {
			// Records waited for the schema registry until shutdown;
			// they stay uncommitted and are read on the next start.
			log.Warn("records left for the next start: the schema registry did not answer before shutdown", "error", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("processor %s: %w", graph.Group(), err)
		}
		return nil
	}})
	w.srv.Ready(name, recovered("group table", p))
	return nil
}

// view runs a Goka view of table for the queries (what names it in the
// readiness report); it is ready once recovered.
func (w *wiring) view(what string, table goka.Table, c goka.Codec, opts ...goka.ViewOption) (*goka.View, error) {
	name := w.name("view")
	v, err := goka.NewView(w.d.Kafka.Brokers, table, c, w.d.Kafka.ViewOptions(opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%s: create view of %s: %w", name, table, err)
	}
	w.add(Part{Name: name, Stage: StageView, Run: func(ctx context.Context) error {
		if err := v.Run(ctx); err != nil {
			return fmt.Errorf("view %s: %w", table, err)
		}
		return nil
	}})
	w.srv.Ready(name, recovered(what, v))
	return v, nil
}

// mirror mirrors a group table to DynamoDB when the service has a DynamoDB
// client: it creates the table when missing, then runs the mirror's group
// (mc.Group; started once view has recovered, so replays write the newest
// state) and its flush loop.
func (w *wiring) mirror(ctx context.Context, spec dynamo.TableSpec, mc mirror.Config, view *goka.View) error {
	if w.d.Dynamo == nil {
		return nil
	}
	name := w.cfg.Service.Name
	if err := w.ensureTable(ctx, spec); err != nil { // retried while DynamoDB fails (app.go)
		return fmt.Errorf("%s: %w", name, err)
	}
	dw, err := dynamo.NewWriter(w.d.Dynamo, dynamo.Options{Table: spec.Name, Name: name, Registerer: w.d.Registry, Logger: w.d.Log})
	if err != nil {
		return fmt.Errorf("%s: dynamodb writer: %w", name, err)
	}
	mc.Writer, mc.Registerer, mc.Log = dw, w.d.Registry, w.d.Log
	m := mirror.New(mc)
	graph := m.Graph()
	proc, err := goka.NewProcessor(w.d.Kafka.Brokers, graph, w.d.Kafka.ProcessorOptions()...)
	if err != nil {
		return fmt.Errorf("%s: create mirror processor: %w", name, err)
	}
	w.lag.Watch(graph)
	w.srv.Degraded(w.name("dynamodb"), m.Health)
	w.add(Part{Name: w.name("mirror"), Stage: StageProcess, Run: func(ctx context.Context) error {
		select {
		case <-view.WaitRunning():
		case <-ctx.Done():
			return nil
		}
		if err := proc.Run(ctx); err != nil {
			return fmt.Errorf("mirror processor %s: %w", mc.Group, err)
		}
		return nil
	}})
	w.add(Part{Name: w.name("mirror-flush"), Stage: StageSink, Run: func(ctx context.Context) error {
		return m.Run(ctx, 10*time.Second)
	}})
	return nil
}

// deadLetterArchive archives the service's dead letters to DLQ_S3_BUCKET,
// when set: group reads the dead-letter topic and commits its offsets only
// after S3 has the object.
func (w *wiring) deadLetterArchive(group goka.Group) error {
	if w.d.S3 == nil || w.cfg.DLQS3Bucket == "" {
		return nil
	}
	name := w.cfg.Service.Name
	arch, err := dlq.New(dlq.Options{Client: w.d.S3, Bucket: w.cfg.DLQS3Bucket, Service: name,
		Group: group, Topic: goka.Stream(w.cfg.DLQTopic), Registerer: w.d.Registry, Log: w.d.Log})
	if err != nil {
		return fmt.Errorf("%s: dead-letter archive: %w", name, err)
	}
	graph := arch.Graph()
	proc, err := goka.NewProcessor(w.d.Kafka.Brokers, graph, w.d.Kafka.ProcessorOptions()...)
	if err != nil {
		return fmt.Errorf("%s: dead-letter archive processor: %w", name, err)
	}
	w.lag.Watch(graph)
	w.srv.Degraded(w.name("dlq-s3"), arch.Health)
	log := w.d.Log
	w.add(Part{Name: w.name("dlq-archiver"), Stage: StageProcess, Run: func(ctx context.Context) error {
		err := proc.Run(ctx)
		if err != nil && ctx.Err() != nil && errors.Is(err, dlq.ErrStopped) {
			// S3 refused records until shutdown; they stay uncommitted
			// and are archived on the next start.
			log.Warn("dead letters left for the next start: S3 unavailable at shutdown", "error", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("dead-letter archive processor: %w", err)
		}
		return nil
	}})
	w.add(Part{Name: w.name("dlq-s3"), Stage: StageSink, Run: arch.Run})
	return nil
}

// recovered is a readiness check for anything that recovers tables.
func recovered(what string, r interface{ Recovered() bool }) httpapi.Check {
	return func() (bool, string) {
		if r.Recovered() {
			return true, what + " recovered"
		}
		return false, what + " recovering"
	}
}
