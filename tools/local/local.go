// Package local runs the whole system on one machine: an in-process
// Kafka-protocol broker, an in-process S3 endpoint, a generator of shop
// traffic writing genuine Debezium messages (the JsonConverter's, or the
// AvroConverter's with a Schema Registry on loopback), the three services
// and one HTTP server with every route.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/kafka"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/embedded"
	"github.com/cdcflow/cdcflow/tools/registry"
	"github.com/cdcflow/cdcflow/tools/shopsim"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// Options configures a local run.
type Options struct {
	KafkaPort     int           // fixed so other clients (kcat) can join; 0 = free port
	S3Port        int           // 0 = free port
	HTTPAddr      string        // the one HTTP server
	DataDir       string        // S3 objects are kept under DataDir/s3
	Rate          float64       // changes per second; <= 0 as fast as possible
	Changes       int64         // stop generating after this many records (the system keeps serving); 0 = no limit
	Duration      time.Duration // 0 = until interrupted
	Seed          uint64
	Products      int           // initial catalogue beyond the five seed products
	FlushInterval time.Duration // analytics flushes
	Progress      time.Duration // progress line interval
	Bucket        string
	// Format is the connector's converter (dbzenc.ConverterFormat): "json"
	// (the JsonConverter's envelope with schemas; the default when empty),
	// "avro", "jsonschema" or "protobuf" (the Confluent converters: a
	// Schema Registry, tools/registry, is started on loopback, the
	// generator registers its schemas there and the services read them
	// through SCHEMA_REGISTRY_URL).
	Format string
	// Getenv supplies the environment; AWS_ENDPOINT_URL there turns on the
	// DynamoDB mirrors.
	Getenv func(string) (string, bool)
	Log    *slog.Logger
	// Ready is called with the HTTP address once everything is started.
	Ready func(addr string)
}

// Service is one service the local system can run.
type Service struct {
	Spec  config.Service
	Build app.Builder
}

// Services are the services of the local system, in start order.
func Services() []Service {
	return []Service{{config.Inventory, app.Inventory}, {config.Analytics, app.Analytics}, {config.Search, app.Search}}
}

// Run runs the local system until ctx is done or Duration has passed.
func Run(ctx context.Context, o Options) error {
	log := o.Log
	if o.Format == "" {
		o.Format = "json"
	}
	format, err := dbzenc.ConverterFormat(o.Format)
	if err != nil {
		return fmt.Errorf("format: %w", err)
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	// The HTTP server first: the dashboard's address is the first line,
	// the page answers while the rest starts, and a port clash fails at
	// once.
	reg := app.NewRegistry()
	srv := httpapi.New(reg)
	h, err := app.Listen(slog.New(slog.DiscardHandler), o.HTTPAddr, srv)
	if err != nil {
		return err
	}
	log.Info("cdc-local dashboard", "url", "http://"+localHost(h.Addr())+"/")
	running := false
	defer func() {
		if !running { // h.Run closes the server itself
			h.Close()
		}
	}()
	broker, err := embedded.StartKafka(embedded.KafkaOptions{Port: o.KafkaPort, Partitions: 3,
		Topics: []string{"dbserver1.public.products", "dbserver1.public.orders", "dbserver1.public.order_items"}})
	if err != nil {
		return fmt.Errorf("start kafka: %w", err)
	}
	defer broker.Close()
	store, err := embedded.StartS3(embedded.S3Options{Port: o.S3Port, Dir: filepath.Join(o.DataDir, "s3")})
	if err != nil {
		return fmt.Errorf("start s3: %w", err)
	}
	defer store.Close()
	for _, b := range []string{o.Bucket, o.Bucket + "-dlq"} {
		if err := store.CreateBucket(ctx, b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	s3c, err := embedded.NewS3Client(ctx, store.Endpoint(), "us-east-1")
	if err != nil {
		return err
	}

	var srURL string
	if format.Registry() {
		sr, err := registry.Start(registry.Options{})
		if err != nil {
			return fmt.Errorf("start schema registry: %w", err)
		}
		defer sr.Close()
		srURL = sr.URL()
	}

	brokers := strings.Join(broker.Brokers(), ",")
	env := func(k string) (string, bool) {
		switch k {
		case "SCHEMA_REGISTRY_URL":
			if srURL != "" {
				return srURL, true
			}
		case "KAFKA_BOOTSTRAP_SERVERS":
			return brokers, true
		case "S3_BUCKET":
			return o.Bucket, true
		case "DLQ_S3_BUCKET":
			return o.Bucket + "-dlq", true
		case "FLUSH_INTERVAL":
			return strconv.Itoa(int(o.FlushInterval / time.Second)), true
		}
		return o.Getenv(k)
	}
	var dyn *dynamodb.Client
	if ep, ok := o.Getenv("AWS_ENDPOINT_URL"); ok && ep != "" {
		awsCfg, err := app.AWSConfig(ctx, "us-east-1")
		if err != nil {
			return err
		}
		dyn = dynamodb.NewFromConfig(awsCfg)
	}
	var units []*app.Unit
	for _, s := range Services() {
		cfg, err := config.Load(s.Spec, env)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Spec.Name, err)
		}
		ks, err := kafka.New(cfg, true)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Spec.Name, err)
		}
		ks.Log = log.With("service", s.Spec.Name)
		d := app.Deps{Kafka: ks, Registry: reg, Log: log.With("service", s.Spec.Name), S3: s3c}
		if s.Spec.DefaultTable != "" {
			d.Dynamo = dyn
		}
		u, err := s.Build(ctx, cfg, d, srv)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Spec.Name, err)
		}
		units = append(units, u)
	}

	var produced atomic.Int64
	gen := app.Part{Name: "generator", Stage: app.StageProcess, Run: func(ctx context.Context) error {
		return generate(ctx, broker.Brokers(), o, format, srURL, &produced)
	}}
	progress := app.Part{Name: "progress", Stage: app.StageSink, Run: func(ctx context.Context) error {
		return report(ctx, log, reg, &produced, o.Progress)
	}}
	units = append(units, &app.Unit{Name: "local", Parts: []app.Part{gen, progress}})

	api := "http://" + localHost(h.Addr())
	converter := o.Format
	if srURL != "" {
		converter += ", schema registry " + srURL
	}
	log.Info("cdc-local is up",
		"kafka", brokers, "s3", store.Endpoint(), "bucket", o.Bucket, "format", converter, "dashboard", api+"/",
		"try", api+"/v1/inventory/1 /v1/search?q=laptop /v1/reports/summary /readyz /metrics")
	if o.Ready != nil {
		o.Ready(h.Addr())
	}
	running = true
	err = h.Run(ctx, log, units)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// errEnough ends the generator once Options.Changes records are written.
var errEnough = errors.New("generator: enough records")

// localHost is addr with a wildcard host replaced by localhost, for a URL.
func localHost(addr string) string {
	if strings.HasPrefix(addr, "[::]") || strings.HasPrefix(addr, "0.0.0.0") {
		return "localhost" + addr[strings.LastIndex(addr, ":"):]
	}
	return addr
}

// generate writes the simulated shop's changes to the broker as Debezium
// envelopes, with a tombstone after each delete, like a connector: in
// format, with its schemas registered at srURL when it needs a registry.
func generate(ctx context.Context, brokers []string, o Options, format dbzenc.Format, srURL string, produced *atomic.Int64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return fmt.Errorf("generator: kafka client: %w", err)
	}
	defer cl.Close()
	shop := shopsim.New(shopsim.Config{Seed: o.Seed, Products: o.Products, Live: true})
	opts := dbzenc.EncodeOptions{Format: format}
	if format.Registry() {
		opts.Register = registry.Registrar(srURL, registry.RegistrarOptions{SchemaType: format.SchemaType()})
	}
	err = shop.Run(ctx, o.Rate, func(tx []shopsim.Change) error {
		recs, err := shopsim.Encode(tx, opts)
		if err != nil {
			return err
		}
		batch := make([]*kgo.Record, 0, len(recs))
		for _, r := range recs {
			batch = append(batch, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
		}
		if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			return fmt.Errorf("generator: produce: %w", err)
		}
		if n := produced.Add(int64(len(batch))); o.Changes > 0 && n >= o.Changes {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		o.Log.Info("generator done; the services keep serving", "records", produced.Load())
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// report logs a progress line: records produced, processed by each service,
// and the processing lag behind the source.
func report(ctx context.Context, log *slog.Logger, reg *prometheus.Registry, produced *atomic.Int64, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		processed := map[string]float64{}
		lag := 0.0
		families, err := reg.Gather()
		if err != nil {
			continue
		}
		for _, f := range families {
			switch f.GetName() {
			case "cdc_messages_total":
				for _, m := range f.GetMetric() {
					processed[label(m.GetLabel(), "service")] += m.GetCounter().GetValue()
				}
			case "cdc_source_lag_seconds":
				for _, m := range f.GetMetric() {
					lag = max(lag, m.GetGauge().GetValue())
				}
			}
		}
		attrs := []any{"produced", produced.Load(), "lag_seconds", fmt.Sprintf("%.1f", lag)}
		for svc, n := range processed {
			attrs = append(attrs, "processed_"+svc, int64(n))
		}
		log.Info("progress", attrs...)
	}
}

func label(pairs []*dto.LabelPair, name string) string {
	for _, p := range pairs {
		if p.GetName() == name {
			return p.GetValue()
		}
	}
	return ""
}
