package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("service", svc.Name)
	cfg, err := config.Load(svc, os.LookupEnv)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, log, build, sinks); err != nil {
		log.Error("stopped with an error", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func run(ctx context.Context, cfg config.Config, log *slog.Logger, build Builder, sinks bool) error {
	ks, err := kafka.New(cfg, false)
	if err != nil {
		return err
	}
	ks.Log = log
	reg := NewRegistry()
	d := Deps{Kafka: ks, Registry: reg, Log: log}
	awsCfg, err := AWSConfig(ctx, cfg.AWSRegion)
	if err != nil {
		return err
	}
	if sinks && cfg.DynamoTable != "" {
		d.Dynamo = dynamodb.NewFromConfig(awsCfg)
	}
	if sinks && (cfg.S3Bucket != "" || cfg.DLQS3Bucket != "") {
		d.S3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.AWSEndpoint != "" })
	}
	if err := WaitForTopics(ctx, log, ks, cfg.Topics); err != nil {
		return fmt.Errorf("waiting for topics: %w", err)
	}
	srv := httpapi.New(reg)
	unit, err := build(ctx, cfg, d, srv)
	if err != nil {
		return err
	}
	return Serve(ctx, log, cfg.HTTPAddr, srv, []*Unit{unit}, nil)
}

// AWSConfig loads the AWS SDK configuration for region; AWS_ENDPOINT_URL
// (and the SDK's per-service variables) are honoured by the SDK itself.
func AWSConfig(ctx context.Context, region string) (aws.Config, error) {
	c, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
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
