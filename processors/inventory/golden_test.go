package inventory

import (
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/delivery"
	"github.com/cdcflow/cdcflow/testkit/golden"
)

// goldenOutbox is an outbox with one loopback and one output emit.
var goldenOutbox = delivery.Outbox{{Partition: 2, Offset: 41, Outs: []delivery.Out{
	{Key: "p/7", Value: []byte{1, 2, 3}},
	{Topic: "inventory.low-stock-alerts", Key: "7", Value: []byte(`{"product_id":7}`)},
}}}

// TestGoldenStateV1 decodes table values written by the release that
// introduced layout version 1 of each kind (testdata/state/v1).
func TestGoldenStateV1(t *testing.T) {
	product := &Product{
		Rev:     9,
		Applied: delivery.Applied{Pos: debezium.Position{Sequenced: true, Commit: 0x1A2B3C, LSN: 0x1A2B40, TsMs: 1736931600123}},
		Live:    true,
		Name:    "Wireless Mouse", Description: "2.4 GHz, 3 buttons", PriceCents: 2999, BaseStock: 40,
		Folded:    -3,
		FoldedMax: debezium.Position{LSN: 0x1A2B00, TsMs: 1736931600100},
		Pending:   []Pending{{Pos: debezium.Position{LSN: 0x1A2C00, TsMs: 1736931600200}, Amount: -2}},
		Marks:     delivery.Marks{{Partition: 1, Offset: 77, Seq: 2}},
		Alerted:   true,
		CDCTsMs:   1736931600123,
		Outbox:    goldenOutbox,
	}
	deleted := &Product{Rev: 3, Deleted: true,
		Applied: delivery.Applied{Pos: debezium.Position{TsMs: 1736931600999}, Prints: []uint64{0xDEADBEEF, 12}}}
	item := &Item{
		Applied: delivery.Applied{Pos: debezium.Position{Snapshot: true, TsMs: 1736931600000}},
		Live:    true, ProductID: 7, Quantity: 2, Outbox: goldenOutbox,
	}
	for name, v := range map[string]any{"product": product, "product-deleted": deleted, "item": item} {
		t.Run(name, func(t *testing.T) {
			golden.Check(t, "testdata/state/v1/"+name+".bin", TableCodec{}, v, true)
		})
	}
}
