package app

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/kafka"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// Builder builds one service's unit.
type Builder func(ctx context.Context, cfg config.Config, d Deps, srv *httpapi.Server) (*Unit, error)

// Main is the whole life of a service binary: read and validate the
// configuration, connect, run until SIGTERM/SIGINT, stop gracefully. It
// returns the process exit code.
func Main(svc config.Service, build Builder) int { return main(svc, build, true) }

// MainWithoutSinks is Main without DynamoDB or S3 clients: only the
// processor, views and API run. The load command measures processors alone
// this way.
func MainWithoutSinks(svc config.Service, build Builder) int { return main(svc, build, false) }

func main(svc config.Service, build Builder, sinks bool) int {
	cfg, err := config.Load(svc, os.LookupEnv)
	level := slog.LevelInfo
	if err == nil {
		level = cfg.LogLevel
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("service", svc.Name)
	RouteLibraryLogs(log)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 2
	}
	SetMemoryLimit(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, log, build, sinks); err != nil {
		log.Error("stopped with an error", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// RouteLibraryLogs sends every log line of the libraries through log (JSON,
// at a level per line: kafka.Logger):
//   - Sarama logs through its package variable sarama.Logger (discarded by
//     default, so its errors were lost); there is no per-client logger, so
//     it is set here, once, in Main, before any client exists. Library
//     packages never set it: cdc-local and the tests run several services
//     in one process, and the global belongs to the binary.
//   - Goka's processors and views log through the logger in their options
//     (kafka.Settings.Log); its topic manager logs through Goka's default
//     logger only at debug or on a configuration mismatch we do not ask it
//     to warn about; a few lines (stats) use the standard library's log,
//     whose output is redirected here.
//   - slog.Default (what a component given no logger uses) is log.
//   - The AWS SDK's warnings go through log too (AWSConfig).
func RouteLibraryLogs(log *slog.Logger) {
	slog.SetDefault(log)
	sarama.Logger = kafka.SaramaLogger(log)
	stdlog.SetFlags(0)
	stdlog.SetOutput(kafka.Logger{Log: log.With("component", "log"), Routine: slog.LevelInfo, Warning: slog.LevelWarn, Failure: slog.LevelError})
}

// run is the life of the service after its configuration was read: bind
// HTTP_ADDR first (a clash fails at once), serve /healthz and /metrics,
// then start (wait for Kafka and the topics, check the group's state,
// create topics and tables; /readyz says which) and run until ctx ends. A
// signal at any stage ends it without an error.
func run(ctx context.Context, cfg config.Config, log *slog.Logger, build Builder, sinks bool) error {
	reg := NewRegistry()
	srv := httpapi.New(reg)
	st := &Startup{}
	st.Set("starting", "")
	srv.Ready("startup", st.Check)
	h, err := Listen(log, cfg.HTTPAddr, srv)
	if err != nil {
		return err
	}
	type started struct {
		unit *Unit
		err  error
	}
	done := make(chan started, 1)
	go func() {
		u, err := start(ctx, cfg, log, build, sinks, reg, srv, st)
		done <- started{u, err}
	}()
	var res started
	select {
	case res = <-done:
	case <-ctx.Done():
		// Stopped while starting: whatever it waits for (Kafka, topics,
		// a table) ends with ctx; a call that does not take ctx (a
		// client connecting) is given the shutdown bound.
		select {
		case res = <-done:
		case <-time.After(ShutdownTimeout):
			log.Warn("stopped while starting; the start did not return within the shutdown bound", "stage", st.Stage())
			h.Close()
			return nil
		}
	}
	if ctx.Err() != nil {
		log.Info("shutting down while starting", "stage", st.Stage())
		if res.err != nil && !errors.Is(res.err, context.Canceled) {
			log.Warn("the start was interrupted", "error", res.err)
		}
		h.Close()
		return nil
	}
	if res.err != nil {
		h.Close()
		return res.err
	}
	st.Done()
	return h.Run(ctx, log, []*Unit{res.unit})
}

// start connects and builds the service, reporting each stage in st.
func start(ctx context.Context, cfg config.Config, log *slog.Logger, build Builder, sinks bool, reg *prometheus.Registry, srv *httpapi.Server, st *Startup) (*Unit, error) {
	ks, err := kafka.New(cfg, false)
	if err != nil {
		return nil, err
	}
	ks.Log = log
	d := Deps{Kafka: ks, Registry: reg, Log: log, Startup: st}
	awsCfg, err := AWSConfig(ctx, cfg.AWSRegion)
	if err != nil {
		return nil, err
	}
	if sinks && cfg.DynamoTable != "" {
		d.Dynamo = dynamodb.NewFromConfig(awsCfg)
	}
	if sinks && (cfg.S3Bucket != "" || cfg.DLQS3Bucket != "") {
		d.S3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.AWSEndpoint != "" })
	}
	st.Set("waiting for Kafka", strings.Join(cfg.Brokers, ","))
	if err := waitForKafka(ctx, log, ks, cfg.Topics, st); err != nil {
		return nil, fmt.Errorf("waiting for Kafka: %w", err)
	}
	st.Set("checking the group's state", cfg.GroupID)
	if err := checkState(ctx, log, cfg, ks, st); err != nil {
		return nil, err
	}
	st.Set("creating topics and tables", "")
	return build(ctx, cfg, d, srv)
}

// checkState closes the migration trap (kafka.EmptyState): a group with
// committed input offsets and an empty group table stops the service, or
// with ON_EMPTY_STATE=reprocess re-reads the inputs from the start. Kafka
// errors are retried, reported in st.
func checkState(ctx context.Context, log *slog.Logger, cfg config.Config, ks *kafka.Settings, st *Startup) error {
	backoff := 500 * time.Millisecond
	for {
		e, err := ks.EmptyState(cfg.GroupID, cfg.Topics)
		if err == nil && e == nil {
			return nil
		}
		if err == nil && cfg.OnEmptyState != config.OnEmptyStateReprocess {
			return fmt.Errorf("%v: started like this, the service would skip those %d records (the snapshot and the history) and keep an incomplete state. "+
				"The offsets are probably a previous consumer's: the default KAFKA_GROUP_ID is the Python service's group id. "+
				"Either set a new KAFKA_GROUP_ID (the service then reads its inputs from the beginning), "+
				"or set ON_EMPTY_STATE=%s to reset this group's input offsets to the beginning and re-read them (stop the Python service first)",
				e, e.Skipped(), config.OnEmptyStateReprocess)
		}
		if err == nil {
			log.Warn("re-reading the inputs from the beginning (ON_EMPTY_STATE=reprocess)", "state", e.String(), "skipped", e.Skipped())
			err = ks.Reprocess(cfg.GroupID, cfg.Topics)
			if err == nil {
				log.Info("reset the group's input offsets to the beginning", "group", cfg.GroupID, "topics", cfg.Topics)
				return kafka.ClearLocalState(cfg.StateDir)
			}
			if errors.Is(err, kafka.ErrGroupActive) {
				return fmt.Errorf("ON_EMPTY_STATE=%s: %w", config.OnEmptyStateReprocess, err)
			}
		}
		if kafka.Permanent(err) {
			return fmt.Errorf("checking the state of group %s: %w", cfg.GroupID, err)
		}
		st.Set("checking the group's state", fmt.Sprintf("group %s: %v", cfg.GroupID, err))
		log.Warn("checking the group's state", "group", cfg.GroupID, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// AWSConfig loads the AWS SDK configuration for region; AWS_ENDPOINT_URL
// (and the SDK's per-service variables) are honoured by the SDK itself.
// The SDK's own log lines (its default logger writes plain text to
// stderr) go to slog.Default: WARN as warnings, DEBUG otherwise.
func AWSConfig(ctx context.Context, region string) (aws.Config, error) {
	c, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region),
		awsconfig.WithLogger(logging.LoggerFunc(func(class logging.Classification, format string, v ...interface{}) {
			level := slog.LevelDebug
			if class == logging.Warn {
				level = slog.LevelWarn
			}
			slog.Default().Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "aws")
		})))
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws configuration: %w", err)
	}
	return c, nil
}

// NewRegistry returns a metrics registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
