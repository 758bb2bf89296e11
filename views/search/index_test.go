package search

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/cdcflow/cdcflow/processors/search"
)

func put(ix *Index, id int64, name, desc string, cents int64) {
	ix.Apply(search.Key(id), &search.Doc{Live: true, Rev: 1, Name: name, Description: desc, PriceCents: cents, Stock: 1})
}

func ids(rs []Result) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ProductID
	}
	return out
}

func ptr(v int64) *int64 { return &v }

// checkInvariants verifies the index's internal consistency: every posting is
// sorted and holds exactly the live documents carrying the term, with their
// frequencies; the statistics match the documents.
func checkInvariants(t *testing.T, ix *Index) {
	t.Helper()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	want := map[string]map[uint32]uint32{}
	live, sumName, sumDesc := 0, int64(0), int64(0)
	if len(ix.stats) != len(ix.docs) || len(ix.ids) != len(ix.docs) {
		t.Fatalf("dense arrays %d/%d, docs %d", len(ix.stats), len(ix.ids), len(ix.docs))
	}
	for ord, e := range ix.docs {
		if !e.live {
			continue
		}
		if got := ix.ords[e.id]; got != uint32(ord) {
			t.Fatalf("doc %d at ordinal %d, ords says %d", e.id, ord, got)
		}
		live++
		var probe entry
		for term, c := range countTerms(e.name, e.desc, &probe) {
			if want[term] == nil {
				want[term] = map[uint32]uint32{}
			}
			want[term][uint32(ord)] = c.packed()
		}
		if st := ix.stats[ord]; st != (docStat{e.priceCents, e.nameLen, e.descLen}) || ix.ids[ord] != e.id {
			t.Fatalf("doc %d: dense stats %+v / id %d disagree with %+v", e.id, st, ix.ids[ord], e)
		}
		if probe.nameLen != e.nameLen || probe.descLen != e.descLen {
			t.Fatalf("doc %d lengths %d/%d, want %d/%d", e.id, e.nameLen, e.descLen, probe.nameLen, probe.descLen)
		}
		sumName += int64(e.nameLen)
		sumDesc += int64(e.descLen)
	}
	if live != ix.live || live != len(ix.ords) || sumName != ix.sumName || sumDesc != ix.sumDesc {
		t.Fatalf("stats live=%d/%d ords=%d sums=%d,%d want %d,%d", ix.live, live, len(ix.ords), ix.sumName, ix.sumDesc, sumName, sumDesc)
	}
	if len(want) != len(ix.terms) {
		t.Fatalf("%d terms indexed, want %d", len(ix.terms), len(want))
	}
	for term, p := range ix.terms {
		var ords, tfs []uint32
		for i, b := range p.blocks {
			if len(b.ords) == 0 || len(b.ords) > blockMax || len(b.ords) != len(b.tf) {
				t.Fatalf("posting of %q: block %d has %d ordinals, %d frequencies", term, i, len(b.ords), len(b.tf))
			}
			ords = append(ords, b.ords...)
			tfs = append(tfs, b.tf...)
		}
		for i := 1; i < len(ords); i++ {
			if ords[i-1] >= ords[i] {
				t.Fatalf("posting of %q not strictly sorted at %d: %v", term, i, ords)
			}
		}
		if len(ords) != p.n || len(ords) != len(want[term]) {
			t.Fatalf("posting of %q has %d docs (n=%d), want %d", term, len(ords), p.n, len(want[term]))
		}
		for i, o := range ords {
			if tf, ok := want[term][o]; !ok || tf != tfs[i] {
				t.Fatalf("posting of %q: ordinal %d tf %x, want %x (present %v)", term, o, tfs[i], tf, ok)
			}
		}
	}
}

func TestANDSemantics(t *testing.T) {
	ix := New(nil)
	put(ix, 1, "Red Shirt", "cotton", 1000)
	put(ix, 2, "Blue Shirt", "cotton", 1000)
	put(ix, 3, "Red Hat", "goes with a shirt", 1000)
	put(ix, 4, "Green Socks", "", 1000)
	rs, total := ix.Search("red shirt", 20, nil, nil)
	if got := ids(rs); total != 2 || !slices.Equal(slices.Sorted(slices.Values(got)), []int64{1, 3}) {
		t.Fatalf("red shirt: %v total %d, want {1,3}", got, total)
	}
	if rs, total := ix.Search("RED, shirt!! red", 20, nil, nil); total != 2 || len(rs) != 2 {
		t.Fatalf("repeated/cased tokens: %v total %d", ids(rs), total)
	}
	for _, q := range []string{"red green", "shirt nothing", "purple", "!!!"} {
		if rs, total := ix.Search(q, 20, nil, nil); total != 0 || len(rs) != 0 {
			t.Fatalf("%q matched %v (total %d)", q, ids(rs), total)
		}
	}
	if rs, total := ix.Search("cotton", 20, nil, nil); total != 2 || len(rs) != 2 {
		t.Fatalf("cotton: %v total %d", ids(rs), total)
	}
	checkInvariants(t, ix)
}

func TestNameMatchesRankAboveDescription(t *testing.T) {
	ix := New(nil)
	// Same field lengths; the query term is in the name of 20 and in the
	// description of 10 (the lower id, so a tie would put it first).
	put(ix, 10, "desk stand", "lamp", 1000)
	put(ix, 20, "lamp stand", "desk", 1000)
	put(ix, 30, "chair", "wooden", 1000)
	rs, total := ix.Search("lamp", 20, nil, nil)
	if got := ids(rs); total != 2 || !slices.Equal(got, []int64{20, 10}) {
		t.Fatalf("lamp: %v, want [20 10]", got)
	}
	if !(rs[0].Score > rs[1].Score) {
		t.Fatalf("scores %v, %v: name match must score higher", rs[0].Score, rs[1].Score)
	}
	// Term frequency still counts within a field, and BM25 saturates it.
	put(ix, 40, "lamp", "lamp lamp lamp", 1000)
	rs, _ = ix.Search("lamp", 20, nil, nil)
	if ids(rs)[0] != 40 {
		t.Fatalf("lamp after adding a lamp-heavy doc: %v", ids(rs))
	}
	// A long name holding the term once still ranks above a short
	// description repeating it, which BM25F alone would score higher.
	put(ix, 1, "walnut speaker", "lamp lamp", 1000)
	put(ix, 99, "brushed steel reading lamp edition special deluxe", "", 1000)
	rs, _ = ix.Search("lamp", 20, nil, nil)
	pos := map[int64]int{}
	for i, r := range rs {
		pos[r.ProductID] = i
	}
	if pos[99] > pos[1] || pos[20] > pos[1] || pos[10] < pos[1] {
		t.Fatalf("name matches must rank above description-only matches: %v", ids(rs))
	}
}

func TestBM25FScore(t *testing.T) {
	ix := New(nil)
	put(ix, 1, "alpha beta", "gamma", 100)               // name 2, desc 1
	put(ix, 2, "beta", "alpha alpha delta epsilon", 100) // name 1, desc 4
	put(ix, 3, "zeta", "", 100)                          // name 1, desc 0
	rs, _ := ix.Search("alpha", 10, nil, nil)
	n, df := 3.0, 2.0
	idf := math.Log(1 + (n-df+0.5)/(df+0.5))
	avgName, avgDesc := 4.0/3, 5.0/3
	score := func(tfName, nameLen, tfDesc, descLen float64) float64 {
		w := NameWeight*tfName/(1-B+B*nameLen/avgName) + DescrWeight*tfDesc/(1-B+B*descLen/avgDesc)
		return idf * w * (K1 + 1) / (K1 + w)
	}
	want := map[int64]float64{1: score(1, 2, 0, 1), 2: score(0, 1, 2, 4)}
	if len(rs) != 2 {
		t.Fatalf("alpha: %v", ids(rs))
	}
	for _, r := range rs {
		if math.Abs(r.Score-want[r.ProductID]) > 1e-12 {
			t.Errorf("score of %d = %v, want %v", r.ProductID, r.Score, want[r.ProductID])
		}
	}
}

func TestTiesByProductID(t *testing.T) {
	ix := New(nil)
	for _, id := range []int64{9, 2, 7, 5} {
		put(ix, id, "same name", "same text", 500)
	}
	rs, total := ix.Search("same", 3, nil, nil)
	if got := ids(rs); total != 4 || !slices.Equal(got, []int64{2, 5, 7}) {
		t.Fatalf("ties: %v total %d, want [2 5 7] of 4", got, total)
	}
}

func TestPriceFilters(t *testing.T) {
	ix := New(nil)
	for i, cents := range []int64{999, 1000, 1250, 1999, 2000, 2001} {
		put(ix, int64(i+1), "widget", "", cents)
	}
	cases := []struct {
		lo, hi *int64
		want   []int64
	}{
		{nil, nil, []int64{1, 2, 3, 4, 5, 6}},
		{ptr(1000), nil, []int64{2, 3, 4, 5, 6}},
		{nil, ptr(1999), []int64{1, 2, 3, 4}},
		{ptr(1000), ptr(2000), []int64{2, 3, 4, 5}},
		{ptr(1250), ptr(1250), []int64{3}},
		{ptr(2000), ptr(1000), nil},
		{ptr(5000), nil, nil},
	}
	for _, c := range cases {
		rs, total := ix.Search("widget", 100, c.lo, c.hi)
		got := slices.Sorted(slices.Values(ids(rs)))
		if total != len(c.want) || !slices.Equal(got, c.want) && len(c.want) > 0 || len(c.want) == 0 && len(got) > 0 {
			t.Errorf("price [%v,%v]: %v total %d, want %v", c.lo, c.hi, got, total, c.want)
		}
	}
	rs, _ := ix.Search("widget", 100, ptr(1250), ptr(1250))
	if rs[0].PriceCents != 1250 || rs[0].Price.String() != "12.50" {
		t.Fatalf("price rendering: %+v", rs[0])
	}
}

func TestLimitAndTotal(t *testing.T) {
	ix := New(nil)
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"oak", "pine", "birch", "table", "chair", "lamp"}
	for id := int64(1); id <= 300; id++ {
		name := words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
		desc := ""
		for range rng.IntN(8) {
			desc += words[rng.IntN(len(words))] + " "
		}
		put(ix, id, name, desc, 100+int64(rng.IntN(1000)))
	}
	all, total := ix.Search("oak table", 1000, nil, nil)
	if total != len(all) || total < 30 {
		t.Fatalf("total %d, %d results", total, len(all))
	}
	for i := 1; i < len(all); i++ {
		if better(hit{id: all[i].ProductID, names: all[i].NameMatches, score: all[i].Score}, hit{id: all[i-1].ProductID, names: all[i-1].NameMatches, score: all[i-1].Score}) {
			t.Fatalf("results out of order at %d: %+v before %+v", i, all[i-1], all[i])
		}
	}
	for _, limit := range []int{1, 7, 20} {
		rs, n := ix.Search("oak table", limit, nil, nil)
		if n != total || !slices.Equal(ids(rs), ids(all[:limit])) {
			t.Fatalf("limit %d: %v total %d, want the first %d of %v (total %d)", limit, ids(rs), n, limit, ids(all), total)
		}
	}
	if rs, n := ix.Search("oak table", 0, nil, nil); len(rs) != 0 || n != total {
		t.Fatalf("limit 0: %d results total %d", len(rs), n)
	}
}

func TestUpdateAndDeleteMaintainPostings(t *testing.T) {
	ix := New(nil)
	put(ix, 1, "Gaming Laptop", "fast laptop", 129999)
	put(ix, 2, "Laptop Bag", "", 4999)
	ix.Apply(search.Key(1), &search.Doc{Live: true, Rev: 2, Name: "Office Notebook", Description: "quiet", PriceCents: 89950, Stock: 3})
	if rs, total := ix.Search("gaming", 20, nil, nil); total != 0 {
		t.Fatalf("old token still matches: %v", ids(rs))
	}
	if rs, _ := ix.Search("laptop", 20, nil, nil); !slices.Equal(ids(rs), []int64{2}) {
		t.Fatalf("laptop: %v", ids(rs))
	}
	if rs, _ := ix.Search("notebook quiet", 20, nil, nil); !slices.Equal(ids(rs), []int64{1}) || rs[0].PriceCents != 89950 {
		t.Fatalf("notebook quiet: %+v", rs)
	}
	checkInvariants(t, ix)
	ix.Apply(search.Key(1), &search.Doc{Deleted: true, Rev: 3})
	if _, ok := ix.Get(1); ok {
		t.Fatal("deleted product still served")
	}
	if _, total := ix.Search("notebook", 20, nil, nil); total != 0 {
		t.Fatal("deleted product still matches")
	}
	ix.Apply(search.Key(2), nil) // a changelog tombstone
	if ix.Len() != 0 {
		t.Fatalf("%d live docs after deleting all", ix.Len())
	}
	checkInvariants(t, ix)
	put(ix, 3, "Laptop Stand", "aluminium", 2999) // reuses a freed ordinal
	if rs, _ := ix.Search("laptop", 20, nil, nil); !slices.Equal(ids(rs), []int64{3}) {
		t.Fatalf("after reuse: %v", ids(rs))
	}
	p, ok := ix.Get(3)
	if !ok || p.Name != "Laptop Stand" || !slices.Equal(p.SearchTokens, []string{"aluminium", "laptop", "stand"}) || p.Price.String() != "29.99" {
		t.Fatalf("Get(3) = %+v, %v", p, ok)
	}
	ix.Apply("not-a-product", &search.Doc{Live: true, Name: "ghost"})
	if _, total := ix.Search("ghost", 20, nil, nil); total != 0 {
		t.Fatal("a non-product key was indexed")
	}
	checkInvariants(t, ix)
}

func TestPriceOnlyUpdate(t *testing.T) {
	ix := New(nil)
	put(ix, 1, "Oak Table", "solid oak", 19900)
	put(ix, 2, "Oak Chair", "", 4900)
	ix.Apply(search.Key(1), &search.Doc{Live: true, Rev: 2, Name: "Oak Table", Description: "solid oak", PriceCents: 14900, Stock: 0})
	rs, total := ix.Search("oak", 10, ptr(10000), ptr(15000))
	if total != 1 || rs[0].ProductID != 1 || rs[0].PriceCents != 14900 || rs[0].StockQuantity != 0 {
		t.Fatalf("after a price change: %+v total %d", rs, total)
	}
	if _, total := ix.Search("oak", 10, ptr(19900), nil); total != 0 {
		t.Fatal("the old price still matches")
	}
	checkInvariants(t, ix)
}

// TestConcurrentWritersOfOneKey has several writers race on the same ids
// (Goka never does this, but Apply must stay consistent if it happens).
func TestConcurrentWritersOfOneKey(t *testing.T) {
	ix := New(nil)
	texts := []string{"red oak", "blue steel", "red steel", "oak oak oak", ""}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 5))
			for range 2000 {
				id := int64(rng.IntN(5) + 1)
				if rng.IntN(6) == 0 {
					ix.Apply(search.Key(id), nil)
					continue
				}
				ix.Apply(search.Key(id), &search.Doc{Live: true, Name: texts[rng.IntN(len(texts))],
					Description: texts[rng.IntN(len(texts))], PriceCents: int64(rng.IntN(3))})
			}
		}()
	}
	wg.Wait()
	checkInvariants(t, ix)
}

func TestUnicodeCaseFolding(t *testing.T) {
	ix := New(nil)
	put(ix, 1, "Crème Brûlée", "", 100)
	put(ix, 2, "CRÈME FRAÎCHE", "", 100)
	put(ix, 3, "Cre\u0300me decomposed", "", 100) // "cre" "me": not crème
	for _, q := range []string{"crème", "CRÈME", "Crème"} {
		rs, _ := ix.Search(q, 20, nil, nil)
		if got := slices.Sorted(slices.Values(ids(rs))); !slices.Equal(got, []int64{1, 2}) {
			t.Errorf("%q: %v, want [1 2]", q, got)
		}
	}
}

// TestConcurrentUpdatesAndQueries runs partition-like writers (each owning
// the ids of one partition, as Goka's per-partition callbacks do) against
// readers. Run with -race. Every answer must be internally consistent, and
// the final index must equal one built from the final documents.
func TestConcurrentUpdatesAndQueries(t *testing.T) {
	ix := New(nil)
	words := []string{"red", "blue", "green", "shirt", "hat", "lamp", "desk", "oak", "steel", "crème"}
	const partitions, idsPer, rounds = 4, 50, 300
	final := make([]map[int64]*search.Doc, partitions)
	var wg sync.WaitGroup
	for p := range partitions {
		final[p] = map[int64]*search.Doc{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 99))
			for r := range rounds {
				id := int64(p + partitions*rng.IntN(idsPer) + 1)
				if rng.IntN(5) == 0 {
					d := &search.Doc{Deleted: true, Rev: uint64(r)}
					ix.Apply(search.Key(id), d)
					final[p][id] = d
					continue
				}
				d := &search.Doc{Live: true, Rev: uint64(r), PriceCents: int64(rng.IntN(5000)),
					Name:        words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))],
					Description: words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]}
				ix.Apply(search.Key(id), d)
				final[p][id] = d
			}
		}()
	}
	var readers sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for r := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				q := words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
				qt := search.Tokenize(q)
				rs, total := ix.Search(q, 5, nil, ptr(2500))
				if len(rs) > 5 || total < len(rs) {
					errs <- fmt.Errorf("%q: %d results, total %d", q, len(rs), total)
					return
				}
				for i, res := range rs {
					have := search.Tokens(&search.Doc{Live: true, Name: res.Name, Description: res.Description})
					for _, tok := range qt {
						if !slices.Contains(have, tok) {
							errs <- fmt.Errorf("%q: result %d (%q / %q) lacks %q", q, res.ProductID, res.Name, res.Description, tok)
							return
						}
					}
					if res.PriceCents > 2500 {
						errs <- fmt.Errorf("%q: result %d over max price", q, res.ProductID)
						return
					}
					if i > 0 && better(hit{id: res.ProductID, names: res.NameMatches, score: res.Score}, hit{id: rs[i-1].ProductID, names: rs[i-1].NameMatches, score: rs[i-1].Score}) {
						errs <- fmt.Errorf("%q: out of order", q)
						return
					}
				}
				if p, ok := ix.Get(int64(rng.IntN(partitions*idsPer) + 1)); ok && p.Name == "" {
					errs <- fmt.Errorf("Get returned a live product without a name")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkInvariants(t, ix)
	fresh := New(nil)
	for _, m := range final {
		for id, d := range m {
			fresh.Apply(search.Key(id), d)
		}
	}
	if fresh.Len() != ix.Len() {
		t.Fatalf("live docs %d, rebuilt %d", ix.Len(), fresh.Len())
	}
	for _, a := range words {
		for _, b := range words {
			q := a + " " + b
			got, gt := ix.Search(q, 1000, nil, nil)
			want, wt := fresh.Search(q, 1000, nil, nil)
			if gt != wt || !slices.Equal(ids(got), ids(want)) {
				t.Fatalf("%q: %v (%d), rebuilt index gives %v (%d)", q, ids(got), gt, ids(want), wt)
			}
		}
	}
}

// TestPostingBlocks drives one posting through inserts in random order,
// updates and deletes across many block splits and merges, against a model.
func TestPostingBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var p posting
	model := map[uint32]uint32{}
	check := func(step int) {
		t.Helper()
		var ords []uint32
		for i, b := range p.blocks {
			if len(b.ords) == 0 || len(b.ords) > blockMax {
				t.Fatalf("step %d: block %d has %d ordinals", step, i, len(b.ords))
			}
			for j, o := range b.ords {
				if model[o] != b.tf[j] {
					t.Fatalf("step %d: ordinal %d tf %d, want %d", step, o, b.tf[j], model[o])
				}
			}
			ords = append(ords, b.ords...)
		}
		if len(ords) != len(model) || p.n != len(model) {
			t.Fatalf("step %d: %d ordinals (n=%d), want %d", step, len(ords), p.n, len(model))
		}
		for i := 1; i < len(ords); i++ {
			if ords[i-1] >= ords[i] {
				t.Fatalf("step %d: not strictly sorted at %d", step, i)
			}
		}
	}
	for step := range 20000 {
		ord := uint32(rng.IntN(3000))
		switch {
		case step < 8000 || rng.IntN(3) > 0:
			tf := uint32(rng.IntN(100) + 1)
			p.set(ord, tf)
			model[ord] = tf
		default:
			_, had := model[ord]
			if got := p.remove(ord); got != had {
				t.Fatalf("step %d: remove(%d) = %v, want %v", step, ord, got, had)
			}
			delete(model, ord)
		}
		if step%500 == 0 {
			check(step)
		}
	}
	check(-1)
	// Cursor seeks agree with the model.
	keys := slices.Sorted(func(yield func(uint32) bool) {
		for k := range model {
			if !yield(k) {
				return
			}
		}
	})
	c := cursor{p: &p}
	for x := uint32(0); x < 3100; x += uint32(rng.IntN(7) + 1) {
		tf, found, exhausted := c.seek(x)
		_, inModel := model[x]
		wantExhausted := len(keys) == 0 || keys[len(keys)-1] < x
		if found != inModel || exhausted != wantExhausted || found && tf != model[x] {
			t.Fatalf("seek(%d) = %d,%v,%v; want found %v exhausted %v", x, tf, found, exhausted, inModel, wantExhausted)
		}
	}
	for ord := range model {
		p.remove(ord)
	}
	if p.n != 0 || len(p.blocks) != 0 {
		t.Fatalf("after removing all: n=%d, %d blocks", p.n, len(p.blocks))
	}
}

func TestGallop(t *testing.T) {
	s := []uint32{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21}
	for from := range len(s) + 1 {
		for x := uint32(0); x <= 23; x++ {
			want := from
			for want < len(s) && s[want] < x {
				want++
			}
			if got := gallop(s, from, x); got != want {
				t.Fatalf("gallop(from=%d, x=%d) = %d, want %d", from, x, got, want)
			}
		}
	}
}
