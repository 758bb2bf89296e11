package analytics

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/testkit/gokatest"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/lovoo/goka/tester"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/analytics"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// The CDC topics of the contract.
const (
	ordersTopic goka.Stream = "dbserver1.public.orders"
	itemsTopic  goka.Stream = "dbserver1.public.order_items"
)

var now = time.Date(2025, 1, 15, 12, 5, 0, 0, time.UTC)

// shop is a table of orders and lines whose figures have every shape:
// several orders a day and a window, a customer with two orders, lines
// without an order or with a NULL one, and a deleted order whose window is
// empty now.
func shop() map[string]any {
	at := func(day, h, m int) int64 { return time.Date(2025, 1, day, h, m, 0, 0, time.UTC).UnixMicro() }
	return map[string]any{
		"o/1": &analytics.Order{Live: true, CustomerID: 7, TotalCents: 129999, Status: "shipped", CreatedAt: at(15, 10, 5), ItemsQty: 1},
		"o/2": &analytics.Order{Live: true, CustomerID: 8, TotalCents: 1000, Status: "pending", CreatedAt: at(15, 10, 7), ItemsQty: 2},
		"o/3": &analytics.Order{Live: true, CustomerID: 8, TotalCents: 50, Status: "pending", CreatedAt: at(16, 9, 0)},
		"o/4": &analytics.Order{Deleted: true, CreatedAt: at(15, 10, 12)}, // its window is known, empty
		"o/5": &analytics.Order{ItemsQty: 4},                              // lines only: counts nowhere
		"l/1": &analytics.Line{Live: true, OrderID: 1, ProductID: 3, Quantity: 1, PriceCents: 129999},
		"l/2": &analytics.Line{Live: true, OrderID: 2, ProductID: 4, Quantity: 2, PriceCents: 500},
		"l/3": &analytics.Line{Live: true, OrderID: 5, ProductID: 12, Quantity: 4, PriceCents: 200},
		"l/4": &analytics.Line{Live: true, ProductID: 12, Quantity: 1, PriceCents: 200}, // NULL order
		"l/5": &analytics.Line{Live: true, OrderID: 2, Quantity: 1, PriceCents: 100},    // NULL product
		"l/6": &analytics.Line{OrderID: 2, ProductID: 5},                                // deleted
	}
}

// partitions is how many partitions the test folds spread keys over.
const partitions = 3

// foldOf folds values through the storage of a view with three
// partitions, as Goka writes them.
func foldOf(t *testing.T, values map[string]any) *Fold {
	t.Helper()
	f := NewFold()
	sts := openFold(t, f, storage.MemoryBuilder())
	for key, v := range values {
		data, err := analytics.TableCodec{}.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := sts[partitionOf(key)].Set(key, data); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func openFold(t *testing.T, f *Fold, next storage.Builder) []storage.Storage {
	t.Helper()
	var sts []storage.Storage
	for p := range int32(partitions) {
		st, err := f.Storage(next)("analytics-table", p)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Open(); err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	return sts
}

func partitionOf(key string) int {
	h := 0
	for _, c := range key {
		h += int(c)
	}
	return h % partitions
}

func snapshot(t *testing.T, f *Fold) *Snapshot {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReportsGoldenShape(t *testing.T) {
	s := snapshot(t, foldOf(t, shop()))
	golden := map[string]string{
		DailySales: `{"report_type":"daily_sales","generated_at":"2025-01-15T12:05:00.000Z","data":{` +
			`"2025-01-15":{"total_amount":1309.99,"order_count":2},"2025-01-16":{"total_amount":0.50,"order_count":1}}}`,
		ProductSales: `{"report_type":"product_sales","generated_at":"2025-01-15T12:05:00.000Z","data":{` +
			`"3":{"quantity_sold":1,"total_revenue":1299.99},"4":{"quantity_sold":2,"total_revenue":10.00},` +
			`"12":{"quantity_sold":5,"total_revenue":10.00}}}`,
		CustomerMetrics: `{"report_type":"customer_metrics","generated_at":"2025-01-15T12:05:00.000Z","data":{` +
			`"7":{"order_count":1,"total_spent":1299.99},"8":{"order_count":2,"total_spent":10.50}}}`,
		OrderStatus: `{"report_type":"order_status","generated_at":"2025-01-15T12:05:00.000Z","data":{"pending":2,"shipped":1}}`,
		Summary: `{"report_type":"summary","generated_at":"2025-01-15T12:05:00.000Z","metrics":{` +
			`"total_orders":3,"total_revenue":1310.49,"unique_customers":2,"unique_products_sold":3,` +
			`"order_status_breakdown":{"pending":2,"shipped":1}}}`,
	}
	for _, name := range ReportNames() {
		rep, err := s.Report(name, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := marshal(t, rep); got != golden[name] {
			t.Errorf("%s:\n got %s\nwant %s", name, got, golden[name])
		}
	}
	if _, err := s.Report("windows", now); err == nil {
		t.Error("an unknown report name should fail")
	}

	// Windows: every window is in the snapshot (so a sink can overwrite a
	// window emptied by deletes), only non-empty ones are listed per day.
	if len(s.Windows) != 3 {
		t.Fatalf("snapshot windows %+v, want 3", s.Windows)
	}
	got := marshal(t, s.WindowsOn("2025-01-15"))
	want := `[{"window_start":"2025-01-15T10:05:00Z","window_end":"2025-01-15T10:10:00Z","orders":2,"revenue":1309.99,"items_sold":3}]`
	if got != want {
		t.Errorf("windows:\n got %s\nwant %s", got, want)
	}
	if got := marshal(t, s.WindowsOn("2025-01-17")); got != `[]` {
		t.Errorf("windows of an empty day: %s", got)
	}
}

func TestEmptyTableGivesEmptyObjects(t *testing.T) {
	s := snapshot(t, foldOf(t, nil))
	if got := marshal(t, s.DailySalesReport(now)); !strings.HasSuffix(got, `"data":{}}`) {
		t.Errorf("empty daily sales: %s", got)
	}
	want := `"metrics":{"total_orders":0,"total_revenue":0.00,"unique_customers":0,"unique_products_sold":0,"order_status_breakdown":{}}}`
	if got := marshal(t, s.SummaryReport(now)); !strings.HasSuffix(got, want) {
		t.Errorf("empty summary: %s", got)
	}
}

// The fold moves contributions on every write and delete, folds what a
// storage holds when it opens (a restart with local state), and refuses a
// value it cannot read without changing anything.
func TestFoldFollowsWritesAndRestarts(t *testing.T) {
	values := shop()
	mem := map[int32]storage.Storage{}
	keep := func(topic string, p int32) (storage.Storage, error) { // storages that outlive a view
		if mem[p] == nil {
			mem[p] = storage.NewMemory()
		}
		return mem[p], nil
	}
	f := NewFold()
	sts := openFold(t, f, keep)
	set := func(key string, v any) {
		t.Helper()
		data, err := analytics.TableCodec{}.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := sts[partitionOf(key)].Set(key, data); err != nil {
			t.Fatal(err)
		}
	}
	// Arrive in steps: an order first without its total, then everything.
	set("o/2", &analytics.Order{Live: true, CustomerID: 8, Status: "pending", CreatedAt: values["o/2"].(*analytics.Order).CreatedAt})
	for key, v := range values {
		set(key, v)
	}
	want := marshal(t, snapshot(t, foldOf(t, values)))
	if got := marshal(t, snapshot(t, f)); got != want {
		t.Fatalf("after updates:\n got %s\nwant %s", got, want)
	}

	// A delete withdraws; the key's re-write counts again.
	if err := sts[partitionOf("o/1")].Delete("o/1"); err != nil {
		t.Fatal(err)
	}
	if s := snapshot(t, f); s.SummaryReport(now).Metrics.TotalOrders != 2 {
		t.Fatalf("after deleting order 1: %+v", s.SummaryReport(now).Metrics)
	}
	set("o/1", values["o/1"])

	// A value that does not decode is refused and changes nothing.
	if err := sts[partitionOf("o/1")].Set("o/1", []byte{0x0f}); err == nil {
		t.Fatal("an undecodable value should be refused")
	}
	// Values of other keys (the first release's aggregates) count nothing.
	if err := sts[partitionOf("d/2025-01-15")].Set("d/2025-01-15", []byte{3, 2, 4}); err != nil {
		t.Fatal(err)
	}
	if got := marshal(t, snapshot(t, f)); got != want {
		t.Fatalf("after a refused value:\n got %s\nwant %s", got, want)
	}

	// A new view over the same storages folds what they hold.
	g := NewFold()
	openFold(t, g, keep)
	if got := marshal(t, snapshot(t, g)); got != want {
		t.Fatalf("after a restart:\n got %s\nwant %s", got, want)
	}
}

// testerTable runs the analytics processor and a view of its table in
// Goka's tester.
func testerTable(t *testing.T) (*tester.Tester, *Fold) {
	t.Helper()
	const group goka.Group = "analytics-view-test"
	tt := tester.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	graph := analytics.Define(analytics.Config{
		Group: group, OrdersTopic: ordersTopic, ItemsTopic: itemsTopic, Log: log,
		Input: cdc.NewInput(cdc.InputConfig{Service: "analytics-service", DLQTopic: "analytics-service-dlq", Log: log,
			Decoder: debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})}),
	})
	proc := gokatest.NewProcessor(t, tt, graph)
	// The view has its own storage, as in production: the tester's is the
	// processor's.
	fold := NewFold()
	view, err := goka.NewView(nil, analytics.Table(group), analytics.TableCodec{}, goka.WithViewTester(tt),
		goka.WithViewStorageBuilder(fold.Storage(storage.MemoryBuilder())))
	if err != nil {
		t.Fatal(err)
	}
	gokatest.Run(t, proc.Run, view.Run)
	return tt, fold
}

func send(t *testing.T, tt *tester.Tester, table string, op debezium.Op, id int64, before, after any, lsn uint64) {
	t.Helper()
	topic, key, value, err := dbzenc.Encode(dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope}, table, op, id, before, after,
		dbzenc.Source{LSN: lsn, TsMs: now.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	tt.Consume(topic, string(key), value)
}

func TestTop100FromTheProcessor(t *testing.T) {
	tt, view := testerTable(t)
	created := now.Add(-time.Hour).UnixMicro()
	lsn := uint64(100)
	// 150 products and customers: product p sells one unit at p×10 cents,
	// except that products 141..150 all tie at 1000.00 with product 1's
	// revenue made largest; customer c spends like product c.
	revenue := func(p int64) int64 {
		switch {
		case p == 1:
			return 1_000_000
		case p > 140:
			return 100_000
		}
		return p * 10
	}
	for p := int64(1); p <= 150; p++ {
		lsn++
		send(t, tt, "orders", debezium.OpCreate, p, nil,
			&debezium.Order{ID: p, CustomerID: p, TotalCents: revenue(p), Status: "pending", CreatedAt: created}, lsn)
		lsn++
		send(t, tt, "order_items", debezium.OpCreate, p, nil,
			&debezium.OrderItem{ID: p, OrderID: p, ProductID: p, Quantity: 1, PriceCents: revenue(p), CreatedAt: created}, lsn)
	}
	// Customer 2's order is cancelled by deleting it; product 2's line too.
	lsn++
	send(t, tt, "orders", debezium.OpDelete, 2, &debezium.Order{ID: 2, CustomerID: 2, TotalCents: 20, Status: "pending", CreatedAt: created}, nil, lsn)
	lsn++
	send(t, tt, "order_items", debezium.OpDelete, 2, &debezium.OrderItem{ID: 2, OrderID: 2, ProductID: 2, Quantity: 1, PriceCents: 20, CreatedAt: created}, nil, lsn)

	s := snapshot(t, view)
	// Expected ranking: 1, then 141..150 (tie, id asc), then 140 down to 3.
	var want []string
	want = append(want, "1")
	for p := 141; p <= 150; p++ {
		want = append(want, fmt.Sprint(p))
	}
	for p := 140; len(want) < TopN; p-- {
		want = append(want, fmt.Sprint(p))
	}
	for _, rep := range []Report{s.ProductSalesReport(now), s.CustomerMetricsReport(now)} {
		var got []string
		for _, m := range rep.Data {
			got = append(got, m.Key)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s ranking:\n got %v\nwant %v", rep.ReportType, got, want)
		}
		// The JSON keeps the ranking's order.
		js := marshal(t, rep)
		if i, j := strings.Index(js, `"141":`), strings.Index(js, `"142":`); i < 0 || j < i {
			t.Errorf("%s: JSON out of ranking order: %s", rep.ReportType, js[:200])
		}
	}
	sum := s.SummaryReport(now).Metrics
	if sum.TotalOrders != 149 || sum.UniqueCustomers != 149 || sum.UniqueProductsSold != 149 {
		t.Errorf("summary %+v, want 149 orders, customers and products", sum)
	}
	var total int64
	for p := int64(1); p <= 150; p++ {
		if p != 2 {
			total += revenue(p)
		}
	}
	if want := fmt.Sprintf("%d.%02d", total/100, total%100); string(sum.TotalRevenue) != want {
		t.Errorf("total revenue %s, want %s", sum.TotalRevenue, want)
	}
	if ws := s.WindowsOn(now.Format("2006-01-02")); len(ws) != 1 || ws[0].Orders != 149 || ws[0].ItemsSold != 149 {
		t.Errorf("windows %+v, want one window with 149 orders and items", ws)
	}
}

func TestRoutes(t *testing.T) {
	srv := httpapi.New(prometheus.NewRegistry())
	Routes(srv, foldOf(t, shop()))
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp.StatusCode, body
	}
	for _, name := range ReportNames() {
		code, body := get("/v1/reports/" + name)
		if code != http.StatusOK || body["report_type"] != name {
			t.Errorf("%s: %d %v", name, code, body)
		}
		if _, ok := body["generated_at"].(string); !ok {
			t.Errorf("%s: no generated_at: %v", name, body)
		}
		field := "data"
		if name == Summary {
			field = "metrics"
		}
		if _, ok := body[field].(map[string]any); !ok {
			t.Errorf("%s: no %s object: %v", name, field, body)
		}
	}
	if code, _ := get("/v1/reports/top_sellers"); code != http.StatusNotFound {
		t.Errorf("unknown report: %d, want 404", code)
	}
	code, body := get("/v1/reports/windows?date=2025-01-15")
	if data, _ := body["data"].([]any); code != http.StatusOK || len(data) != 1 || body["date"] != "2025-01-15" {
		t.Errorf("windows: %d %v", code, body)
	}
	if code, _ := get("/v1/reports/windows?date=15.01.2025"); code != http.StatusBadRequest {
		t.Errorf("malformed date: %d, want 400", code)
	}
	if code, _ := get("/v1/reports/windows"); code != http.StatusBadRequest {
		t.Errorf("missing date: %d, want 400", code)
	}
}
