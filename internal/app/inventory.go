package app

import (
	"context"
	"fmt"
	"time"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/processors/inventory"
	"github.com/cdcflow/cdcflow/sinks/dynamo"
	"github.com/cdcflow/cdcflow/sinks/mirror"
	"github.com/cdcflow/cdcflow/views/httpapi"
	invviews "github.com/cdcflow/cdcflow/views/inventory"
)

// Inventory builds the inventory-service: its processor, a view for the
// queries, and (with a DynamoDB client) the mirror to DYNAMODB_TABLE.
func Inventory(ctx context.Context, cfg config.Config, d Deps, srv *httpapi.Server) (*Unit, error) {
	name := cfg.Service.Name
	group := goka.Group(cfg.GroupID)
	u := &Unit{Name: name}

	if err := d.Kafka.EnsureStreams(cfg.Inputs.Products, cfg.LowStockTopic, cfg.DLQTopic); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	graph := inventory.Define(inventory.Config{
		Group:         group,
		ProductsTopic: goka.Stream(cfg.Inputs.Products),
		ItemsTopic:    goka.Stream(cfg.Inputs.OrderItems),
		LowStockTopic: goka.Stream(cfg.LowStockTopic),
		Threshold:     cfg.LowStockThreshold,
		PendingLimit:  cfg.PendingLimit,
		Input:         NewInput(cfg, d),
		Metrics:       inventory.NewMetrics(d.Registry),
		Log:           d.Log,
	})
	proc, part, err := ProcessorPart(name+"/processor", d, graph)
	if err != nil {
		return nil, err
	}
	u.Parts = append(u.Parts, part)
	srv.Ready(name+"/processor", Recovered("group table", proc))

	view, part, err := ViewPart(name+"/view", d, inventory.Table(group), inventory.TableCodec{})
	if err != nil {
		return nil, err
	}
	u.Parts = append(u.Parts, part)
	srv.Ready(name+"/view", Recovered("query view", view))
	invviews.Routes(srv, view)

	archive, err := deadLetterArchive(cfg, d, srv)
	if err != nil {
		return nil, err
	}
	u.Parts = append(u.Parts, archive...)

	if d.Dynamo != nil {
		parts, err := mirrorParts(ctx, cfg, d, mirror.InventoryTable(cfg.DynamoTable), mirror.Config{
			Group: group + "-dynamodb", Table: inventory.Table(group), Codec: inventory.TableCodec{},
			Item: mirror.InventoryItem, Mirrored: inventory.IsProductKey, Latest: view.Get, CDCTime: mirror.InventoryCDCTime,
		}, view, srv)
		if err != nil {
			return nil, err
		}
		u.Parts = append(u.Parts, parts...)
	}
	return u, nil
}

// mirrorParts mirrors a group table to DynamoDB: it creates the table when
// missing, then runs the mirror's processor (started once the view has
// recovered, so replays write the newest state) and its flush loop.
func mirrorParts(ctx context.Context, cfg config.Config, d Deps, spec dynamo.TableSpec, mc mirror.Config, view *goka.View, srv *httpapi.Server) ([]Part, error) {
	name := cfg.Service.Name
	if err := dynamo.EnsureTable(ctx, d.Dynamo, spec); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	w, err := dynamo.NewWriter(d.Dynamo, dynamo.Options{Table: spec.Name, Name: name, Registerer: d.Registry, Logger: d.Log})
	if err != nil {
		return nil, fmt.Errorf("%s: dynamodb writer: %w", name, err)
	}
	mc.Writer, mc.Registerer, mc.Log = w, d.Registry, d.Log
	m := mirror.New(mc)
	proc, err := goka.NewProcessor(d.Kafka.Brokers, m.Graph(), d.Kafka.ProcessorOptions()...)
	if err != nil {
		return nil, fmt.Errorf("%s: create mirror processor: %w", name, err)
	}
	srv.Degraded(name+"/dynamodb", m.Health)
	return []Part{
		{Name: name + "/mirror", Stage: StageProcess, Run: func(ctx context.Context) error {
			select {
			case <-view.WaitRunning():
			case <-ctx.Done():
				return nil
			}
			if err := proc.Run(ctx); err != nil {
				return fmt.Errorf("mirror processor %s: %w", mc.Group, err)
			}
			return nil
		}},
		{Name: name + "/mirror-flush", Stage: StageSink, Run: func(ctx context.Context) error {
			return m.Run(ctx, 10*time.Second)
		}},
	}, nil
}
