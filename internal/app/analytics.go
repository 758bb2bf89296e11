package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/processors/analytics"
	"github.com/cdcflow/cdcflow/sinks/s3report"
	anviews "github.com/cdcflow/cdcflow/views/analytics"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// Analytics builds the analytics-service. Its whole topology:
//
//	group <KAFKA_GROUP_ID>         orders, order_items → table (orders and lines);
//	                               undecodable records → DLQ_TOPIC
//	view  of that table            folds the figures per partition (views/analytics.Fold):
//	                               GET /v1/reports/{name}, /v1/reports/windows; read by the flusher
//	tail  of DLQ_TOPIC             GET /v1/dead-letters/analytics-service (the newest dead letters)
//	flusher                        the view's reports → S3 S3_BUCKET every FLUSH_INTERVAL and at
//	                               shutdown, by the instance owning partition 0 (when set);
//	                               GET /v1/reports/s3: the last flush and its objects
//	group <KAFKA_GROUP_ID>-dlq-s3  DLQ_TOPIC → S3 DLQ_S3_BUCKET (when set)
func Analytics(ctx context.Context, cfg config.Config, d Deps, srv *httpapi.Server) (*Unit, error) {
	w := newWiring(cfg, d, srv)
	group := goka.Group(cfg.GroupID)
	if err := w.outputs(cfg.Inputs.Orders, cfg.DLQTopic); err != nil {
		return nil, err
	}
	// The flusher learns from the processor's rebalances whether this
	// instance owns partition 0 and so writes the reports.
	var flusher *s3report.Flusher
	onRebalance := func(a goka.Assignment) {
		if flusher != nil {
			flusher.RebalanceCallback()(a)
		}
	}
	input, err := w.input()
	if err != nil {
		return nil, err
	}
	err = w.processor(analytics.Define(analytics.Config{
		Group:       group,
		OrdersTopic: goka.Stream(cfg.Inputs.Orders),
		ItemsTopic:  goka.Stream(cfg.Inputs.OrderItems),
		Input:       input,
		Metrics:     analytics.NewMetrics(d.Registry),
		Log:         d.Log,
	}), goka.WithRebalanceCallback(onRebalance))
	if err != nil {
		return nil, err
	}
	fold := anviews.NewFold()
	view, err := w.view("report view", analytics.Table(group), analytics.TableCodec{},
		goka.WithViewStorageBuilder(fold.Storage(d.Kafka.ViewStorage)))
	if err != nil {
		return nil, err
	}
	anviews.Routes(srv, fold)
	w.deadLetters()
	if d.S3 != nil && cfg.S3Bucket != "" {
		flusher, err = s3report.New(s3report.Options{
			Client: d.S3, Bucket: cfg.S3Bucket, Reports: fold, Ready: view.Recovered,
			Interval: cfg.FlushInterval, Registerer: d.Registry, Service: cfg.Service.Name, Log: d.Log,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: s3 flusher: %w", cfg.Service.Name, err)
		}
		srv.Degraded(w.name("s3"), flusher.Health)
		srv.Handle("GET /v1/reports/s3", func(rw http.ResponseWriter, _ *http.Request) {
			httpapi.WriteJSON(rw, http.StatusOK, flusher.Status())
		})
		w.add(Part{Name: w.name("s3-flusher"), Stage: StageSink, Run: flusher.Run})
	}
	if err := w.deadLetterArchive(group + "-dlq-s3"); err != nil {
		return nil, err
	}
	return w.unit, nil
}
