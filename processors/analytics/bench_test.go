package analytics

import (
	"io"
	stdlog "log"
	"log/slog"
	"strconv"
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
	sinkValue  interface{}
	sinkDeltas deltas
)

// benchLSN is the commit position around which the benchmark states live.
const benchLSN uint64 = 16_790_676

// benchMarks are the marks of an entity receiving deltas from the six
// partitions of the loop topic.
func benchMarks() delivery.Marks {
	var m delivery.Marks
	for part := range int32(6) {
		m = append(m, delivery.Origin{Partition: part, Offset: 48_000 + int64(part)*1_217, Seq: uint32(part % 4)})
	}
	return m
}

// sent is one callback's emits as Emitter records them: deltas on the loop
// topic, each tagged with its origin.
func sent(partition int32, offset int64, ds ...keyedDelta) delivery.Sent {
	s := delivery.Sent{Partition: partition, Offset: offset}
	for i, d := range ds {
		o := delivery.Origin{Partition: partition, Offset: offset, Seq: uint32(i)}
		s.Outs = append(s.Outs, delivery.Out{Key: d.key, Value: deltaEvent(o, d.delta)})
	}
	return s
}

// benchOrder is a typical order state: processing, two lines (four items),
// marks from the partitions of its lines, and in its outbox what its last
// callbacks emitted: the insert (day, customer, status, window), the lines'
// item counts passed on to the window, the total set after the lines and
// the status change.
func benchOrder() *Order {
	const total = 47_996
	return &Order{
		Applied: delivery.Applied{Pos: debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}},
		Live:    true, CustomerID: 412, TotalCents: total, Status: "processing", CreatedAt: created, ItemsQty: 4,
		Marks: delivery.Marks{{Partition: 1, Offset: 80_114, Seq: 1}, {Partition: 4, Offset: 79_630, Seq: 1}},
		Outbox: delivery.Outbox{
			sent(3, 61_002,
				keyedDelta{DailyKey(created), Delta{Orders: 1}}, keyedDelta{CustomerKey(412), Delta{Orders: 1}},
				keyedDelta{StatusKey("pending"), Delta{Orders: 1}}, keyedDelta{WindowKey(created), Delta{Orders: 1}}),
			sent(3, 61_007, keyedDelta{WindowKey(created), Delta{Items: 1}}),
			sent(3, 61_008, keyedDelta{WindowKey(created), Delta{Items: 3}}),
			sent(3, 61_010,
				keyedDelta{DailyKey(created), Delta{Cents: total}}, keyedDelta{CustomerKey(412), Delta{Cents: total}},
				keyedDelta{WindowKey(created), Delta{Cents: total}}),
			sent(3, 62_417, keyedDelta{StatusKey("pending"), Delta{Orders: -1}}, keyedDelta{StatusKey("processing"), Delta{Orders: 1}}),
		},
	}
}

// benchLine is a typical order-line state: inserted, then its quantity
// edited, both callbacks' deltas (product, order) in its outbox.
func benchLine() *Line {
	return &Line{
		Applied: delivery.Applied{Pos: debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}},
		Live:    true, OrderID: 9_311, ProductID: 17, Quantity: 3, PriceCents: 12_999,
		Outbox: delivery.Outbox{
			sent(1, 80_113, keyedDelta{ProductKey(17), Delta{Items: 2, Cents: 25_998, Lines: 1}}, keyedDelta{OrderKey(9_311), Delta{Items: 2}}),
			sent(1, 80_114, keyedDelta{ProductKey(17), Delta{Items: 1, Cents: 12_999}}, keyedDelta{OrderKey(9_311), Delta{Items: 1}}),
		},
	}
}

// BenchmarkTableCodec encodes and decodes each kind of table value through
// TableCodec (as Goka does around every callback). SetBytes is the encoded
// size. The aggregates carry marks from six loop partitions.
func BenchmarkTableCodec(b *testing.B) {
	for _, c := range []struct {
		name string
		v    interface{}
	}{
		{"Order", benchOrder()},
		{"Line", benchLine()},
		{"Daily", &Daily{TotalCents: 18_234_551, OrderCount: 412, Marks: benchMarks()}},
		{"ProductSales", &ProductSales{QuantitySold: 1_311, RevenueCents: 17_041_689, LiveLines: 540, Marks: benchMarks()}},
		{"Customer", &Customer{OrderCount: 23, TotalSpentCents: 1_104_310, Marks: benchMarks()}},
		{"Status", &Status{Count: 5_120, Marks: benchMarks()}},
		{"Window", &Window{Orders: 31, RevenueCents: 1_498_200, ItemsSold: 77, Marks: benchMarks()}},
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
// insert of a new order (deltas to its day, customer, status and window)
// and status changes of a live order (two status deltas), alternating
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
			out, ok := applyOrder(&o, insert)
			if ok {
				n += len(out)
			}
			sinkDeltas = out
		}
		if n != 4*b.N {
			b.Fatalf("%d deltas from %d inserts, want 4 each", n, b.N)
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
			out, ok := applyOrder(o, ev)
			if ok {
				n += len(out)
			}
			sinkDeltas = out
		}
		if n != 2*b.N {
			b.Fatalf("%d deltas from %d status changes, want 2 each", n, b.N)
		}
	})
}

// BenchmarkApplyLine absorbs order-line changes built with lineEvent: the
// insert of a new line (deltas to its product and order) and quantity
// edits of a live line (the same two), alternating as in
// BenchmarkApplyOrder.
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
	b.Run("insert", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			var l Line
			out, ok := applyLine(&l, insert)
			if ok {
				n += len(out)
			}
			sinkDeltas = out
		}
		if n != 2*b.N {
			b.Fatalf("%d deltas from %d inserts, want 2 each", n, b.N)
		}
	})
	b.Run("quantity", func(b *testing.B) {
		l := benchLine()
		b.ReportAllocs()
		n, i := 0, 0
		for b.Loop() {
			ev := edit[i&1]
			i++
			ev.pos.LSN = benchLSN + uint64(i)
			out, ok := applyLine(l, ev)
			if ok {
				n += len(out)
			}
			sinkDeltas = out
		}
		if n != 2*b.N {
			b.Fatalf("%d deltas from %d edits, want 2 each", n, b.N)
		}
	})
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
// re-keying, the order's and the line's loop callbacks, every delta's
// aggregate callback and the table codec. One op is one input message and
// everything it causes; records are generated in batches outside the
// timing. At the end the daily, product, customer, status and window
// figures are checked against shopsim's oracle.
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

	// Figures as [3]int64, zero entries absent, on both sides.
	got := map[string][3]int64{}
	put := func(m map[string][3]int64, key string, f [3]int64) {
		if f != ([3]int64{}) {
			m[key] = f
		}
	}
	for _, key := range tt.GetTableKeys(Table(group)) {
		switch v := tt.TableValue(Table(group), key).(type) {
		case *Daily:
			put(got, key, [3]int64{v.TotalCents, v.OrderCount})
		case *ProductSales:
			put(got, key, [3]int64{v.QuantitySold, v.RevenueCents})
		case *Customer:
			put(got, key, [3]int64{v.OrderCount, v.TotalSpentCents})
		case *Status:
			put(got, key, [3]int64{v.Count})
		case *Window:
			put(got, key, [3]int64{v.Orders, v.RevenueCents, v.ItemsSold})
		}
	}
	exp := oracle.ExpectAnalytics(feed.Changes[:last+1])
	want := map[string][3]int64{}
	for day, s := range exp.DailySales {
		put(want, DailyPrefix+day, [3]int64{s.TotalCents, s.OrderCount})
	}
	for id, s := range exp.ProductSales {
		put(want, ProductKey(id), [3]int64{s.QuantitySold, s.RevenueCents})
	}
	for id, c := range exp.CustomerMetrics {
		put(want, CustomerKey(id), [3]int64{c.OrderCount, c.TotalSpentCents})
	}
	for status, n := range exp.OrderStatus {
		put(want, StatusKey(status), [3]int64{n})
	}
	for start, w := range exp.Windows {
		put(want, WindowPrefix+strconv.FormatInt(start, 10), [3]int64{w.Orders, w.RevenueCents, w.ItemsSold})
	}
	for key, w := range want {
		if got[key] != w {
			b.Fatalf("%s = %v, oracle %v", key, got[key], w)
		}
	}
	if len(got) != len(want) {
		b.Fatalf("%d non-zero figures, oracle has %d", len(got), len(want))
	}
}
