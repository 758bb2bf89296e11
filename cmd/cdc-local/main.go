// Command cdc-local runs the whole system on one machine with nothing else
// installed: an in-process Kafka-protocol broker, an in-process S3 endpoint,
// a generator of shop traffic writing genuine Debezium messages (-format
// json, or avro, jsonschema, protobuf: the Confluent converters', with a
// Schema Registry on loopback),
// the three services and one HTTP server with every query route. With
// AWS_ENDPOINT_URL set it also mirrors to that DynamoDB. Ctrl-C stops it.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/local"
)

func main() {
	o := local.Options{Getenv: os.LookupEnv}
	flag.IntVar(&o.KafkaPort, "kafka-port", 9092, "port of the in-process Kafka broker (0 = any free port)")
	flag.IntVar(&o.S3Port, "s3-port", 9000, "port of the in-process S3 endpoint (0 = any free port)")
	flag.StringVar(&o.HTTPAddr, "http", ":8080", "address of the HTTP API")
	flag.StringVar(&o.DataDir, "data", "cdc-local-data", "directory for the S3 objects")
	flag.StringVar(&o.Bucket, "bucket", "analytics", "S3 bucket for the analytics reports (the DLQ bucket is <bucket>-dlq)")
	flag.Float64Var(&o.Rate, "rate", 50, "changes per second the shop generates (0 = as fast as possible)")
	flag.Int64Var(&o.Changes, "changes", 0, "stop generating after this many records and keep serving (0 = no limit)")
	flag.DurationVar(&o.Duration, "duration", 0, "stop after this long (0 = run until Ctrl-C)")
	flag.Uint64Var(&o.Seed, "seed", 1, "seed of the simulated shop")
	flag.IntVar(&o.Products, "products", 100, "products in the initial catalogue beyond the five seed products")
	flag.DurationVar(&o.FlushInterval, "flush", 10e9, "analytics flush interval")
	flag.DurationVar(&o.Progress, "progress", 5e9, "interval of the progress line")
	flag.StringVar(&o.Format, "format", "json", "the connector's converter: "+dbzenc.Converters+" (the Confluent converters with a Schema Registry on loopback)")
	flag.Parse()
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := local.Run(ctx, o); err != nil {
		o.Log.Error("cdc-local stopped with an error", "error", err)
		os.Exit(1)
	}
}
