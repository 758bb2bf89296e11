package inventory

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/cdcflow/cdcflow/testkit/gokatest"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

const (
	group   goka.Group  = "inventory-test"
	pTopic  goka.Stream = "dbserver1.public.products"
	iTopic  goka.Stream = "dbserver1.public.order_items"
	alerts  goka.Stream = "inventory.low-stock-alerts"
	dlq     goka.Stream = "inventory-service-dlq"
	tsStart int64       = 1736931600000
)

// harness runs the inventory graph in Goka's tester and feeds it genuine
// Debezium messages.
type harness struct {
	t    *testing.T
	tt   *tester.Tester
	opts dbzenc.EncodeOptions
	// sent remembers every record so tests can replay them.
	sent []record
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
		Group: group, ProductsTopic: pTopic, ItemsTopic: iTopic, LowStockTopic: alerts,
		Threshold: 10, PendingLimit: 256, Log: log,
		Input: cdc.NewInput(cdc.InputConfig{Service: "inventory-service", DLQTopic: dlq, Log: log,
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

func (h *harness) product(id int64) *Product {
	v := h.tt.TableValue(goka.GroupTable(group), ProductKey(id))
	p, _ := v.(*Product)
	return p
}

func (h *harness) stock(id int64) int64 {
	h.t.Helper()
	p := h.product(id)
	if p == nil || !p.Live {
		h.t.Fatalf("product %d is not live", id)
	}
	return p.Available()
}

func prod(id, stock int64) *debezium.Product {
	return &debezium.Product{ID: id, Name: "Laptop", Description: "fast", PriceCents: 99999, StockQuantity: stock, CreatedAt: tsStart * 1000}
}

func item(id, product, qty int64) *debezium.OrderItem {
	return &debezium.OrderItem{ID: id, OrderID: 1, ProductID: product, Quantity: qty, PriceCents: 99999, CreatedAt: tsStart * 1000}
}

var envelope = dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope}

func TestLinesChangeStockInCommitOrder(t *testing.T) {
	h := newHarness(t, envelope)
	h.send("products", debezium.OpRead, 1, nil, prod(1, 50), 100, tsStart)
	h.send("products", debezium.OpRead, 2, nil, prod(2, 20), 100, tsStart)
	h.send("order_items", debezium.OpCreate, 10, nil, item(10, 1, 3), 200, tsStart+1)
	if got := h.stock(1); got != 47 {
		t.Fatalf("after insert: stock %d, want 47", got)
	}
	h.send("order_items", debezium.OpUpdate, 10, item(10, 1, 3), item(10, 1, 5), 300, tsStart+2)
	if got := h.stock(1); got != 45 {
		t.Fatalf("after quantity update: stock %d, want 45", got)
	}
	h.send("order_items", debezium.OpUpdate, 10, item(10, 1, 5), item(10, 2, 4), 400, tsStart+3)
	if got1, got2 := h.stock(1), h.stock(2); got1 != 50 || got2 != 16 {
		t.Fatalf("after move: stocks %d,%d, want 50,16", got1, got2)
	}
	h.send("order_items", debezium.OpDelete, 10, item(10, 2, 4), nil, 500, tsStart+4)
	if got := h.stock(2); got != 20 {
		t.Fatalf("after cancellation: stock %d, want 20", got)
	}
}

func TestConnectorRedeliveryChangesNothing(t *testing.T) {
	h := newHarness(t, envelope)
	h.send("products", debezium.OpCreate, 1, nil, prod(1, 50), 100, tsStart)
	h.send("order_items", debezium.OpCreate, 10, nil, item(10, 1, 3), 200, tsStart+1)
	h.send("order_items", debezium.OpUpdate, 10, item(10, 1, 3), item(10, 1, 7), 300, tsStart+2)
	h.send("order_items", debezium.OpCreate, 11, nil, item(11, 1, 1), 400, tsStart+3)
	want := h.stock(1)
	h.replayAll()
	h.replayAll()
	if got := h.stock(1); got != want || want != 42 {
		t.Fatalf("after replays: stock %d, want %d (= 42)", got, want)
	}
}

func TestVersionArrivingAfterLaterLinesKeepsThem(t *testing.T) {
	// order_items is read ahead of products: the lines at 300 and 500 arrive
	// before the product versions at 100 and 400.
	h := newHarness(t, envelope)
	h.send("order_items", debezium.OpCreate, 10, nil, item(10, 1, 3), 300, tsStart+3)
	h.send("order_items", debezium.OpCreate, 11, nil, item(11, 1, 2), 500, tsStart+5)
	if p := h.product(1); p == nil || p.Live {
		t.Fatalf("product should exist only as pending deltas, got %+v", p)
	}
	h.send("products", debezium.OpCreate, 1, nil, prod(1, 50), 100, tsStart)
	if got := h.stock(1); got != 45 {
		t.Fatalf("version at 100 with lines at 300,500: stock %d, want 45", got)
	}
	// A restock at 400 counted the line at 300 already (stock_quantity 80 as of 400).
	h.send("products", debezium.OpUpdate, 1, prod(1, 50), prod(1, 80), 400, tsStart+4)
	if got := h.stock(1); got != 78 {
		t.Fatalf("version at 400 keeps only the line at 500: stock %d, want 78", got)
	}
}

func TestVersionAfterLinesCountsThem(t *testing.T) {
	h := newHarness(t, envelope)
	h.send("products", debezium.OpCreate, 1, nil, prod(1, 50), 100, tsStart)
	h.send("order_items", debezium.OpCreate, 10, nil, item(10, 1, 3), 200, tsStart+2)
	h.send("products", debezium.OpUpdate, 1, prod(1, 50), prod(1, 100), 300, tsStart+3)
	// A line committed before the restock but delivered after it.
	h.send("order_items", debezium.OpCreate, 11, nil, item(11, 1, 4), 250, tsStart+2)
	if got := h.stock(1); got != 100 {
		t.Fatalf("lines before the version are counted in it: stock %d, want 100", got)
	}
}

func TestDeletedProductIgnoresLateChanges(t *testing.T) {
	h := newHarness(t, envelope)
	h.send("products", debezium.OpCreate, 1, nil, prod(1, 50), 100, tsStart)
	h.send("products", debezium.OpDelete, 1, prod(1, 50), nil, 200, tsStart+1)
	h.send("products", debezium.OpCreate, 1, nil, prod(1, 50), 100, tsStart) // redelivered
	h.send("order_items", debezium.OpCreate, 10, nil, item(10, 1, 3), 300, tsStart+2)
	p := h.product(1)
	if p == nil || p.Live || !p.Deleted || len(p.Pending) != 0 {
		t.Fatalf("product should stay deleted with nothing pending, got %+v", p)
	}
}

func TestSnapshotLinesAreAlreadyCounted(t *testing.T) {
	h := newHarness(t, envelope)
	h.send("products", debezium.OpRead, 1, nil, prod(1, 50), 100, tsStart)
	h.send("order_items", debezium.OpRead, 10, nil, item(10, 1, 3), 100, tsStart)
	h.send("order_items", debezium.OpDelete, 10, item(10, 1, 3), nil, 200, tsStart+1)
	if got := h.stock(1); got != 53 {
		t.Fatalf("a cancelled snapshot line gives its stock back: stock %d, want 53", got)
	}
}

func TestTimestampOnlyPositions(t *testing.T) {
	// Flattened records without an LSN: an insert and an update of one line
	// in one transaction share the timestamp and apply in arrival order.
	h := newHarness(t, dbzenc.EncodeOptions{Format: dbzenc.FormatFlat})
	h.send("products", debezium.OpCreate, 1, nil, prod(1, 50), 0, tsStart)
	h.send("order_items", debezium.OpCreate, 10, nil, item(10, 1, 3), 0, tsStart+10)
	h.send("order_items", debezium.OpUpdate, 10, item(10, 1, 3), item(10, 1, 5), 0, tsStart+10)
	if got := h.stock(1); got != 45 {
		t.Fatalf("insert+update in one transaction: stock %d, want 45", got)
	}
	h.replayAll()
	if got := h.stock(1); got != 45 {
		t.Fatalf("after replay: stock %d, want 45", got)
	}
}

func TestLineInTheVersionsTransactionIsCounted(t *testing.T) {
	// Without an LSN a product version and a line of the same transaction
	// share the timestamp: the line is not after the version.
	h := newHarness(t, dbzenc.EncodeOptions{Format: dbzenc.FormatFlatNoSchema})
	h.send("products", debezium.OpCreate, 1, nil, prod(1, 50), 0, tsStart)
	h.send("order_items", debezium.OpCreate, 10, nil, item(10, 1, 3), 0, tsStart+5)
	h.send("products", debezium.OpUpdate, 1, prod(1, 50), prod(1, 47), 0, tsStart+5)
	h.send("order_items", debezium.OpCreate, 11, nil, item(11, 1, 2), 0, tsStart+5)
	if got := h.stock(1); got != 47 {
		t.Fatalf("lines sharing the version's timestamp: stock %d, want 47", got)
	}
}

func TestLowStockAlertOncePerCrossing(t *testing.T) {
	h := newHarness(t, envelope)
	q := h.tt.NewQueueTracker(string(alerts))
	h.send("products", debezium.OpCreate, 1, nil, prod(1, 12), 100, tsStart)
	h.send("order_items", debezium.OpCreate, 10, nil, item(10, 1, 3), 200, tsStart+1) // 9: alert
	h.send("order_items", debezium.OpCreate, 11, nil, item(11, 1, 1), 300, tsStart+2) // 8: no new alert
	h.send("order_items", debezium.OpDelete, 10, item(10, 1, 3), nil, 400, tsStart+3) // 11: re-armed
	h.send("order_items", debezium.OpCreate, 12, nil, item(12, 1, 5), 500, tsStart+4) // 6: alert
	h.replayAll()
	var got []Alert
	for {
		key, v, ok := q.Next()
		if !ok {
			break
		}
		if key != "1" {
			t.Fatalf("alert key %q, want 1", key)
		}
		var a Alert
		if err := json.Unmarshal(v.([]byte), &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if len(got) != 2 || got[0].StockQuantity != 9 || got[1].StockQuantity != 6 || got[0].Threshold != 10 || got[0].ProductID != "1" {
		t.Fatalf("alerts %+v, want two (9 and 6)", got)
	}
}

func TestPoisonGoesToDeadLetterAndStateStays(t *testing.T) {
	h := newHarness(t, envelope)
	q := h.tt.NewQueueTracker(string(dlq))
	h.send("products", debezium.OpCreate, 1, nil, prod(1, 50), 100, tsStart)
	key := []byte(`{"id":1}`)
	poison := [][]byte{
		[]byte("not json"),
		[]byte(`{"payload":{"op":"c","after":{"id":1,"name":"x","price":"AuKB","stock_quantity":"lots"},"source":{"lsn":200,"ts_ms":1}}}`),
		[]byte(`{"payload":{"op":"c","after":{"id":1,"name":"x"},"source":{"lsn":300,"ts_ms":1}}}`),
		{0xff, 0x00, 0x13},
	}
	for _, v := range poison {
		h.raw(string(pTopic), key, v)
	}
	h.raw(string(iTopic), []byte(`{"id":5}`), nil) // tombstone: skipped, not dead-lettered
	if got := h.stock(1); got != 50 {
		t.Fatalf("poison changed the product: stock %d", got)
	}
	n := 0
	for {
		k, _, ok := q.Next()
		if !ok {
			break
		}
		if k != string(key) {
			t.Fatalf("dead letter key %q", k)
		}
		n++
	}
	if n != len(poison) {
		t.Fatalf("%d dead letters, want %d", n, len(poison))
	}
}

func TestLineBeforeItsProductExists(t *testing.T) {
	h := newHarness(t, envelope)
	h.send("order_items", debezium.OpCreate, 10, nil, item(10, 7, 2), 100, tsStart)
	h.send("products", debezium.OpCreate, 7, nil, prod(7, 30), 200, tsStart+1)
	if got := h.stock(7); got != 30 {
		t.Fatalf("a line committed before its product existed changes nothing: stock %d, want 30", got)
	}
}

// A crash between the local table write and the changelog write leaves a
// message's effect in the local state only; when the input is redelivered,
// the duplicate must write the state to the changelog again, or the views
// and the DynamoDB mirror would never see it.
func TestDuplicateRewritesStateToChangelog(t *testing.T) {
	h := newHarness(t, dbzenc.EncodeOptions{})
	h.send(debezium.TableProducts, debezium.OpCreate, 1, nil, prod(1, 50), 100, tsStart)
	h.send(debezium.TableOrderItems, debezium.OpCreate, 7, nil, &debezium.OrderItem{ID: 7, OrderID: 1, ProductID: 1, Quantity: 3, PriceCents: 100}, 200, tsStart+1)
	want := h.product(1)
	changelog := h.tt.NewQueueTracker(string(goka.GroupTable(group)))
	h.replayAll()
	seen := map[string]int{}
	for {
		key, v, ok := changelog.Next()
		if !ok {
			break
		}
		seen[key]++
		if key == ProductKey(1) {
			if p, _ := v.(*Product); p == nil || p.Rev != want.Rev || p.Available() != 47 {
				t.Fatalf("changelog got %+v, want the unchanged state %+v", v, want)
			}
		}
	}
	if seen[ProductKey(1)] == 0 || seen[ItemKey(7)] == 0 {
		t.Fatalf("duplicates wrote %v to the changelog; want the product and the line re-written", seen)
	}
	if got := h.stock(1); got != 47 {
		t.Fatalf("stock after replay = %d, want 47", got)
	}
}
