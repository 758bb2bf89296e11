package analytics

import (
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/delivery"
	"github.com/cdcflow/cdcflow/testkit/golden"
)

// TestGoldenStateV1 decodes table values written by the release that
// introduced layout version 1 of each kind (testdata/state/v1).
func TestGoldenStateV1(t *testing.T) {
	marks := delivery.Marks{{Partition: 0, Offset: 10, Seq: 1}, {Partition: 3, Offset: 99, Seq: 0}}
	outbox := delivery.Outbox{{Partition: 1, Offset: 55, Outs: []delivery.Out{
		{Key: "d/2025-01-15", Value: []byte{3, 1, 2}},
		{Key: "c/42", Value: []byte{3, 4, 5}},
	}}}
	for name, v := range map[string]any{
		"order": &Order{
			Applied: delivery.Applied{Pos: debezium.Position{Sequenced: true, Commit: 0x3000, LSN: 0x3008, TsMs: 1736931600700}},
			Live:    true, CustomerID: 42, TotalCents: 15998, Status: "shipped", CreatedAt: 1736931600123456, ItemsQty: 3,
			Marks: marks, Outbox: outbox,
		},
		"order-deleted": &Order{
			Applied: delivery.Applied{Pos: debezium.Position{TsMs: 1736931600800}, Prints: []uint64{7, 8}},
			Deleted: true, ItemsQty: 1,
		},
		"line": &Line{
			Applied: delivery.Applied{Pos: debezium.Position{Snapshot: true, TsMs: 1736931600000}},
			Live:    true, OrderID: 1001, ProductID: 7, Quantity: 2, PriceCents: 2999, Outbox: outbox,
		},
		"daily":    &Daily{TotalCents: 123456, OrderCount: 17, Marks: marks},
		"product":  &ProductSales{QuantitySold: 30, RevenueCents: 89970, LiveLines: 12, Marks: marks},
		"customer": &Customer{OrderCount: 4, TotalSpentCents: 40000, Marks: marks},
		"status":   &Status{Count: 9, Marks: marks},
		"window":   &Window{Orders: 3, RevenueCents: -500, ItemsSold: 6, Marks: marks},
	} {
		t.Run(name, func(t *testing.T) {
			golden.Check(t, "testdata/state/v1/"+name+".bin", TableCodec{}, v, true)
		})
	}
}
