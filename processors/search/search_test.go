package search

import (
	"io"
	"log/slog"
	"reflect"
	"slices"
	"testing"

	"github.com/cdcflow/cdcflow/testkit/gokatest"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

const (
	group   goka.Group  = "search-test"
	pTopic  goka.Stream = "dbserver1.public.products"
	dlq     goka.Stream = "search-indexer-dlq"
	tsStart int64       = 1736931600000
)

// harness runs the search graph in Goka's tester and feeds it genuine
// Debezium messages.
type harness struct {
	t    *testing.T
	tt   *tester.Tester
	opts dbzenc.EncodeOptions
	sent []record
	// metrics are the graph's counters.
	metrics *Metrics
}

type record struct {
	topic      string
	key, value []byte
}

func newHarness(t *testing.T, opts dbzenc.EncodeOptions) *harness {
	t.Helper()
	tt := tester.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	metrics := NewMetrics(nil)
	graph := Define(Config{
		Group: group, ProductsTopic: pTopic, Log: log, Metrics: metrics,
		Input: cdc.NewInput(cdc.InputConfig{Service: "search-indexer", DLQTopic: dlq, Log: log,
			Decoder: debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})}),
	})
	proc := gokatest.NewProcessor(t, tt, graph)
	gokatest.Run(t, proc.Run)
	return &harness{t: t, tt: tt, opts: opts, metrics: metrics}
}

func (h *harness) send(op debezium.Op, id int64, before, after *debezium.Product, lsn uint64, ts int64) {
	h.t.Helper()
	var b, a any
	if before != nil {
		b = before
	}
	if after != nil {
		a = after
	}
	topic, key, value, err := dbzenc.Encode(h.opts, debezium.TableProducts, op, id, b, a, dbzenc.Source{LSN: lsn, TsMs: ts})
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
	for _, r := range slices.Clone(h.sent) {
		h.raw(r.topic, r.key, r.value)
	}
}

func (h *harness) doc(id int64) *Doc {
	d, _ := h.tt.TableValue(Table(group), Key(id)).(*Doc)
	return d
}

func prod(id int64, name, desc string, cents, stock int64) *debezium.Product {
	return &debezium.Product{ID: id, Name: name, Description: desc, PriceCents: cents, StockQuantity: stock,
		CreatedAt: tsStart * 1000, UpdatedAt: tsStart * 1000}
}

var envelope = dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope}

func TestCreateUpdateDelete(t *testing.T) {
	h := newHarness(t, envelope)
	v1 := prod(7, "Gaming Laptop", "Fast laptop, 16GB RAM", 129999, 25)
	h.send(debezium.OpCreate, 7, nil, v1, 100, tsStart)
	d := h.doc(7)
	if d == nil || !d.Live || d.Deleted || d.Rev != 1 || d.Name != "Gaming Laptop" || d.PriceCents != 129999 ||
		d.Stock != 25 || d.CDCTsMs != tsStart {
		t.Fatalf("after create: %+v", d)
	}
	if got, want := Tokens(d), []string{"16gb", "fast", "gaming", "laptop", "ram"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tokens %q, want %q", got, want)
	}

	v2 := prod(7, "Office Notebook", "Quiet notebook", 89950, 24)
	h.send(debezium.OpUpdate, 7, v1, v2, 200, tsStart+1000)
	d = h.doc(7)
	if d.Rev != 2 || d.Name != "Office Notebook" || d.Description != "Quiet notebook" || d.PriceCents != 89950 ||
		d.Stock != 24 || d.CDCTsMs != tsStart+1000 {
		t.Fatalf("after update: %+v", d)
	}
	if got, want := Tokens(d), []string{"notebook", "office", "quiet"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tokens after update %q, want %q (old tokens must be gone)", got, want)
	}

	h.send(debezium.OpDelete, 7, v2, nil, 300, tsStart+2000)
	d = h.doc(7)
	if d == nil || d.Live || !d.Deleted || d.Rev != 3 || d.Name != "" || Tokens(d) != nil || d.CDCTsMs != tsStart+2000 {
		t.Fatalf("after delete: %+v", d)
	}
	// A tombstone record after the delete is skipped.
	topic, key := dbzenc.EncodeTombstone(envelope, debezium.TableProducts, 7)
	h.raw(topic, key, nil)
	if d2 := h.doc(7); !reflect.DeepEqual(d2, d) {
		t.Fatalf("tombstone record changed the document: %+v", d2)
	}
}

func TestRedeliveryChangesNothing(t *testing.T) {
	h := newHarness(t, envelope)
	v1 := prod(1, "Desk Lamp", "LED", 2999, 10)
	v2 := prod(1, "Desk Lamp Pro", "LED, dimmable", 3999, 9)
	h.send(debezium.OpRead, 1, nil, v1, 50, tsStart)
	h.send(debezium.OpUpdate, 1, v1, v2, 100, tsStart+1)
	h.send(debezium.OpCreate, 2, nil, prod(2, "Chair", "", 4999, 3), 110, tsStart+2)
	h.send(debezium.OpDelete, 2, prod(2, "Chair", "", 4999, 3), nil, 120, tsStart+3)
	want1, want2 := h.doc(1), h.doc(2)
	h.replayAll()
	h.replayAll()
	if got := h.doc(1); !reflect.DeepEqual(got, want1) || got.Rev != 2 || got.Name != "Desk Lamp Pro" {
		t.Fatalf("product 1 after replays: %+v, want %+v", got, want1)
	}
	if got := h.doc(2); !reflect.DeepEqual(got, want2) || !got.Deleted || got.Rev != 2 {
		t.Fatalf("product 2 after replays: %+v, want %+v", got, want2)
	}
}

func TestDeletedProductRejectsOlderVersion(t *testing.T) {
	h := newHarness(t, envelope)
	v1 := prod(3, "Mug", "Ceramic", 899, 100)
	h.send(debezium.OpCreate, 3, nil, v1, 100, tsStart)
	h.send(debezium.OpDelete, 3, v1, nil, 200, tsStart+1)
	h.send(debezium.OpUpdate, 3, v1, prod(3, "Mug XL", "Ceramic", 999, 90), 150, tsStart) // older, late
	if d := h.doc(3); d.Live || !d.Deleted || d.Rev != 2 {
		t.Fatalf("an older version revived a deleted product: %+v", d)
	}
	// A newer version (a re-insert) does revive it.
	h.send(debezium.OpCreate, 3, nil, prod(3, "Mug", "Stoneware", 999, 5), 400, tsStart+5)
	if d := h.doc(3); !d.Live || d.Deleted || d.Description != "Stoneware" || d.Rev != 3 {
		t.Fatalf("re-insert: %+v", d)
	}
}

func TestTimestampOnlyPositions(t *testing.T) {
	// Flattened records without an LSN: the insert and the update of one
	// transaction share source.ts_ms and apply in arrival order.
	for _, format := range []dbzenc.Format{dbzenc.FormatFlat, dbzenc.FormatFlatNoSchema} {
		t.Run(format.String(), func(t *testing.T) {
			h := newHarness(t, dbzenc.EncodeOptions{Format: format})
			v1 := prod(5, "Kettle", "Steel kettle", 2500, 8)
			v2 := prod(5, "Kettle", "Glass kettle", 2700, 8)
			h.send(debezium.OpCreate, 5, nil, v1, 0, tsStart)
			h.send(debezium.OpUpdate, 5, v1, v2, 0, tsStart)
			d := h.doc(5)
			if d == nil || d.Rev != 2 || d.Description != "Glass kettle" || d.PriceCents != 2700 {
				t.Fatalf("insert+update in one transaction: %+v", d)
			}
			want := *d
			h.replayAll()
			if got := h.doc(5); !reflect.DeepEqual(*got, want) {
				t.Fatalf("after replay: %+v, want %+v", got, want)
			}
			h.send(debezium.OpDelete, 5, v2, nil, 0, tsStart+7)
			if d := h.doc(5); !d.Deleted || d.Live {
				t.Fatalf("flat delete: %+v", d)
			}
			h.send(debezium.OpUpdate, 5, v1, v2, 0, tsStart) // redelivered, older than the delete
			if d := h.doc(5); !d.Deleted {
				t.Fatalf("redelivered update revived the product: %+v", d)
			}
		})
	}
}

func TestUnicodeNamesStoredVerbatim(t *testing.T) {
	h := newHarness(t, envelope)
	h.send(debezium.OpCreate, 1, nil, prod(1, "Crème Brûlée Set", "Für Gäste", 1999, 4), 100, tsStart)
	h.send(debezium.OpCreate, 2, nil, prod(2, "CRÈME FRAÎCHE", "", 399, 4), 110, tsStart)
	a, b := Tokens(h.doc(1)), Tokens(h.doc(2))
	if h.doc(1).Name != "Crème Brûlée Set" || !slices.Contains(a, "crème") || !slices.Contains(b, "crème") {
		t.Fatalf("tokens %q and %q should share \"crème\"", a, b)
	}
}

func TestPoisonGoesToDeadLetter(t *testing.T) {
	h := newHarness(t, envelope)
	q := h.tt.NewQueueTracker(string(dlq))
	h.send(debezium.OpCreate, 1, nil, prod(1, "Pen", "Blue", 150, 500), 100, tsStart)
	want := h.doc(1)
	key := []byte(`{"id":1}`)
	poison := [][]byte{
		[]byte("not json"),
		[]byte(`{"payload":{"op":"u","after":{"id":1,"name":"x","price":"AuKB","stock_quantity":"lots"},"source":{"lsn":200,"ts_ms":1}}}`),
	}
	for _, v := range poison {
		h.raw(string(pTopic), key, v)
	}
	if got := h.doc(1); !reflect.DeepEqual(got, want) {
		t.Fatalf("poison changed the document: %+v", got)
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

func TestDocCodecRoundTrip(t *testing.T) {
	d := &Doc{Rev: 9, Live: true, Name: "Ünïcode ✓", Description: "x", PriceCents: -5, Stock: 3, CDCTsMs: tsStart}
	d.Applied.Admit(debezium.Position{TsMs: tsStart}, 42)
	d.Applied.Admit(debezium.Position{TsMs: tsStart}, 43)
	b, err := DocCodec{}.Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeDoc(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip: %+v, want %+v", got, d)
	}
	if _, err := DecodeDoc(b[:len(b)-1]); err == nil {
		t.Fatal("truncated value decoded without error")
	}
	if _, err := DecodeDoc(append([]byte{99}, b[1:]...)); err == nil {
		t.Fatal("unknown version decoded without error")
	}
	if _, err := (DocCodec{}).Encode("x"); err == nil {
		t.Fatal("encoding a string succeeded")
	}
}

func TestParseKey(t *testing.T) {
	for key, want := range map[string]int64{"1": 1, "123": 123} {
		if id, ok := ParseKey(key); !ok || id != want {
			t.Errorf("ParseKey(%q) = %d, %v", key, id, ok)
		}
	}
	for _, key := range []string{"", "0", "-1", "012", "+5", "p/1", "__offset", "1.0"} {
		if id, ok := ParseKey(key); ok {
			t.Errorf("ParseKey(%q) = %d, want rejection", key, id)
		}
	}
}
