package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/sinks/dlq"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// deadLetterArchive archives the service's dead letters to DLQ_S3_BUCKET,
// when set: a Goka group over the dead-letter topic whose offsets commit
// only after S3 has the object.
func deadLetterArchive(cfg config.Config, d Deps, srv *httpapi.Server) ([]Part, error) {
	if d.S3 == nil || cfg.DLQS3Bucket == "" {
		return nil, nil
	}
	name := cfg.Service.Name
	arch, err := dlq.New(dlq.Options{Client: d.S3, Bucket: cfg.DLQS3Bucket, Service: name,
		Group: goka.Group(cfg.GroupID + "-dlq-s3"), Topic: goka.Stream(cfg.DLQTopic),
		Registerer: d.Registry, Log: d.Log})
	if err != nil {
		return nil, fmt.Errorf("%s: dead-letter archive: %w", name, err)
	}
	proc, err := goka.NewProcessor(d.Kafka.Brokers, arch.Graph(), d.Kafka.ProcessorOptions()...)
	if err != nil {
		return nil, fmt.Errorf("%s: dead-letter archive processor: %w", name, err)
	}
	srv.Degraded(name+"/dlq-s3", arch.Health)
	return []Part{
		{Name: name + "/dlq-archiver", Stage: StageProcess, Run: func(ctx context.Context) error {
			err := proc.Run(ctx)
			if err != nil && ctx.Err() != nil && errors.Is(err, dlq.ErrStopped) {
				// S3 refused records until shutdown; they stay uncommitted
				// and are archived on the next start.
				d.Log.Warn("dead letters left for the next start: S3 unavailable at shutdown", "error", err)
				return nil
			}
			if err != nil {
				return fmt.Errorf("dead-letter archive processor: %w", err)
			}
			return nil
		}},
		{Name: name + "/dlq-s3", Stage: StageSink, Run: arch.Run},
	}, nil
}
