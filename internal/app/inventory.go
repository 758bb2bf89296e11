package app

import (
	"context"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/processors/inventory"
	"github.com/cdcflow/cdcflow/sinks/mirror"
	"github.com/cdcflow/cdcflow/views/httpapi"
	invviews "github.com/cdcflow/cdcflow/views/inventory"
)

// Inventory builds the inventory-service. Its whole topology:
//
//	group <KAFKA_GROUP_ID>           products, order_items → table (stock per product, order lines);
//	                                 low-stock alerts → LOW_STOCK_TOPIC; undecodable records → DLQ_TOPIC
//	view  of that table              GET /v1/inventory/{id}, /v1/inventory?below=N, /v1/inventory (a page)
//	tail  of LOW_STOCK_TOPIC         GET /v1/alerts/low-stock (the newest alerts)
//	tail  of DLQ_TOPIC               GET /v1/dead-letters/inventory-service (the newest dead letters)
//	group <KAFKA_GROUP_ID>-dynamodb  table changelog → DynamoDB DYNAMODB_TABLE (with AWS)
//	group <KAFKA_GROUP_ID>-dlq-s3    DLQ_TOPIC → S3 DLQ_S3_BUCKET (when set)
func Inventory(ctx context.Context, cfg config.Config, d Deps, srv *httpapi.Server) (*Unit, error) {
	w := newWiring(cfg, d, srv)
	group := goka.Group(cfg.GroupID)
	if err := w.outputs(cfg.Inputs.Products, cfg.LowStockTopic, cfg.DLQTopic); err != nil {
		return nil, err
	}
	input, err := w.input()
	if err != nil {
		return nil, err
	}
	err = w.processor(inventory.Define(inventory.Config{
		Group:         group,
		ProductsTopic: goka.Stream(cfg.Inputs.Products),
		ItemsTopic:    goka.Stream(cfg.Inputs.OrderItems),
		LowStockTopic: goka.Stream(cfg.LowStockTopic),
		Threshold:     cfg.LowStockThreshold,
		PendingLimit:  cfg.PendingLimit,
		Input:         input,
		Metrics:       inventory.NewMetrics(d.Registry),
		Log:           d.Log,
	}))
	if err != nil {
		return nil, err
	}
	view, err := w.view("query view", inventory.Table(group), inventory.TableCodec{})
	if err != nil {
		return nil, err
	}
	invviews.Routes(srv, view)
	invviews.AlertRoutes(srv, w.tail(cfg.LowStockTopic), cfg.LowStockThreshold)
	w.deadLetters()
	err = w.mirror(ctx, mirror.InventoryTable(cfg.DynamoTable), mirror.Config{
		Group: group + "-dynamodb", Table: inventory.Table(group), Codec: inventory.TableCodec{},
		Item: mirror.InventoryItem, Mirrored: inventory.IsProductKey, Latest: view.Get, CDCTime: mirror.InventoryCDCTime,
	}, view)
	if err != nil {
		return nil, err
	}
	if err := w.deadLetterArchive(group + "-dlq-s3"); err != nil {
		return nil, err
	}
	return w.unit, nil
}
