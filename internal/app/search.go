package app

import (
	"context"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/processors/search"
	"github.com/cdcflow/cdcflow/sinks/mirror"
	"github.com/cdcflow/cdcflow/views/httpapi"
	searchviews "github.com/cdcflow/cdcflow/views/search"
)

// Search builds the search-indexer. Its whole topology:
//
//	group <KAFKA_GROUP_ID>           products → table (one search document per product);
//	                                 undecodable records → DLQ_TOPIC
//	view  of that table              feeds the in-memory index: GET /v1/search, /v1/products/{id}
//	tail  of DLQ_TOPIC               GET /v1/dead-letters/search-indexer (the newest dead letters)
//	group <KAFKA_GROUP_ID>-dynamodb  table changelog → DynamoDB DYNAMODB_TABLE (with AWS)
//	group <KAFKA_GROUP_ID>-dlq-s3    DLQ_TOPIC → S3 DLQ_S3_BUCKET (when set)
func Search(ctx context.Context, cfg config.Config, d Deps, srv *httpapi.Server) (*Unit, error) {
	w := newWiring(cfg, d, srv)
	group := goka.Group(cfg.GroupID)
	if err := w.outputs(cfg.Inputs.Products, cfg.DLQTopic); err != nil {
		return nil, err
	}
	input, err := w.input()
	if err != nil {
		return nil, err
	}
	err = w.processor(search.Define(search.Config{
		Group:         group,
		ProductsTopic: goka.Stream(cfg.Inputs.Products),
		Input:         input,
		Metrics:       search.NewMetrics(d.Registry),
		Log:           d.Log,
	}))
	if err != nil {
		return nil, err
	}
	ix := searchviews.New(d.Log)
	view, err := w.view("search index", search.Table(group), search.DocCodec{}, ix.ViewOptions(d.Kafka.ViewStorage)...)
	if err != nil {
		return nil, err
	}
	searchviews.Routes(srv, ix)
	w.deadLetters()
	err = w.mirror(ctx, mirror.SearchTable(cfg.DynamoTable), mirror.Config{
		Group: group + "-dynamodb", Table: search.Table(group), Codec: search.DocCodec{},
		Item: mirror.SearchItem, Latest: view.Get, CDCTime: mirror.SearchCDCTime,
	}, view)
	if err != nil {
		return nil, err
	}
	if err := w.deadLetterArchive(group + "-dlq-s3"); err != nil {
		return nil, err
	}
	return w.unit, nil
}
