package search

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/testkit/gokatest"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/lovoo/goka/tester"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/processors/search"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

const (
	group         goka.Group  = "search-view-test"
	productsTopic goka.Stream = "dbserver1.public.products"
	tsStart       int64       = 1736931600000
)

// pipeline runs the search-indexer graph and a view of its table feeding an
// Index, both in Goka's tester, and feeds them genuine Debezium messages.
type pipeline struct {
	t    *testing.T
	tt   *tester.Tester
	ix   *Index
	opts dbzenc.EncodeOptions
	sent [][3][]byte // topic, key, value
}

func newPipeline(t *testing.T, opts dbzenc.EncodeOptions) *pipeline {
	t.Helper()
	tt := tester.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	graph := search.Define(search.Config{
		Group: group, ProductsTopic: productsTopic, Log: log,
		Input: cdc.NewInput(cdc.InputConfig{Service: "search-indexer", DLQTopic: "search-indexer-dlq", Log: log,
			Decoder: debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})}),
	})
	proc := gokatest.NewProcessor(t, tt, graph)
	ix := New(log)
	vopts := append([]goka.ViewOption{goka.WithViewTester(tt)}, ix.ViewOptions(tt.StorageBuilder())...)
	view, err := goka.NewView(nil, search.Table(group), search.DocCodec{}, vopts...)
	if err != nil {
		t.Fatal(err)
	}
	gokatest.Run(t, proc.Run, view.Run)
	select {
	case <-view.WaitRunning():
	case <-time.After(10 * time.Second):
		t.Fatal("view did not start")
	}
	return &pipeline{t: t, tt: tt, ix: ix, opts: opts}
}

func (p *pipeline) send(op debezium.Op, id int64, before, after *debezium.Product, lsn uint64, ts int64) {
	p.t.Helper()
	var b, a any
	if before != nil {
		b = before
	}
	if after != nil {
		a = after
	}
	topic, key, value, err := dbzenc.Encode(p.opts, debezium.TableProducts, op, id, b, a, dbzenc.Source{LSN: lsn, TsMs: ts})
	if err != nil {
		p.t.Fatal(err)
	}
	p.sent = append(p.sent, [3][]byte{[]byte(topic), key, value})
	p.tt.Consume(topic, string(key), value)
}

func (p *pipeline) replayAll() {
	for _, r := range slices.Clone(p.sent) {
		p.tt.Consume(string(r[0]), string(r[1]), r[2])
	}
}

func (p *pipeline) match(q string) []int64 {
	rs, total := p.ix.Search(q, 100, nil, nil)
	if total != len(rs) {
		p.t.Fatalf("%q: total %d, %d results", q, total, len(rs))
	}
	return slices.Sorted(slices.Values(ids(rs)))
}

func row(id int64, name, desc string, cents, stock int64) *debezium.Product {
	return &debezium.Product{ID: id, Name: name, Description: desc, PriceCents: cents, StockQuantity: stock,
		CreatedAt: tsStart * 1000, UpdatedAt: tsStart * 1000}
}

func TestViewFollowsCreateUpdateDelete(t *testing.T) {
	p := newPipeline(t, dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope})
	v1 := row(1, "Gaming Laptop", "Fast laptop with RGB keyboard", 129999, 25)
	p.send(debezium.OpCreate, 1, nil, v1, 100, tsStart)
	p.send(debezium.OpCreate, 2, nil, row(2, "Laptop Sleeve", "Neoprene", 2999, 80), 110, tsStart)
	if got := p.match("laptop"); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("laptop: %v", got)
	}
	if got := p.match("gaming laptop"); !slices.Equal(got, []int64{1}) {
		t.Fatalf("gaming laptop: %v", got)
	}

	// An update changing tokens and price: the old tokens are gone.
	v2 := row(1, "Office Notebook", "Quiet and light", 89950, 24)
	p.send(debezium.OpUpdate, 1, v1, v2, 200, tsStart+1000)
	for _, q := range []string{"gaming", "rgb", "fast"} {
		if got := p.match(q); len(got) != 0 {
			t.Fatalf("old token %q still matches %v", q, got)
		}
	}
	if got := p.match("laptop"); !slices.Equal(got, []int64{2}) {
		t.Fatalf("laptop after update: %v", got)
	}
	rs, _ := p.ix.Search("notebook", 10, nil, nil)
	if len(rs) != 1 || rs[0].PriceCents != 89950 || rs[0].Price.String() != "899.50" || rs[0].StockQuantity != 24 {
		t.Fatalf("notebook: %+v", rs)
	}
	if rs, _ := p.ix.Search("notebook", 10, ptr(90000), nil); len(rs) != 0 {
		t.Fatalf("price filter uses the old price: %+v", rs)
	}
	prod, ok := p.ix.Get(1)
	if !ok || prod.Name != "Office Notebook" || prod.CDCTimestamp != tsStart+1000 || prod.IndexedAt != "2025-01-15T09:00:01Z" {
		t.Fatalf("Get(1) = %+v, %v", prod, ok)
	}

	// Delete (and Debezium's tombstone record after it).
	p.send(debezium.OpDelete, 1, v2, nil, 300, tsStart+2000)
	topic, key := dbzenc.EncodeTombstone(p.opts, debezium.TableProducts, 1)
	p.tt.Consume(topic, string(key), nil)
	if got := p.match("notebook"); len(got) != 0 {
		t.Fatalf("deleted product matches: %v", got)
	}
	if _, ok := p.ix.Get(1); ok {
		t.Fatal("deleted product served")
	}
	if p.ix.Len() != 1 {
		t.Fatalf("%d live docs, want 1", p.ix.Len())
	}

	// A redelivered older version (the create) does not revive it.
	first := p.sent[0]
	p.tt.Consume(string(first[0]), string(first[1]), first[2])
	if got := p.match("gaming"); len(got) != 0 {
		t.Fatalf("a redelivered create revived the deleted product: %v", got)
	}

	// Replaying everything (connector redelivery) changes nothing, including
	// the delete's effect and the tables' revisions.
	before := p.tt.TableValue(search.Table(group), "2").(*search.Doc)
	tomb := p.tt.TableValue(search.Table(group), "1").(*search.Doc)
	p.replayAll()
	p.replayAll()
	if got := p.match("laptop"); !slices.Equal(got, []int64{2}) {
		t.Fatalf("laptop after replay: %v", got)
	}
	if got := p.match("notebook"); len(got) != 0 {
		t.Fatalf("replay revived a deleted product: %v", got)
	}
	if after := p.tt.TableValue(search.Table(group), "2").(*search.Doc); after.Rev != before.Rev {
		t.Fatalf("replay bumped the revision %d → %d", before.Rev, after.Rev)
	}
	if after := p.tt.TableValue(search.Table(group), "1").(*search.Doc); after.Rev != tomb.Rev || !after.Deleted {
		t.Fatalf("replay changed the tombstone: %+v → %+v", tomb, after)
	}
	checkInvariants(t, p.ix)
}

func TestViewUnicodeCaseFolding(t *testing.T) {
	p := newPipeline(t, dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelopeNoSchema, Decimal: dbzenc.DecimalString})
	p.send(debezium.OpCreate, 1, nil, row(1, "Crème Brûlée", "Dessert", 650, 10), 100, tsStart)
	p.send(debezium.OpCreate, 2, nil, row(2, "CRÈME FRAÎCHE", "Dairy", 399, 10), 110, tsStart)
	p.send(debezium.OpCreate, 3, nil, row(3, "Creme", "no accent", 399, 10), 120, tsStart)
	for _, q := range []string{"crème", "CRÈME", "Crème"} {
		if got := p.match(q); !slices.Equal(got, []int64{1, 2}) {
			t.Fatalf("%q: %v, want [1 2]", q, got)
		}
	}
	if got := p.match("FRAÎCHE crème"); !slices.Equal(got, []int64{2}) {
		t.Fatalf("fraîche crème: %v", got)
	}
}

func TestViewFlatWithoutLSN(t *testing.T) {
	// ExtractNewRecordState output without an LSN: an insert and an update of
	// one transaction share __source_ts_ms and apply in arrival order.
	p := newPipeline(t, dbzenc.EncodeOptions{Format: dbzenc.FormatFlat})
	v1 := row(5, "Steel Kettle", "Stovetop", 2500, 8)
	v2 := row(5, "Glass Kettle", "Electric", 2700, 8)
	p.send(debezium.OpCreate, 5, nil, v1, 0, tsStart)
	p.send(debezium.OpUpdate, 5, v1, v2, 0, tsStart)
	if got := p.match("glass electric"); !slices.Equal(got, []int64{5}) {
		t.Fatalf("glass electric: %v", got)
	}
	if got := p.match("steel"); len(got) != 0 {
		t.Fatalf("steel: %v", got)
	}
	p.replayAll()
	if got := p.match("glass kettle"); !slices.Equal(got, []int64{5}) {
		t.Fatalf("after replay: %v", got)
	}
	if got := p.match("stovetop"); len(got) != 0 {
		t.Fatalf("replay re-applied the insert: %v", got)
	}
	p.send(debezium.OpDelete, 5, v2, nil, 0, tsStart+5)
	p.replayAll()
	if got := p.match("kettle"); len(got) != 0 {
		t.Fatalf("after delete and replay: %v", got)
	}
}

func TestStorageBuilderSeedsFromExistingEntries(t *testing.T) {
	// A view restarting on local storage gets no callbacks for what the
	// storage already holds: opening it must index those entries.
	mem := storage.NewMemory()
	enc := func(d *search.Doc) []byte {
		b, err := search.DocCodec{}.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for key, v := range map[string][]byte{
		"1": enc(&search.Doc{Live: true, Rev: 1, Name: "Oak Table", PriceCents: 19900}),
		"2": enc(&search.Doc{Deleted: true, Rev: 2}),
		"3": enc(&search.Doc{Live: true, Rev: 1, Name: "Oak Chair", PriceCents: 4900}),
	} {
		if err := mem.Set(key, v); err != nil {
			t.Fatal(err)
		}
	}
	ix := New(nil)
	build := ix.StorageBuilder(func(string, int32) (storage.Storage, error) { return mem, nil })
	st, err := build("search-table", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	rs, total := ix.Search("oak", 10, nil, nil)
	if total != 2 || !slices.Equal(ids(rs), []int64{1, 3}) && !slices.Equal(ids(rs), []int64{3, 1}) {
		t.Fatalf("seeded index: %v total %d", ids(rs), total)
	}
	// A corrupt entry fails the open with an error naming it.
	if err := mem.Set("4", []byte{0x42}); err != nil {
		t.Fatal(err)
	}
	if err := New(nil).Load(mem); err == nil {
		t.Fatal("a corrupt entry was loaded without an error")
	}
}
