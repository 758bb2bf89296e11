package inventory

import (
	"encoding/json"
	"io"
	stdlog "log"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/testkit/gokatest"
	"github.com/cdcflow/cdcflow/testkit/shopfeed"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/processors/delivery"
	"github.com/cdcflow/cdcflow/tools/oracle"
)

// Package-level sinks keep the benchmarked results alive.
var (
	sinkValue  interface{}
	sinkDeltas []stockDelta
	sinkInt    int64
)

// benchLSN is the commit position around which the benchmark states live.
const benchLSN uint64 = 16_790_676

// benchProduct is a typical product state in a running service: a live
// version, eight order-line deltas committed after it (the products topic
// read a little behind order_items), marks from the six partitions of the
// loop topic and the low-stock alert it emitted last in its outbox.

// benchPendingLimit is PENDING_LIMIT's default.
const benchPendingLimit = 256

func benchProduct() *Product {
	p := &Product{
		Rev:         1843,
		Applied:     delivery.Applied{Pos: debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}},
		Live:        true,
		Name:        "Rugged USB-C Espresso Machine 17",
		Description: "A rugged espresso machine with a 15-bar pump, a steam wand and a USB-C powered milk frother.",
		PriceCents:  189057,
		BaseStock:   22,
		Alerted:     true,
		CDCTsMs:     tsStart + 9_420,
	}
	for i := range 8 {
		p.Pending = append(p.Pending, Pending{
			Pos:    debezium.Position{LSN: benchLSN + uint64(i+1)*64, TsMs: tsStart + 9_000 + int64(i)*60},
			Amount: -int64(1 + i%3),
		})
	}
	for part := range int32(6) {
		p.Marks = append(p.Marks, delivery.Origin{Partition: part, Offset: 48_000 + int64(part)*1_217, Seq: uint32(part % 2)})
	}
	alert, err := json.Marshal(Alert{ProductID: "17", Name: p.Name, StockQuantity: p.Available(), Threshold: 10,
		Ts: time.UnixMilli(tsStart + 9_420).UTC().Format(time.RFC3339Nano)})
	if err != nil {
		panic(err)
	}
	p.Outbox = delivery.Outbox{{Partition: 2, Offset: 51_234,
		Outs: []delivery.Out{{Topic: string(alerts), Key: "17", Value: alert}}}}
	return p
}

// benchItem is a typical order-line state: live, inserted and then edited
// once, both callbacks' stock deltas in its outbox.
func benchItem() *Item {
	pos := debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}
	return &Item{
		Applied: delivery.Applied{Pos: pos}, Live: true, ProductID: 17, Quantity: 3,
		Outbox: delivery.Outbox{
			{Partition: 4, Offset: 70_112, Outs: []delivery.Out{{Key: ProductKey(17),
				Value: deltaEvent(delivery.Origin{Partition: 4, Offset: 70_112}, debezium.Position{LSN: benchLSN - 512, TsMs: tsStart + 8_200}, -2)}}},
			{Partition: 4, Offset: 70_390, Outs: []delivery.Out{{Key: ProductKey(17),
				Value: deltaEvent(delivery.Origin{Partition: 4, Offset: 70_390}, pos, -1)}}},
		},
	}
}

// BenchmarkTableCodec encodes and decodes a table value through TableCodec
// (as Goka does around every callback). SetBytes is the encoded size.
func BenchmarkTableCodec(b *testing.B) {
	for _, c := range []struct {
		name string
		v    interface{}
	}{
		{"Product", benchProduct()},
		{"Item", benchItem()},
	} {
		b.Run(c.name, func(b *testing.B) {
			enc, err := TableCodec{}.Encode(c.v)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				data, err := TableCodec{}.Encode(c.v)
				if err != nil {
					b.Fatal(err)
				}
				v, err := TableCodec{}.Decode(data)
				if err != nil {
					b.Fatal(err)
				}
				sinkValue = v
			}
			if p, ok := sinkValue.(*Product); ok && len(p.Pending) != 8 {
				b.Fatalf("decoded %d pending deltas, want 8", len(p.Pending))
			}
		})
	}
}

// decodedEvent builds a loop event with the package's own constructor and
// decodes it as onLoop does.
func decodedEvent(b *testing.B, raw []byte) event {
	b.Helper()
	ev, err := decodeEvent(raw)
	if err != nil {
		b.Fatal(err)
	}
	return ev
}

// BenchmarkApplyItem absorbs order-line changes: the insert of a new line
// (one delta), a quantity edit (one delta) and a move to another product
// (two deltas). Edits alternate between two row images at increasing
// commit positions, so every change is new and causes deltas.
func BenchmarkApplyItem(b *testing.B) {
	pos := debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}
	change := func(op debezium.Op, before, after *debezium.OrderItem) event {
		return decodedEvent(b, itemEvent(&debezium.Message{Kind: debezium.KindChange, Table: debezium.TableOrderItems,
			Op: op, ID: 10, Pos: pos, BeforeItem: before, AfterItem: after}))
	}
	insert := change(debezium.OpCreate, nil, item(10, 17, 3))
	quantity := [2]event{
		change(debezium.OpUpdate, item(10, 17, 3), item(10, 17, 5)),
		change(debezium.OpUpdate, item(10, 17, 5), item(10, 17, 3)),
	}
	move := [2]event{
		change(debezium.OpUpdate, item(10, 17, 3), item(10, 18, 3)),
		change(debezium.OpUpdate, item(10, 18, 3), item(10, 17, 3)),
	}
	b.Run("insert", func(b *testing.B) {
		ev := insert
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			var it Item
			deltas, ok := applyItem(&it, ev)
			if ok {
				n += len(deltas)
			}
			sinkDeltas = deltas
		}
		if n != b.N {
			b.Fatalf("%d deltas from %d inserts", n, b.N)
		}
	})
	edits := func(b *testing.B, evs [2]event, want int) {
		it := benchItem()
		it.ProductID, it.Quantity = evs[1].after.ProductID, evs[1].after.Quantity
		b.ReportAllocs()
		n := 0
		i := 0
		for b.Loop() {
			ev := evs[i&1]
			i++
			ev.pos.LSN = benchLSN + uint64(i)
			deltas, ok := applyItem(it, ev)
			if ok {
				n += len(deltas)
			}
			sinkDeltas = deltas
		}
		if n != want*b.N {
			b.Fatalf("%d deltas from %d edits, want %d each", n, b.N, want)
		}
	}
	b.Run("quantity", func(b *testing.B) { edits(b, quantity, 1) })
	b.Run("move", func(b *testing.B) { edits(b, move, 2) })
}

// BenchmarkApplyDelta applies a stock delta committed after the product's
// version. "pending=8": the typical product of benchProduct, its pending
// list reset to the same eight deltas before each call (a copy of 8 small
// structs, inside the timing). "pending=256": a product whose pending list
// is full (benchPendingLimit), so every delta folds the oldest one.
func BenchmarkApplyDelta(b *testing.B) {
	b.Run("pending=8", func(b *testing.B) {
		p := benchProduct()
		tmpl := append([]Pending(nil), p.Pending...)
		p.Pending = make([]Pending, 0, 16)
		b.ReportAllocs()
		n := 0
		lsn := benchLSN + 10_000
		for b.Loop() {
			p.Pending = append(p.Pending[:0], tmpl...)
			lsn++
			changed, _, _ := applyDelta(p, debezium.Position{LSN: lsn, TsMs: tsStart + 10_000}, -2, benchPendingLimit)
			if changed {
				n++
			}
		}
		if n != b.N || len(p.Pending) != 9 {
			b.Fatalf("%d of %d deltas applied, %d pending", n, b.N, len(p.Pending))
		}
		sinkInt = p.Available()
	})
	b.Run("pending=256", func(b *testing.B) {
		p := benchProduct()
		lsn := benchLSN + 10_000
		for len(p.Pending) < benchPendingLimit {
			lsn++
			applyDelta(p, debezium.Position{LSN: lsn, TsMs: tsStart + 10_000}, -1, benchPendingLimit)
		}
		b.ReportAllocs()
		folded := 0
		for b.Loop() {
			lsn++
			_, f, _ := applyDelta(p, debezium.Position{LSN: lsn, TsMs: tsStart + 10_000}, -1, benchPendingLimit)
			folded += f
		}
		if folded != b.N || len(p.Pending) != benchPendingLimit {
			b.Fatalf("%d folds in %d deltas, %d pending", folded, b.N, len(p.Pending))
		}
		sinkInt = p.Available()
	})
}

// BenchmarkApplyProductChange applies a product version (an update of
// price and stock) to the typical product: four of its eight pending
// deltas were committed before the version and are dropped, four are kept.
// Before each call the state is reset to the previous version's position
// and the same eight deltas (inside the timing).
func BenchmarkApplyProductChange(b *testing.B) {
	p := benchProduct()
	prev := p.Applied.Pos
	tmpl := append([]Pending(nil), p.Pending...)
	vpos := debezium.Position{LSN: tmpl[3].Pos.LSN + 1, TsMs: tmpl[3].Pos.TsMs}
	after := prod(17, 40)
	after.Name, after.Description, after.PriceCents = p.Name, p.Description, 179_900
	ev := decodedEvent(b, productEvent(&debezium.Message{Kind: debezium.KindChange, Table: debezium.TableProducts,
		Op: debezium.OpUpdate, ID: 17, Pos: vpos, BeforeProduct: prod(17, 44), AfterProduct: after}))
	p.Pending = make([]Pending, 0, 16)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		p.Applied.Pos = prev
		p.Pending = append(p.Pending[:0], tmpl...)
		if applyProductChange(p, ev).applied {
			n++
		}
	}
	if n != b.N || len(p.Pending) != 4 || p.Available() != 40+sumPending(tmpl[4:]) {
		b.Fatalf("%d of %d versions applied; %d pending, stock %d", n, b.N, len(p.Pending), p.Available())
	}
	sinkInt = p.Available()
}

func sumPending(ps []Pending) int64 {
	var n int64
	for _, d := range ps {
		n += d.Amount
	}
	return n
}

// benchGraph runs the inventory graph in Goka's tester, configured as
// newHarness does.
func benchGraph(b *testing.B) *tester.Tester {
	tt := tester.New(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	graph := Define(Config{
		Group: group, ProductsTopic: pTopic, ItemsTopic: iTopic, LowStockTopic: alerts,
		Threshold: 10, PendingLimit: benchPendingLimit, Log: log, Metrics: NewMetrics(nil),
		Input: cdc.NewInput(cdc.InputConfig{Service: "inventory-service", DLQTopic: dlq, Log: log,
			Decoder: debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})}),
	})
	proc := gokatest.NewProcessor(b, tt, graph, goka.WithLogger(stdlog.New(io.Discard, "", 0)))
	gokatest.Run(b, proc.Run)
	return tt
}

// BenchmarkGraph feeds the simulated shop's products and order_items
// changes (Debezium envelopes with schema, a 1,005-product catalogue
// snapshotted before the timing) through the whole inventory graph in
// Goka's tester: decoding, re-keying, the line's and the product's loop
// callbacks and the table codec. One op is one input message and
// everything it causes; records are generated in batches outside the
// timing. At the end the stock of every live product is checked against
// shopsim's oracle.
func BenchmarkGraph(b *testing.B) {
	tt := benchGraph(b)
	feed := shopfeed.New(1000, envelope, debezium.TableProducts, debezium.TableOrderItems)
	for _, r := range feed.Snapshot(b) {
		tt.Consume(r.Topic, r.Key, r.Value)
	}
	loop := tt.NewQueueTracker(string(group) + "-loop")
	table := tt.NewQueueTracker(string(goka.GroupTable(group)))
	dead := tt.NewQueueTracker(string(dlq))
	loop0, table0, dead0 := loop.Hwm(), table.Hwm(), dead.Hwm()

	var batch []shopfeed.Record
	last := -1
	b.ReportAllocs()
	for b.Loop() {
		if len(batch) == 0 {
			b.StopTimer()
			batch = feed.Batch(b, 512)
			b.StartTimer()
		}
		r := &batch[0]
		batch = batch[1:]
		tt.Consume(r.Topic, r.Key, r.Value)
		last = r.Change
	}
	b.ReportMetric(float64(loop.Hwm()-loop0)/float64(b.N), "loops/msg")
	b.ReportMetric(float64(table.Hwm()-table0)/float64(b.N), "writes/msg")
	if n := dead.Hwm() - dead0; n != 0 {
		b.Fatalf("%d messages dead-lettered", n)
	}

	want := oracle.ExpectInventory(feed.Changes[:last+1])
	live := 0
	for _, key := range tt.GetTableKeys(goka.GroupTable(group)) {
		p, _ := tt.TableValue(goka.GroupTable(group), key).(*Product)
		if !IsProductKey(key) || p == nil || !p.Live {
			continue
		}
		live++
		id, _ := strconv.ParseInt(productID(key), 10, 64)
		w, ok := want[id]
		if !ok || p.Available() != w.Stock || p.Name != w.Name || p.PriceCents != w.PriceCents {
			b.Fatalf("%s: stock %d name %q price %d, oracle %+v (known %v)", key, p.Available(), p.Name, p.PriceCents, w, ok)
		}
	}
	if live != len(want) {
		b.Fatalf("%d live products, oracle has %d", live, len(want))
	}
}
