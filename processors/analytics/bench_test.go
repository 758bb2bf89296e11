package analytics

import (
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"testing"

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
	sinkValue interface{}
	sinkItems []orderItems
)

// benchLSN is the commit position around which the benchmark states live.
const benchLSN uint64 = 16_790_676

// benchOrder is a typical order state: processing, two lines (four items),
// marks from the partitions of its lines.
func benchOrder() *Order {
	return &Order{
		Applied: delivery.Applied{Pos: debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}},
		Live:    true, CustomerID: 412, TotalCents: 47_996, Status: "processing", CreatedAt: created, ItemsQty: 4,
		Marks: delivery.Marks{{Partition: 1, Offset: 80_114, Seq: 1}, {Partition: 4, Offset: 79_630, Seq: 1}},
	}
}

// benchLine is a typical order-line state: inserted, then its quantity
// edited, both callbacks' item changes to its order in its outbox.
func benchLine() *Line {
	sent := func(offset int64, items int64) delivery.Sent {
		o := delivery.Origin{Partition: 1, Offset: offset}
		return delivery.Sent{Partition: 1, Offset: offset, Outs: []delivery.Out{{Key: OrderKey(9_311), Value: deltaEvent(o, Delta{Items: items})}}}
	}
	return &Line{
		Applied: delivery.Applied{Pos: debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}},
		Live:    true, OrderID: 9_311, ProductID: 17, Quantity: 3, PriceCents: 12_999,
		Outbox: delivery.Outbox{sent(80_113, 2), sent(80_114, 1)},
	}
}

// BenchmarkTableCodec encodes and decodes each kind of table value through
// TableCodec (as Goka does around every callback). SetBytes is the encoded
// size.
func BenchmarkTableCodec(b *testing.B) {
	for _, c := range []struct {
		name string
		v    interface{}
	}{
		{"Order", benchOrder()},
		{"Line", benchLine()},
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
			if got, _ := (TableCodec{}).Encode(sinkValue); string(got) != string(enc) {
				b.Fatalf("round trip changed the %s", c.name)
			}
		})
	}
}

func decodedEvent(b *testing.B, raw []byte) event {
	b.Helper()
	ev, err := decodeEvent(raw)
	if err != nil {
		b.Fatal(err)
	}
	return ev
}

// BenchmarkApplyOrder absorbs order changes built with orderEvent: the
// insert of a new order and status changes of a live order, alternating
// between two row images at increasing commit positions so that every
// change is new.
func BenchmarkApplyOrder(b *testing.B) {
	pos := debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}
	change := func(op debezium.Op, before, after *debezium.Order) event {
		return decodedEvent(b, orderEvent(&debezium.Message{Kind: debezium.KindChange, Table: debezium.TableOrders,
			Op: op, ID: 9_311, Pos: pos, BeforeOrder: before, AfterOrder: after}))
	}
	insert := change(debezium.OpCreate, nil, ord(9_311, 412, 47_996, "pending", created))
	status := [2]event{
		change(debezium.OpUpdate, ord(9_311, 412, 47_996, "processing", created), ord(9_311, 412, 47_996, "shipped", created)),
		change(debezium.OpUpdate, ord(9_311, 412, 47_996, "shipped", created), ord(9_311, 412, 47_996, "processing", created)),
	}
	b.Run("insert", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			var o Order
			if applyOrder(&o, insert) {
				n++
			}
			sinkValue = &o
		}
		if n != b.N {
			b.Fatalf("%d of %d inserts applied", n, b.N)
		}
	})
	b.Run("status", func(b *testing.B) {
		o := benchOrder()
		b.ReportAllocs()
		n, i := 0, 0
		for b.Loop() {
			ev := status[i&1]
			i++
			ev.pos.LSN = benchLSN + uint64(i)
			if applyOrder(o, ev) {
				n++
			}
		}
		if n != b.N || o.Status == "" {
			b.Fatalf("%d of %d status changes applied", n, b.N)
		}
	})
}

// BenchmarkApplyLine absorbs order-line changes built with lineEvent: the
// insert of a new line (an item change to its order) and quantity edits of
// a live line (the same), alternating as in BenchmarkApplyOrder.
func BenchmarkApplyLine(b *testing.B) {
	pos := debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}
	change := func(op debezium.Op, before, after *debezium.OrderItem) event {
		return decodedEvent(b, lineEvent(&debezium.Message{Kind: debezium.KindChange, Table: debezium.TableOrderItems,
			Op: op, ID: 77_120, Pos: pos, BeforeItem: before, AfterItem: after}))
	}
	insert := change(debezium.OpCreate, nil, line(77_120, 9_311, 17, 3, 12_999))
	edit := [2]event{
		change(debezium.OpUpdate, line(77_120, 9_311, 17, 3, 12_999), line(77_120, 9_311, 17, 5, 12_999)),
		change(debezium.OpUpdate, line(77_120, 9_311, 17, 5, 12_999), line(77_120, 9_311, 17, 3, 12_999)),
	}
	for _, c := range []struct {
		name string
		ev   func(i int) event
		l    func() *Line
	}{
		{"insert", func(int) event { return insert }, func() *Line { return new(Line) }},
		{"quantity", func(i int) event { ev := edit[i&1]; ev.pos.LSN = benchLSN + uint64(i+1); return ev }, nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			l := benchLine()
			b.ReportAllocs()
			n, i := 0, 0
			for b.Loop() {
				if c.l != nil {
					l = c.l()
				}
				out, ok := applyLine(l, c.ev(i))
				i++
				if ok {
					n += len(out)
				}
				sinkItems = out
			}
			if n != b.N {
				b.Fatalf("%d item changes from %d %s changes, want one each", n, b.N, c.name)
			}
		})
	}
}

// benchGraph runs the analytics graph in Goka's tester, configured as
// newHarness does.
func benchGraph(b *testing.B) *tester.Tester {
	tt := tester.New(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	graph := Define(Config{
		Group: group, OrdersTopic: oTopic, ItemsTopic: iTopic, Log: log, Metrics: NewMetrics(nil),
		Input: cdc.NewInput(cdc.InputConfig{Service: "analytics-service", DLQTopic: dlq, Log: log,
			Decoder: debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})}),
	})
	proc := gokatest.NewProcessor(b, tt, graph, goka.WithLogger(stdlog.New(io.Discard, "", 0)))
	gokatest.Run(b, proc.Run)
	return tt
}

// BenchmarkGraph feeds the simulated shop's orders and order_items changes
// (Debezium envelopes with schema; the snapshot is consumed before the
// timing) through the whole analytics graph in Goka's tester: decoding,
// re-keying, the order's and the line's loop callbacks, the line's item
// changes to its order and the table codec. One op is one input message and
// everything it causes; records are generated in batches outside the
// timing. At the end the daily, product, customer, status and window
// figures folded from the table are checked against shopsim's oracle.
func BenchmarkGraph(b *testing.B) {
	tt := benchGraph(b)
	feed := shopfeed.New(1000, envelope, debezium.TableOrders, debezium.TableOrderItems)
	for _, r := range feed.Snapshot(b) {
		tt.Consume(r.Topic, r.Key, r.Value)
	}
	loop := tt.NewQueueTracker(string(group) + "-loop")
	table := tt.NewQueueTracker(string(Table(group)))
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

	f := NewFigures()
	for _, key := range tt.GetTableKeys(Table(group)) {
		f.Add(tt.TableValue(Table(group), key), +1)
	}
	if err := compareWithOracle(f, oracle.ExpectAnalytics(feed.Changes[:last+1])); err != nil {
		b.Fatal(err)
	}
}

// compareWithOracle compares every figure with the oracle's (zero entries
// absent on both sides; the figures' known, emptied windows are zero).
func compareWithOracle(f *Figures, exp oracle.Analytics) error {
	got, want := map[string][3]int64{}, map[string][3]int64{}
	put := func(m map[string][3]int64, key string, v [3]int64) {
		if v != ([3]int64{}) {
			m[key] = v
		}
	}
	for day, s := range f.Days {
		put(got, "day "+day, [3]int64{s.Cents, s.Orders})
	}
	for id, p := range f.Products {
		put(got, fmt.Sprint("product ", id), [3]int64{p.Quantity, p.RevenueCents})
	}
	for id, c := range f.Customers {
		put(got, fmt.Sprint("customer ", id), [3]int64{c.Orders, c.Cents})
	}
	for status, n := range f.Statuses {
		put(got, "status "+status, [3]int64{int64(n)})
	}
	for start, w := range f.Windows {
		put(got, fmt.Sprint("window ", start), [3]int64{w.Orders, w.Cents, w.Items})
	}
	for day, s := range exp.DailySales {
		put(want, "day "+day, [3]int64{s.TotalCents, s.OrderCount})
	}
	for id, s := range exp.ProductSales {
		put(want, fmt.Sprint("product ", id), [3]int64{s.QuantitySold, s.RevenueCents})
	}
	for id, c := range exp.CustomerMetrics {
		put(want, fmt.Sprint("customer ", id), [3]int64{c.OrderCount, c.TotalSpentCents})
	}
	for status, n := range exp.OrderStatus {
		put(want, "status "+status, [3]int64{n})
	}
	for start, w := range exp.Windows {
		put(want, fmt.Sprint("window ", start), [3]int64{w.Orders, w.RevenueCents, w.ItemsSold})
	}
	for key, w := range want {
		if got[key] != w {
			return fmt.Errorf("%s = %v, oracle %v", key, got[key], w)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d non-zero figures, oracle has %d", len(got), len(want))
	}
	return nil
}
