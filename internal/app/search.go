package app

import (
	"context"
	"fmt"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/processors/search"
	"github.com/cdcflow/cdcflow/sinks/mirror"
	"github.com/cdcflow/cdcflow/views/httpapi"
	searchviews "github.com/cdcflow/cdcflow/views/search"
)

// Search builds the search-indexer: its processor, a view feeding the
// in-memory search index, and (with a DynamoDB client) the mirror to
// DYNAMODB_TABLE.
func Search(ctx context.Context, cfg config.Config, d Deps, srv *httpapi.Server) (*Unit, error) {
	name := cfg.Service.Name
	group := goka.Group(cfg.GroupID)
	u := &Unit{Name: name}
	if err := d.Kafka.EnsureStreams(cfg.Inputs.Products, cfg.DLQTopic); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	graph := search.Define(search.Config{
		Group:         group,
		ProductsTopic: goka.Stream(cfg.Inputs.Products),
		Input:         NewInput(cfg, d),
		Metrics:       search.NewMetrics(d.Registry),
		Log:           d.Log,
	})
	proc, part, err := ProcessorPart(name+"/processor", d, graph)
	if err != nil {
		return nil, err
	}
	u.Parts = append(u.Parts, part)
	srv.Ready(name+"/processor", Recovered("group table", proc))

	ix := searchviews.New(d.Log)
	view, part, err := ViewPart(name+"/view", d, search.Table(group), search.DocCodec{}, ix.ViewOptions(d.Kafka.ViewStorage)...)
	if err != nil {
		return nil, err
	}
	u.Parts = append(u.Parts, part)
	srv.Ready(name+"/view", Recovered("search index", view))
	searchviews.Routes(srv, ix)

	archive, err := deadLetterArchive(cfg, d, srv)
	if err != nil {
		return nil, err
	}
	u.Parts = append(u.Parts, archive...)

	if d.Dynamo != nil {
		parts, err := mirrorParts(ctx, cfg, d, mirror.SearchTable(cfg.DynamoTable), mirror.Config{
			Group: group + "-dynamodb", Table: search.Table(group), Codec: search.DocCodec{},
			Item: mirror.SearchItem, Latest: view.Get, CDCTime: mirror.SearchCDCTime,
		}, view, srv)
		if err != nil {
			return nil, err
		}
		u.Parts = append(u.Parts, parts...)
	}
	return u, nil
}
