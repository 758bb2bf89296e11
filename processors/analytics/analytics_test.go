package analytics

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/testkit/gokatest"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/processors/delivery"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

const (
	group   goka.Group  = "analytics-test"
	oTopic  goka.Stream = "dbserver1.public.orders"
	iTopic  goka.Stream = "dbserver1.public.order_items"
	dlq     goka.Stream = "analytics-service-dlq"
	tsStart int64       = 1736931600000 // 2025-01-15T09:00:00Z, ms
)

// created is 2025-01-15T10:07:30Z in µs: day 2025-01-15, window 10:05.
var created = time.Date(2025, 1, 15, 10, 7, 30, 0, time.UTC).UnixMicro()

// harness runs the analytics graph in Goka's tester and feeds it genuine
// Debezium messages.
type harness struct {
	t    *testing.T
	tt   *tester.Tester
	opts dbzenc.EncodeOptions
	sent []record // every record, so tests can replay them
}

type record struct {
	topic      string
	key, value []byte
}

func newHarness(t *testing.T, opts dbzenc.EncodeOptions) *harness {
	t.Helper()
	tt := tester.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	graph := Define(Config{
		Group: group, OrdersTopic: oTopic, ItemsTopic: iTopic, Log: log, Metrics: NewMetrics(nil),
		Input: cdc.NewInput(cdc.InputConfig{Service: "analytics-service", DLQTopic: dlq, Log: log,
			Decoder: debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})}),
	})
	proc := gokatest.NewProcessor(t, tt, graph)
	gokatest.Run(t, proc.Run)
	return &harness{t: t, tt: tt, opts: opts}
}

func (h *harness) send(table string, op debezium.Op, id int64, before, after any, lsn uint64, ts int64) {
	h.t.Helper()
	topic, key, value, err := dbzenc.Encode(h.opts, table, op, id, before, after, dbzenc.Source{LSN: lsn, TsMs: ts})
	if err != nil {
		h.t.Fatal(err)
	}
	h.raw(topic, key, value)
}

func (h *harness) raw(topic string, key, value []byte) {
	h.sent = append(h.sent, record{topic, key, value})
	var v interface{}
	if value != nil {
		v = value
	}
	h.tt.Consume(topic, string(key), v)
}

func (h *harness) replayAll() {
	sent := h.sent
	for _, r := range sent {
		h.raw(r.topic, r.key, r.value)
	}
}

func (h *harness) value(key string) interface{} { return h.tt.TableValue(Table(group), key) }

// The figures of the aggregates, as comparable arrays.
type (
	dayFig      [2]int64 // total cents, order count
	productFig  [3]int64 // quantity sold, revenue cents, live lines
	customerFig [2]int64 // order count, total spent cents
	windowFig   [3]int64 // orders, revenue cents, items sold
)

// figs folds every table value, as a view does.
func (h *harness) figs() *Figures {
	f := NewFigures()
	for _, key := range h.tt.GetTableKeys(Table(group)) {
		f.Add(h.value(key), +1)
	}
	return f
}

func (h *harness) daily(day string) dayFig {
	d := h.figs().Days[day]
	return dayFig{d.Cents, d.Orders}
}

func (h *harness) product(id int64) productFig {
	p := h.figs().Products[id]
	return productFig{p.Quantity, p.RevenueCents, p.Lines}
}

func (h *harness) customer(id int64) customerFig {
	c := h.figs().Customers[id]
	return customerFig{c.Orders, c.Cents}
}

func (h *harness) status(s string) int64 { return int64(h.figs().Statuses[s]) }

func (h *harness) window(createdAtUs int64) windowFig {
	w := h.figs().Windows[WindowStart(createdAtUs)]
	return windowFig{w.Orders, w.Cents, w.Items}
}

func (h *harness) order(id int64) *Order {
	o, _ := h.value(OrderKey(id)).(*Order)
	return o
}

// Prefixes of the figures in figures().
const (
	figDay      = "daily/"
	figProduct  = "product/"
	figCustomer = "customer/"
	figStatus   = "status/"
	figWindow   = "window/"
)

// figures renders every entity's business state (without the bookkeeping
// of Applied, Marks and Outbox) and the figures folded from them, for
// comparisons before and after replays.
func (h *harness) figures() map[string]string {
	out := map[string]string{}
	for _, key := range h.tt.GetTableKeys(Table(group)) {
		switch v := h.value(key).(type) {
		case *Order:
			out[key] = fmt.Sprint(v.Live, v.Deleted, v.CustomerID, v.TotalCents, v.Status, v.CreatedAt, v.ItemsQty)
		case *Line:
			out[key] = fmt.Sprint(v.Live, v.OrderID, v.ProductID, v.Quantity, v.PriceCents)
		default:
			h.t.Fatalf("key %s holds %T", key, v)
		}
	}
	f := h.figs()
	for k, v := range f.Days {
		out[figDay+k] = fmt.Sprint(v.Cents, v.Orders)
	}
	for k, v := range f.Products {
		out[fmt.Sprint(figProduct, k)] = fmt.Sprint(v.Quantity, v.RevenueCents, v.Lines)
	}
	for k, v := range f.Customers {
		out[fmt.Sprint(figCustomer, k)] = fmt.Sprint(v.Orders, v.Cents)
	}
	for k, v := range f.Statuses {
		out[figStatus+k] = fmt.Sprint(v)
	}
	for k, v := range f.Windows {
		out[fmt.Sprint(figWindow, k)] = fmt.Sprint(v.Orders, v.Cents, v.Items)
	}
	return out
}

// live returns the figures under prefix that are not all zero.
func (h *harness) live(prefix string) []string {
	var out []string
	for key, fig := range h.figures() {
		if strings.HasPrefix(key, prefix) && strings.Trim(fig, "0 ") != "" {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}

func ord(id, customer, total int64, status string, createdAt int64) *debezium.Order {
	return &debezium.Order{ID: id, CustomerID: customer, TotalCents: total, Status: status, CreatedAt: createdAt, UpdatedAt: createdAt}
}

func line(id, order, product, qty, price int64) *debezium.OrderItem {
	return &debezium.OrderItem{ID: id, OrderID: order, ProductID: product, Quantity: qty, PriceCents: price, CreatedAt: created}
}

var envelope = dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope}

func TestTotalSetByLaterUpdate(t *testing.T) {
	// The shop inserts an order with total 0 and its lines, then sets the total.
	h := newHarness(t, envelope)
	h.send("orders", debezium.OpCreate, 1, nil, ord(1, 7, 0, "pending", created), 100, tsStart)
	h.send("order_items", debezium.OpCreate, 10, nil, line(10, 1, 5, 2, 1999), 110, tsStart)
	h.send("order_items", debezium.OpCreate, 11, nil, line(11, 1, 6, 1, 500), 120, tsStart)
	if d := h.daily("2025-01-15"); d != (dayFig{0, 1}) {
		t.Fatalf("after insert: daily %+v, want total 0, one order", d)
	}
	h.send("orders", debezium.OpUpdate, 1, ord(1, 7, 0, "pending", created), ord(1, 7, 4498, "pending", created), 130, tsStart+1)

	if d := h.daily("2025-01-15"); d != (dayFig{4498, 1}) {
		t.Errorf("daily %+v, want 44.98 over one order", d)
	}
	if c := h.customer(7); c != (customerFig{1, 4498}) {
		t.Errorf("customer %+v, want one order, 44.98", c)
	}
	if n := h.status("pending"); n != 1 {
		t.Errorf("pending %d, want 1", n)
	}
	if w := h.window(created); w != (windowFig{1, 4498, 3}) {
		t.Errorf("window %+v, want 1 order, 44.98, 3 items", w)
	}
	if p := h.product(5); p != (productFig{2, 3998, 1}) {
		t.Errorf("product 5 %+v", p)
	}
	if p := h.product(6); p != (productFig{1, 500, 1}) {
		t.Errorf("product 6 %+v", p)
	}
}

func TestStatusTransitions(t *testing.T) {
	h := newHarness(t, envelope)
	h.send("orders", debezium.OpCreate, 1, nil, ord(1, 7, 1000, "pending", created), 100, tsStart)
	h.send("orders", debezium.OpCreate, 2, nil, ord(2, 8, 2000, "pending", created), 110, tsStart)
	h.send("orders", debezium.OpUpdate, 1, ord(1, 7, 1000, "pending", created), ord(1, 7, 1000, "processing", created), 120, tsStart+1)
	h.send("orders", debezium.OpUpdate, 1, ord(1, 7, 1000, "processing", created), ord(1, 7, 1000, "shipped", created), 130, tsStart+2)
	if got := [3]int64{h.status("pending"), h.status("processing"), h.status("shipped")}; got != [3]int64{1, 0, 1} {
		t.Fatalf("pending/processing/shipped %v, want [1 0 1]", got)
	}
	h.send("orders", debezium.OpUpdate, 2, ord(2, 8, 2000, "pending", created), ord(2, 8, 2000, "cancelled", created), 140, tsStart+3)
	if got := [3]int64{h.status("pending"), h.status("shipped"), h.status("cancelled")}; got != [3]int64{0, 1, 1} {
		t.Fatalf("pending/shipped/cancelled %v, want [0 1 1]", got)
	}
	// A status change moves nothing else.
	if d := h.daily("2025-01-15"); d != (dayFig{3000, 2}) {
		t.Fatalf("daily %+v, want 30.00 over two orders", d)
	}
	if w := h.window(created); w != (windowFig{2, 3000, 0}) {
		t.Fatalf("window %+v", w)
	}
}

func TestOrderDeleteWithdrawsEverything(t *testing.T) {
	h := newHarness(t, envelope)
	h.send("orders", debezium.OpCreate, 1, nil, ord(1, 7, 2500, "pending", created), 100, tsStart)
	h.send("order_items", debezium.OpCreate, 10, nil, line(10, 1, 5, 4, 625), 110, tsStart)
	h.send("orders", debezium.OpDelete, 1, ord(1, 7, 2500, "pending", created), nil, 120, tsStart+1)

	if d := h.daily("2025-01-15"); d != (dayFig{}) {
		t.Errorf("daily %+v, want zero", d)
	}
	if c := h.customer(7); c != (customerFig{}) {
		t.Errorf("customer %+v, want zero", c)
	}
	if n := h.status("pending"); n != 0 {
		t.Errorf("pending %d, want 0", n)
	}
	if w := h.window(created); w != (windowFig{}) {
		t.Errorf("window %+v, want zero (items of a deleted order do not count)", w)
	}
	// The line is still live: product sales count every live line.
	if p := h.product(5); p != (productFig{4, 2500, 1}) {
		t.Errorf("product %+v, want the live line", p)
	}
	o := h.order(1)
	if o == nil || o.Live || !o.Deleted || o.ItemsQty != 4 {
		t.Fatalf("order should be a tombstone still counting its live line, got %+v", o)
	}
	// A redelivered insert is older than the delete: rejected.
	h.send("orders", debezium.OpCreate, 1, nil, ord(1, 7, 2500, "pending", created), 100, tsStart)
	// Deleting the line afterwards changes no window of the deleted order.
	h.send("order_items", debezium.OpDelete, 10, line(10, 1, 5, 4, 625), nil, 130, tsStart+2)
	if w := h.window(created); w != (windowFig{}) {
		t.Errorf("window %+v, want zero", w)
	}
	if d := h.daily("2025-01-15"); d != (dayFig{}) {
		t.Errorf("daily after redelivered insert %+v, want zero", d)
	}
	if p := h.product(5); p != (productFig{}) {
		t.Errorf("product %+v, want zero", p)
	}
	if o := h.order(1); o.ItemsQty != 0 || o.Live {
		t.Errorf("order %+v, want no items, not live", o)
	}
	for _, prefix := range []string{figDay, figCustomer, figStatus, figWindow, figProduct} {
		if got := h.live(prefix); len(got) != 0 {
			t.Errorf("figures left after everything was deleted: %v", got)
		}
	}
}

func TestLineEditMoveDelete(t *testing.T) {
	h := newHarness(t, envelope)
	later := created + 20*60*1_000_000 // window 10:25
	h.send("orders", debezium.OpCreate, 1, nil, ord(1, 7, 1000, "pending", created), 100, tsStart)
	h.send("orders", debezium.OpCreate, 2, nil, ord(2, 8, 1000, "pending", later), 101, tsStart)
	h.send("order_items", debezium.OpCreate, 10, nil, line(10, 1, 5, 2, 300), 110, tsStart)
	// Quantity and price change.
	h.send("order_items", debezium.OpUpdate, 10, line(10, 1, 5, 2, 300), line(10, 1, 5, 3, 250), 120, tsStart+1)
	if p := h.product(5); p != (productFig{3, 750, 1}) {
		t.Fatalf("after edit: product %+v", p)
	}
	if w := h.window(created); w[2] != 3 {
		t.Fatalf("after edit: window %+v, want 3 items", w)
	}
	// Move to another product and another order.
	h.send("order_items", debezium.OpUpdate, 10, line(10, 1, 5, 3, 250), line(10, 2, 6, 3, 250), 130, tsStart+2)
	if p5, p6 := h.product(5), h.product(6); p5 != (productFig{}) || p6 != (productFig{3, 750, 1}) {
		t.Fatalf("after move: products %+v %+v", p5, p6)
	}
	if w1, w2 := h.window(created), h.window(later); w1[2] != 0 || w2[2] != 3 {
		t.Fatalf("after move: windows %+v %+v, want items moved", w1, w2)
	}
	// Product set to NULL: the line counts for no product, still for its order.
	h.send("order_items", debezium.OpUpdate, 10, line(10, 2, 6, 3, 250), line(10, 2, 0, 3, 250), 140, tsStart+3)
	if p6, w2 := h.product(6), h.window(later); p6 != (productFig{}) || w2[2] != 3 {
		t.Fatalf("NULL product: product 6 %+v, window %+v", p6, w2)
	}
	h.send("order_items", debezium.OpDelete, 10, line(10, 2, 0, 3, 250), nil, 150, tsStart+4)
	if w2 := h.window(later); w2 != (windowFig{1, 1000, 0}) {
		t.Fatalf("after delete: window %+v", w2)
	}
	// A line with a NULL order counts for its product only.
	h.send("order_items", debezium.OpCreate, 11, nil, line(11, 0, 5, 1, 100), 160, tsStart+5)
	if p5 := h.product(5); p5 != (productFig{1, 100, 1}) {
		t.Fatalf("NULL order: product %+v", p5)
	}
}

func TestConnectorReplaysChangeNothing(t *testing.T) {
	for _, f := range []dbzenc.Format{dbzenc.FormatEnvelope, dbzenc.FormatEnvelopeNoSchema, dbzenc.FormatFlat, dbzenc.FormatFlatNoSchema} {
		t.Run(f.String(), func(t *testing.T) {
			h := newHarness(t, dbzenc.EncodeOptions{Format: f})
			h.send("orders", debezium.OpRead, 1, nil, ord(1, 7, 1000, "pending", created), 100, tsStart)
			h.send("order_items", debezium.OpRead, 10, nil, line(10, 1, 5, 2, 500), 100, tsStart)
			h.send("orders", debezium.OpCreate, 2, nil, ord(2, 7, 0, "pending", created), 200, tsStart+1)
			h.send("order_items", debezium.OpCreate, 11, nil, line(11, 2, 5, 1, 700), 210, tsStart+1)
			h.send("orders", debezium.OpUpdate, 2, ord(2, 7, 0, "pending", created), ord(2, 7, 700, "shipped", created), 220, tsStart+2)
			h.send("order_items", debezium.OpUpdate, 10, line(10, 1, 5, 2, 500), line(10, 1, 6, 5, 500), 300, tsStart+3)
			h.send("orders", debezium.OpDelete, 1, ord(1, 7, 1000, "pending", created), nil, 400, tsStart+4)
			h.send("order_items", debezium.OpDelete, 11, line(11, 2, 5, 1, 700), nil, 410, tsStart+4)
			want := h.figures()
			if w := h.window(created); w != (windowFig{1, 700, 0}) {
				t.Fatalf("window %+v, want order 2 without items", w)
			}
			if c := h.customer(7); c != (customerFig{1, 700}) {
				t.Fatalf("customer %+v", c)
			}
			h.replayAll()
			h.replayAll()
			if got := h.figures(); !maps.Equal(got, want) {
				t.Fatalf("replays changed the figures:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestSnapshotReadsCount(t *testing.T) {
	h := newHarness(t, envelope)
	h.send("orders", debezium.OpRead, 1, nil, ord(1, 7, 1500, "delivered", created), 100, tsStart)
	h.send("order_items", debezium.OpRead, 10, nil, line(10, 1, 5, 3, 500), 100, tsStart)
	if d, w := h.daily("2025-01-15"), h.window(created); d != (dayFig{1500, 1}) || w != (windowFig{1, 1500, 3}) {
		t.Fatalf("snapshot reads: daily %+v window %+v", d, w)
	}
	if p := h.product(5); p[0] != 3 {
		t.Fatalf("snapshot line: product %+v", p)
	}
}

func TestLineArrivingBeforeItsOrder(t *testing.T) {
	// order_items is read ahead of orders.
	h := newHarness(t, envelope)
	h.send("order_items", debezium.OpCreate, 10, nil, line(10, 1, 5, 3, 200), 110, tsStart)
	h.send("order_items", debezium.OpCreate, 11, nil, line(11, 1, 6, 2, 100), 120, tsStart)
	o := h.order(1)
	if o == nil || o.Live || o.ItemsQty != 5 {
		t.Fatalf("order should exist with its lines' items only, got %+v", o)
	}
	for _, prefix := range []string{figDay, figCustomer, figStatus, figWindow} {
		if got := h.live(prefix); len(got) != 0 {
			t.Fatalf("an order without its row contributes nothing, got %v", got)
		}
	}
	h.send("orders", debezium.OpCreate, 1, nil, ord(1, 7, 800, "pending", created), 100, tsStart)
	if w := h.window(created); w != (windowFig{1, 800, 5}) {
		t.Fatalf("window %+v, want the order with its 5 items", w)
	}
	h.send("order_items", debezium.OpDelete, 11, line(11, 1, 6, 2, 100), nil, 130, tsStart+1)
	if w := h.window(created); w[2] != 3 {
		t.Fatalf("window %+v, want 3 items", w)
	}
}

func TestTimestampOnlyPositions(t *testing.T) {
	// Flattened records without an LSN: an insert and an update of one row
	// in one transaction share the timestamp and apply in arrival order.
	h := newHarness(t, dbzenc.EncodeOptions{Format: dbzenc.FormatFlat})
	h.send("orders", debezium.OpCreate, 1, nil, ord(1, 7, 0, "pending", created), 0, tsStart)
	h.send("order_items", debezium.OpCreate, 10, nil, line(10, 1, 5, 3, 250), 0, tsStart)
	h.send("order_items", debezium.OpUpdate, 10, line(10, 1, 5, 3, 250), line(10, 1, 5, 4, 250), 0, tsStart)
	h.send("orders", debezium.OpUpdate, 1, ord(1, 7, 0, "pending", created), ord(1, 7, 1000, "pending", created), 0, tsStart)
	check := func(when string) {
		t.Helper()
		if d := h.daily("2025-01-15"); d != (dayFig{1000, 1}) {
			t.Fatalf("%s: daily %+v, want 10.00 over one order", when, d)
		}
		if w := h.window(created); w != (windowFig{1, 1000, 4}) {
			t.Fatalf("%s: window %+v", when, w)
		}
		if p := h.product(5); p != (productFig{4, 1000, 1}) {
			t.Fatalf("%s: product %+v", when, p)
		}
	}
	check("insert+update in one transaction")
	h.replayAll()
	check("after replay")
}

func TestDayAndWindowOfAnOrder(t *testing.T) {
	h := newHarness(t, envelope)
	// 23:59:59.999999 on the 15th: day 15th, window 23:55; 00:00:00 on the 16th: next day, window 00:00.
	lateUs := time.Date(2025, 1, 15, 23, 59, 59, 999999000, time.UTC).UnixMicro()
	nextUs := time.Date(2025, 1, 16, 0, 0, 0, 0, time.UTC).UnixMicro()
	h.send("orders", debezium.OpCreate, 1, nil, ord(1, 7, 100, "pending", lateUs), 100, tsStart)
	h.send("orders", debezium.OpCreate, 2, nil, ord(2, 7, 200, "pending", nextUs), 110, tsStart)
	h.send("orders", debezium.OpCreate, 3, nil, ord(3, 8, 400, "pending", created), 120, tsStart)
	if d15, d16 := h.daily("2025-01-15"), h.daily("2025-01-16"); d15 != (dayFig{500, 2}) || d16 != (dayFig{200, 1}) {
		t.Fatalf("days %+v %+v", d15, d16)
	}
	wants := map[time.Time]windowFig{
		time.Date(2025, 1, 15, 23, 55, 0, 0, time.UTC): {1, 100, 0},
		time.Date(2025, 1, 16, 0, 0, 0, 0, time.UTC):   {1, 200, 0},
		time.Date(2025, 1, 15, 10, 5, 0, 0, time.UTC):  {1, 400, 0},
	}
	for start, want := range wants {
		if w := h.window(start.UnixMicro()); w != want {
			t.Errorf("window %s: %+v, want %+v", start, w, want)
		}
	}
	// Moving created_at moves the order between days and windows.
	h.send("orders", debezium.OpUpdate, 2, ord(2, 7, 200, "pending", nextUs), ord(2, 7, 200, "pending", lateUs), 130, tsStart+1)
	if d15, d16 := h.daily("2025-01-15"), h.daily("2025-01-16"); d15 != (dayFig{700, 3}) || d16 != (dayFig{}) {
		t.Fatalf("after moving created_at: days %+v %+v", d15, d16)
	}
	// The window it left is empty, and still known to a fold from scratch
	// (a view after a restart), so its report is overwritten.
	left := WindowStart(nextUs)
	if w, ok := h.figs().Windows[left]; !ok || w != (WindowSales{}) {
		t.Fatalf("window left by the move: %+v, known %v; want known and empty", w, ok)
	}
}

func TestLeftWindowsAreBounded(t *testing.T) {
	var o Order
	for i := range int64(MaxLeftWindows + 3) {
		o.leaveWindow(i * WindowSeconds)
	}
	o.leaveWindow(5 * WindowSeconds) // again: moves to the end
	want := []int64{4, 6, 7, 8, 9, 10, 5}
	if len(o.LeftWindows) != MaxLeftWindows {
		t.Fatalf("%d windows kept, want %d", len(o.LeftWindows), MaxLeftWindows)
	}
	got := o.LeftWindows[len(o.LeftWindows)-len(want):]
	for i := range want {
		if got[i] != want[i]*WindowSeconds {
			t.Fatalf("left windows %v, want ... %v (×%d)", o.LeftWindows, want, WindowSeconds)
		}
	}
}

func TestWindowStartAndDay(t *testing.T) {
	cases := []struct {
		us    int64
		start int64
		day   string
	}{
		{0, 0, "1970-01-01"},
		{299_999_999, 0, "1970-01-01"},
		{300_000_000, 300, "1970-01-01"},
		{-1, -300, "1969-12-31"},
		{-300_000_000, -300, "1969-12-31"},
		{-300_000_001, -600, "1969-12-31"},
		{created, time.Date(2025, 1, 15, 10, 5, 0, 0, time.UTC).Unix(), "2025-01-15"},
	}
	for _, c := range cases {
		if got := WindowStart(c.us); got != c.start {
			t.Errorf("WindowStart(%d) = %d, want %d", c.us, got, c.start)
		}
		if got := Day(c.us); got != c.day {
			t.Errorf("Day(%d) = %s, want %s", c.us, got, c.day)
		}
	}
}

func TestPoisonGoesToDeadLetter(t *testing.T) {
	h := newHarness(t, envelope)
	q := h.tt.NewQueueTracker(string(dlq))
	h.send("orders", debezium.OpCreate, 1, nil, ord(1, 7, 1000, "pending", created), 100, tsStart)
	key := []byte(`{"id":1}`)
	poison := [][]byte{
		[]byte("not json"),
		[]byte(`{"payload":{"op":"u","after":{"id":1,"customer_id":7,"status":"x"},"source":{"lsn":200,"ts_ms":1}}}`),
	}
	for _, v := range poison {
		h.raw(string(oTopic), key, v)
	}
	h.raw(string(iTopic), []byte(`{"id":5}`), nil) // tombstone: skipped
	if d := h.daily("2025-01-15"); d != (dayFig{1000, 1}) {
		t.Fatalf("poison changed the figures: %+v", d)
	}
	n := 0
	for {
		if _, _, ok := q.Next(); !ok {
			break
		}
		n++
	}
	if n != len(poison) {
		t.Fatalf("%d dead letters, want %d", n, len(poison))
	}
}

// gokaContext renames goka.Context for embedding: the interface has a
// method named Context.
type gokaContext = goka.Context

// fakeCtx is the part of goka.Context the loop callbacks use, for
// simulating Goka reprocessing a message after a crash.
type fakeCtx struct {
	gokaContext // unimplemented methods panic
	key         string
	partition   int32
	offset      int64
	value       interface{}
	loops       []loop
	failed      error
}

func (c *fakeCtx) Key() string                                     { return c.key }
func (c *fakeCtx) Partition() int32                                { return c.partition }
func (c *fakeCtx) Offset() int64                                   { return c.offset }
func (c *fakeCtx) Value() interface{}                              { return c.value }
func (c *fakeCtx) SetValue(v interface{}, _ ...goka.ContextOption) { c.value = v }
func (c *fakeCtx) Loopback(key string, v interface{}, _ ...goka.ContextOption) {
	b, _ := v.([]byte)
	c.loops = append(c.loops, loop{key, b})
}

type loop struct {
	key   string
	value []byte
}

func (c *fakeCtx) Fail(err error) { c.failed = err }

// roundTrip encodes and decodes a table value as Goka does between callbacks.
func roundTrip(t *testing.T, v interface{}) interface{} {
	t.Helper()
	b, err := TableCodec{}.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := TableCodec{}.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReprocessedMessageReemitsIdentically(t *testing.T) {
	p := &processor{cfg: Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(nil)}}
	ins := lineEvent(&debezium.Message{Op: debezium.OpCreate, Pos: debezium.Position{LSN: 100, TsMs: tsStart},
		AfterItem: line(10, 1, 5, 3, 500)})

	first := &fakeCtx{key: LineKey(10), partition: 3, offset: 41}
	p.onLoop(first, ins)
	if first.failed != nil || len(first.loops) != 1 || first.loops[0].key != OrderKey(1) {
		t.Fatalf("insert: loopbacks %v (want one to its order), err %v", first.loops, first.failed)
	}
	stored := roundTrip(t, first.value)

	// Goka crashed after writing the table but before committing the
	// offset: the message comes again, the state already holds its effect.
	again := &fakeCtx{key: LineKey(10), partition: 3, offset: 41, value: stored}
	p.onLoop(again, ins)
	if fmt.Sprint(again.loops) != fmt.Sprint(first.loops) {
		t.Fatalf("re-emitted\n%v\nwant\n%v", again.loops, first.loops)
	}
	if again.value != stored {
		t.Fatalf("replay changed the state")
	}

	// The item change re-delivered to the order counts once.
	raw := first.loops[0].value
	o1 := &fakeCtx{key: OrderKey(1), partition: 3, offset: 50}
	p.onLoop(o1, raw)
	o2 := &fakeCtx{key: OrderKey(1), partition: 3, offset: 51, value: roundTrip(t, o1.value)}
	p.onLoop(o2, raw)
	if o := o2.value.(*Order); o.ItemsQty != 3 {
		t.Fatalf("order after a duplicate item change: %+v", o)
	}
}

// An item change of the first release addressed to one of its aggregates
// deletes the aggregate's stale value; a loop event that fits no key fails.
func TestRetiredAggregateKeys(t *testing.T) {
	p := &processor{cfg: Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(nil)}}
	delta := deltaEvent(delivery.Origin{Partition: 1, Offset: 2}, Delta{Orders: 1, Cents: 100})
	for _, key := range []string{"d/2025-01-15", "p/3", "c/7", "s/pending", "w/1736935500"} {
		c := &deletingCtx{fakeCtx: fakeCtx{key: key, value: Retired{Kind: "x"}}}
		p.onLoop(c, delta)
		if c.failed != nil || !c.deleted {
			t.Errorf("%s: deleted %v, err %v", key, c.deleted, c.failed)
		}
	}
	c := &fakeCtx{key: "x/1"}
	p.onLoop(c, delta)
	if c.failed == nil {
		t.Error("a delta to an unknown key should fail")
	}
}

type deletingCtx struct {
	fakeCtx
	deleted bool
}

func (c *deletingCtx) Delete(...goka.ContextOption) { c.deleted = true }

func TestTableCodecRoundTrip(t *testing.T) {
	values := []interface{}{
		&Order{Live: true, CustomerID: 7, TotalCents: -5, Status: "pending", CreatedAt: created, ItemsQty: 3,
			Marks: delivery.Marks{{Partition: 1, Offset: 2, Seq: 3}}},
		&Line{Live: true, OrderID: 1, ProductID: 2, Quantity: 3, PriceCents: 4},
	}
	for _, v := range values {
		got := roundTrip(t, v)
		if fmt.Sprintf("%T %+v", got, got) != fmt.Sprintf("%T %+v", v, v) {
			t.Errorf("round trip: got %+v, want %+v", got, v)
		}
	}
	if _, err := (TableCodec{}).Encode("x"); err == nil {
		t.Error("encoding a string should fail")
	}
	if _, err := (TableCodec{}).Decode([]byte{9}); err == nil {
		t.Error("decoding an unknown kind should fail")
	}
}
