package analytics

import (
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/delivery"
	"github.com/cdcflow/cdcflow/testkit/golden"
)

var (
	goldenMarks = delivery.Marks{{Partition: 0, Offset: 10, Seq: 1}, {Partition: 3, Offset: 99, Seq: 0}}
	goldenOrder = Order{
		Applied: delivery.Applied{Pos: debezium.Position{Sequenced: true, Commit: 0x3000, LSN: 0x3008, TsMs: 1736931600700}},
		Live:    true, CustomerID: 42, TotalCents: 15998, Status: "shipped", CreatedAt: 1736931600123456, ItemsQty: 3,
		Marks: goldenMarks,
	}
	goldenDeleted = Order{
		Applied: delivery.Applied{Pos: debezium.Position{TsMs: 1736931600800}, Prints: []uint64{7, 8}},
		Deleted: true, ItemsQty: 1,
	}
)

// TestGoldenStateV1 decodes table values written by the release that
// introduced layout version 1 of each kind (testdata/state/v1). The
// order's layout 1 ended with an outbox, read and dropped since layout 2;
// the aggregates' kinds are retired and decode to Retired.
func TestGoldenStateV1(t *testing.T) {
	outbox := delivery.Outbox{{Partition: 1, Offset: 55, Outs: []delivery.Out{
		{Key: "d/2025-01-15", Value: []byte{3, 1, 2}},
		{Key: "c/42", Value: []byte{3, 4, 5}},
	}}}
	order, deleted := goldenOrder, goldenDeleted
	for name, c := range map[string]struct {
		v       any
		current bool
	}{
		"order":         {&order, false},
		"order-deleted": {&deleted, false},
		"line": {&Line{
			Applied: delivery.Applied{Pos: debezium.Position{Snapshot: true, TsMs: 1736931600000}},
			Live:    true, OrderID: 1001, ProductID: 7, Quantity: 2, PriceCents: 2999, Outbox: outbox,
		}, true},
		"daily":    {Retired{Kind: "daily"}, false},
		"product":  {Retired{Kind: "product"}, false},
		"customer": {Retired{Kind: "customer"}, false},
		"status":   {Retired{Kind: "status"}, false},
		"window":   {Retired{Kind: "window"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			golden.Check(t, "testdata/state/v1/"+name+".bin", TableCodec{}, c.v, c.current)
		})
	}
}

// TestGoldenStateV2 decodes the orders written in layout 2
// (testdata/state/v2), the layout this binary writes.
func TestGoldenStateV2(t *testing.T) {
	deleted := goldenDeleted
	deleted.CreatedAt = 1736931600123456 // a deleted order keeps its window known
	deleted.LeftWindows = []int64{1736931300, -300}
	order := goldenOrder
	for name, v := range map[string]any{"order": &order, "order-deleted": &deleted} {
		t.Run(name, func(t *testing.T) {
			golden.Check(t, "testdata/state/v2/"+name+".bin", TableCodec{}, v, true)
		})
	}
}
