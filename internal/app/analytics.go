package app

import (
	"context"
	"fmt"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/processors/analytics"
	"github.com/cdcflow/cdcflow/sinks/s3report"
	anviews "github.com/cdcflow/cdcflow/views/analytics"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// Analytics builds the analytics-service: its processor, a view serving the
// reports, and (with S3_BUCKET) the flusher writing them to S3. Only the
// instance owning partition 0 of the group flushes.
func Analytics(ctx context.Context, cfg config.Config, d Deps, srv *httpapi.Server) (*Unit, error) {
	name := cfg.Service.Name
	group := goka.Group(cfg.GroupID)
	u := &Unit{Name: name}
	if err := d.Kafka.EnsureStreams(cfg.Inputs.Orders, cfg.DLQTopic); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	archive, err := deadLetterArchive(cfg, d, srv)
	if err != nil {
		return nil, err
	}
	u.Parts = append(u.Parts, archive...)

	// The processor creates the group table the view and the flusher read;
	// the flusher learns from the processor's rebalances whether this
	// instance owns partition 0 and so writes the reports.
	var flusher *s3report.Flusher
	onRebalance := func(a goka.Assignment) {
		if flusher != nil {
			flusher.RebalanceCallback()(a)
		}
	}
	graph := analytics.Define(analytics.Config{
		Group:       group,
		OrdersTopic: goka.Stream(cfg.Inputs.Orders),
		ItemsTopic:  goka.Stream(cfg.Inputs.OrderItems),
		Input:       NewInput(cfg, d),
		Metrics:     analytics.NewMetrics(d.Registry),
		Log:         d.Log,
	})
	proc, part, err := ProcessorPart(name+"/processor", d, graph, goka.WithRebalanceCallback(onRebalance))
	if err != nil {
		return nil, err
	}
	u.Parts = append(u.Parts, part)
	srv.Ready(name+"/processor", Recovered("group table", proc))

	view, part, err := ViewPart(name+"/view", d, analytics.Table(group), analytics.TableCodec{})
	if err != nil {
		return nil, err
	}
	u.Parts = append(u.Parts, part)
	srv.Ready(name+"/view", Recovered("report view", view))
	anviews.Routes(srv, view)

	if d.S3 != nil && cfg.S3Bucket != "" {
		flusher, err = s3report.New(s3report.Options{
			Client: d.S3, Bucket: cfg.S3Bucket, Table: view, Ready: view.Recovered,
			Interval: cfg.FlushInterval, Registerer: d.Registry, Log: d.Log,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: s3 flusher: %w", name, err)
		}
		srv.Degraded(name+"/s3", flusher.Health)
		u.Parts = append(u.Parts, Part{Name: name + "/s3-flusher", Stage: StageSink, Run: flusher.Run})
	}
	return u, nil
}
