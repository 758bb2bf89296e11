// Package search answers full-text product queries from an in-memory
// inverted index that follows a Goka view of the search-indexer group table
// (processors/search): GET /v1/search and GET /v1/products/{product_id}.
//
// The index is kept up to date by the view's update callback (every change of
// the table's changelog) and seeded from the view's local storage when a
// partition's storage is opened (entries recovered from disk are not passed
// to the callback again). Queries never rebuild anything: postings are
// sorted doc-ordinal ([]uint32) lists, cut into blocks of at most blockMax so
// an update never moves a long list, intersected smallest first with
// galloping cursors; field lengths are precomputed per document, and the
// collection statistics BM25 needs are maintained incrementally.
package search

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/cdcflow/cdcflow/codecs/money"
	"github.com/cdcflow/cdcflow/processors/search"
)

// Ranking parameters: BM25F over the name and description fields.
const (
	K1          = 1.2
	B           = 0.75
	NameWeight  = 3.0
	DescrWeight = 1.0
)

// entry is one document slot; ordinals index Index.docs.
type entry struct {
	id         int64
	live       bool
	name, desc string
	priceCents int64
	stock      int64
	cdcTsMs    int64
	nameLen    uint32 // tokens in the name (repeats counted)
	descLen    uint32 // tokens in the description
}

// docStat is what scoring reads of a document, kept apart from entry in a
// dense array so that a query walking thousands of matches stays in cache.
type docStat struct {
	priceCents       int64
	nameLen, descLen uint32
}

// Index is an in-memory inverted index over the live search documents. It is
// safe for concurrent use: per-partition view callbacks update it while HTTP
// handlers query it.
type Index struct {
	log *slog.Logger

	mu      sync.RWMutex
	ords    map[int64]uint32 // product id → ordinal
	docs    []entry          // by ordinal
	stats   []docStat        // by ordinal, mirrors docs
	ids     []int64          // by ordinal, mirrors docs
	free    []uint32         // ordinals of removed documents, for reuse
	terms   map[string]*posting
	live    int
	sumName int64 // total name length of the live documents
	sumDesc int64
}

// New returns an empty index. log may be nil (slog.Default).
func New(log *slog.Logger) *Index {
	if log == nil {
		log = slog.Default()
	}
	return &Index{log: log, ords: map[int64]uint32{}, terms: map[string]*posting{}}
}

// UpdateCallback returns the view's update callback (goka.WithViewCallback):
// it stores the value in the partition's storage exactly like
// goka.DefaultUpdate (Set, or Delete for a nil value) and then applies it to
// the index. A value that cannot be decoded stops the view partition with an
// error rather than leaving the index silently incomplete.
func (ix *Index) UpdateCallback() goka.UpdateCallback {
	return func(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
		if value == nil {
			if err := s.Delete(key); err != nil {
				return fmt.Errorf("search view: delete %q: %w", key, err)
			}
			ix.Apply(key, nil)
			return nil
		}
		if err := s.Set(key, value); err != nil {
			return fmt.Errorf("search view: set %q: %w", key, err)
		}
		d, err := search.DecodeDoc(value)
		if err != nil {
			return fmt.Errorf("search view: %s/%d offset %d key %q: %w", ctx.Topic(), ctx.Partition(), ctx.Offset(), key, err)
		}
		ix.Apply(key, d)
		return nil
	}
}

// StorageBuilder wraps the view's storage builder so that, when a
// partition's storage is opened, the entries it already holds (recovered
// from local disk, which the update callback will not see again) are loaded
// into the index.
func (ix *Index) StorageBuilder(inner storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := inner(topic, partition)
		if err != nil {
			return nil, err
		}
		return &seeding{Storage: st, ix: ix, topic: topic, partition: partition}, nil
	}
}

// ViewOptions returns the options that make a Goka view of the search table
// feed the index: the update callback and the seeding storage builder around
// inner (goka's default view storage when nil). Pass them after any option
// that sets the storage builder (such as goka.WithViewTester).
func (ix *Index) ViewOptions(inner storage.Builder) []goka.ViewOption {
	if inner == nil {
		inner = storage.DefaultBuilder(goka.DefaultViewStoragePath())
	}
	return []goka.ViewOption{
		goka.WithViewCallback(ix.UpdateCallback()),
		goka.WithViewStorageBuilder(ix.StorageBuilder(inner)),
	}
}

type seeding struct {
	storage.Storage
	ix        *Index
	topic     string
	partition int32
}

// Open opens the storage and indexes what it holds.
func (s *seeding) Open() error {
	if err := s.Storage.Open(); err != nil {
		return err
	}
	if err := s.ix.Load(s.Storage); err != nil {
		return fmt.Errorf("search view: seed index from %s/%d: %w", s.topic, s.partition, err)
	}
	return nil
}

// Load indexes every entry of a table storage.
func (ix *Index) Load(st storage.Storage) error {
	it, err := st.Iterator()
	if err != nil {
		return fmt.Errorf("iterate: %w", err)
	}
	defer it.Release()
	n := 0
	for it.Next() {
		key := string(it.Key())
		if _, ok := search.ParseKey(key); !ok {
			continue
		}
		v, err := it.Value()
		if err != nil {
			return fmt.Errorf("value of %q: %w", key, err)
		}
		d, err := search.DecodeDoc(v)
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		ix.Apply(key, d)
		n++
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate: %w", err)
	}
	ix.log.Debug("search index seeded from storage", "entries", n)
	return nil
}

// Apply sets the document of a table key: a live document is indexed
// (replacing its previous version), a deleted or nil one removed. Keys that
// are not product ids are ignored.
func (ix *Index) Apply(key string, d *search.Doc) {
	id, ok := search.ParseKey(key)
	if !ok {
		ix.log.Debug("search index: ignoring non-product key", "key", key)
		return
	}
	if d == nil || !d.Live {
		ix.mu.Lock()
		ix.remove(id)
		ix.mu.Unlock()
		return
	}
	e := entry{id: id, live: true, name: d.Name, desc: d.Description,
		priceCents: d.PriceCents, stock: d.Stock, cdcTsMs: d.CDCTsMs}
	// Tokenize outside the write lock: the new text, and the text being
	// replaced (read under the read lock; upsert checks it is still current).
	var prev *oldText
	ix.mu.RLock()
	if ord, ok := ix.ords[id]; ok {
		prev = &oldText{name: ix.docs[ord].name, desc: ix.docs[ord].desc}
	}
	ix.mu.RUnlock()
	var nt map[string]termCount
	if prev == nil || prev.name != e.name || prev.desc != e.desc {
		nt = countTerms(e.name, e.desc, &e)
		if prev != nil {
			prev.terms = countTerms(prev.name, prev.desc, nil)
		}
	} // else price or stock only (the common update): no term work at all

	ix.mu.Lock()
	ix.upsert(e, nt, prev)
	ix.mu.Unlock()
}

// oldText is the text of a document as Apply saw it before taking the write
// lock, with its term counts.
type oldText struct {
	name, desc string
	terms      map[string]termCount
}

// termCount is a term's frequency in the name and the description.
type termCount struct{ name, desc uint32 }

func (c termCount) packed() uint32 {
	return min(c.name, math.MaxUint16)<<16 | min(c.desc, math.MaxUint16)
}

// countTerms tokenizes both fields and records their lengths in e.
func countTerms(name, desc string, e *entry) map[string]termCount {
	nt, dt := search.Tokenize(name), search.Tokenize(desc)
	if e != nil {
		e.nameLen, e.descLen = uint32(len(nt)), uint32(len(dt))
	}
	m := make(map[string]termCount, len(nt)+len(dt))
	for _, t := range nt {
		c := m[t]
		c.name++
		m[t] = c
	}
	for _, t := range dt {
		c := m[t]
		c.desc++
		m[t] = c
	}
	return m
}

// upsert indexes e. nt holds its term counts (nil when Apply found the
// text unchanged) and prev the replaced text as Apply saw it; both are
// recomputed here if another writer changed the document meanwhile. Callers
// hold mu for writing.
func (ix *Index) upsert(e entry, nt map[string]termCount, prev *oldText) {
	ord, exists := ix.ords[e.id]
	if !exists {
		if n := len(ix.free); n > 0 {
			ord, ix.free = ix.free[n-1], ix.free[:n-1]
		} else {
			ord = uint32(len(ix.docs))
			ix.docs = append(ix.docs, entry{})
			ix.stats = append(ix.stats, docStat{})
			ix.ids = append(ix.ids, 0)
		}
		ix.ords[e.id] = ord
		if nt == nil {
			nt = countTerms(e.name, e.desc, &e)
		}
		for t, c := range nt {
			ix.add(t, ord, c.packed())
		}
	} else {
		old := &ix.docs[ord]
		if old.name == e.name && old.desc == e.desc {
			e.nameLen, e.descLen = old.nameLen, old.descLen
		} else {
			if nt == nil {
				nt = countTerms(e.name, e.desc, &e)
			}
			var ot map[string]termCount
			if prev != nil && prev.terms != nil && prev.name == old.name && prev.desc == old.desc {
				ot = prev.terms
			} else {
				ot = countTerms(old.name, old.desc, nil)
			}
			for t := range ot {
				if _, keep := nt[t]; !keep {
					ix.drop(t, ord)
				}
			}
			for t, c := range nt {
				if oc, had := ot[t]; had && oc == c {
					continue
				}
				ix.add(t, ord, c.packed()) // inserts or updates the frequency
			}
		}
		ix.live--
		ix.sumName -= int64(old.nameLen)
		ix.sumDesc -= int64(old.descLen)
	}
	ix.docs[ord] = e
	ix.stats[ord] = docStat{priceCents: e.priceCents, nameLen: e.nameLen, descLen: e.descLen}
	ix.ids[ord] = e.id
	ix.live++
	ix.sumName += int64(e.nameLen)
	ix.sumDesc += int64(e.descLen)
}

// remove drops a product from the index. Callers hold mu for writing.
func (ix *Index) remove(id int64) {
	ord, ok := ix.ords[id]
	if !ok {
		return
	}
	old := &ix.docs[ord]
	for t := range countTerms(old.name, old.desc, nil) {
		ix.drop(t, ord)
	}
	ix.live--
	ix.sumName -= int64(old.nameLen)
	ix.sumDesc -= int64(old.descLen)
	ix.docs[ord] = entry{}
	ix.stats[ord] = docStat{}
	ix.ids[ord] = 0
	delete(ix.ords, id)
	ix.free = append(ix.free, ord)
}

// add inserts ord into a term's posting (or updates its frequencies).
func (ix *Index) add(term string, ord, tf uint32) {
	p := ix.terms[term]
	if p == nil {
		// Clone: term may be a slice of a long lower-cased description.
		p = &posting{}
		ix.terms[strings.Clone(term)] = p
	}
	p.set(ord, tf)
}

// drop removes ord from a term's posting, and the term when none is left.
func (ix *Index) drop(term string, ord uint32) {
	p := ix.terms[term]
	if p == nil {
		return
	}
	if p.remove(ord) && p.n == 0 {
		delete(ix.terms, term)
	}
}

// Len returns the number of live documents indexed.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.live
}

// Result is one search hit. Price is an exact two-decimal JSON number.
type Result struct {
	ProductID     int64       `json:"product_id"`
	Name          string      `json:"name"`
	Description   string      `json:"description"`
	Price         json.Number `json:"price"`
	PriceCents    int64       `json:"price_cents"`
	StockQuantity int64       `json:"stock_quantity"`
	NameMatches   int         `json:"name_matches"` // query tokens found in the name; ranks first
	Score         float64     `json:"score"`        // BM25F; ranks within equal NameMatches
}

// hit is a candidate during a query.
type hit struct {
	ord   uint32
	id    int64
	names int // query tokens found in the name
	score float64
}

// better orders hits best first: more query tokens in the name, then the
// higher BM25F score, then the lower product id. The first key makes a
// match in the name rank above a match only in the description even where
// BM25F's length normalisation would score a short, repetitive description
// higher.
func better(a, b hit) bool {
	if a.names != b.names {
		return a.names > b.names
	}
	if a.score != b.score {
		return a.score > b.score
	}
	return a.id < b.id
}

// Search returns the live products holding every token of q (in the name or
// the description) whose price lies within [minPrice, maxPrice] (cents; nil
// for no bound), best first by BM25F (ties by product id ascending), at most
// limit of them, and the number of all matches. A q without tokens matches
// nothing.
func (ix *Index) Search(q string, limit int, minPrice, maxPrice *int64) (results []Result, total int) {
	toks := search.Tokenize(q)
	slices.Sort(toks)
	toks = slices.Compact(toks)
	if len(toks) == 0 {
		return nil, 0
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	lists := make([]*posting, len(toks))
	for i, t := range toks {
		p := ix.terms[t]
		if p == nil {
			return nil, 0
		}
		lists[i] = p
	}
	slices.SortFunc(lists, func(a, b *posting) int { return cmp.Compare(a.n, b.n) })

	n := float64(ix.live)
	idf := make([]float64, len(lists))
	for i, p := range lists {
		df := float64(p.n)
		idf[i] = math.Log(1 + (n-df+0.5)/(df+0.5))
	}
	// Length normalisation: 1 - b + b·len/avg, with b/avg precomputed.
	bName, bDesc := 0.0, 0.0
	if ix.sumName > 0 {
		bName = B * n / float64(ix.sumName)
	}
	if ix.sumDesc > 0 {
		bDesc = B * n / float64(ix.sumDesc)
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if minPrice != nil {
		lo = *minPrice
	}
	if maxPrice != nil {
		hi = *maxPrice
	}
	if lo > hi {
		return nil, 0
	}

	top := topK{limit: limit}
	curs := make([]cursor, len(lists)) // cursors of lists[1:]; curs[0] unused
	tfs := make([]uint32, len(lists))  // frequencies of the current ordinal
	for k := 1; k < len(lists); k++ {
		curs[k].p = lists[k]
	}
outer:
	for _, blk := range lists[0].blocks {
	next:
		for i, ord := range blk.ords {
			tfs[0] = blk.tf[i]
			for k := 1; k < len(lists); k++ {
				tf, found, exhausted := curs[k].seek(ord)
				if exhausted {
					break outer
				}
				if !found {
					continue next
				}
				tfs[k] = tf
			}
			st := &ix.stats[ord]
			if st.priceCents < lo || st.priceCents > hi {
				continue
			}
			total++
			if limit <= 0 {
				continue
			}
			wn := NameWeight / (1 - B + bName*float64(st.nameLen))
			wd := DescrWeight / (1 - B + bDesc*float64(st.descLen))
			var score float64
			names := 0
			for k, tf := range tfs {
				if tf>>16 > 0 {
					names++
				}
				w := wn*float64(tf>>16) + wd*float64(tf&0xffff)
				score += idf[k] * w / (K1 + w)
			}
			score *= K1 + 1
			if top.full() {
				if w := top.h[0]; names < w.names || names == w.names && score < w.score {
					continue // cannot enter the top: skip the id lookup
				}
			}
			top.push(hit{ord: ord, id: ix.ids[ord], names: names, score: score})
		}
	}
	hits := top.sorted()
	results = make([]Result, len(hits))
	for i, h := range hits {
		e := &ix.docs[h.ord]
		results[i] = Result{ProductID: e.id, Name: e.name, Description: e.desc,
			Price: money.Number(e.priceCents), PriceCents: e.priceCents, StockQuantity: e.stock,
			NameMatches: h.names, Score: h.score}
	}
	return results, total
}

// topK keeps the best limit hits in a min-heap whose root is the worst kept.
type topK struct {
	limit int
	h     []hit
}

func (t *topK) full() bool { return len(t.h) >= t.limit }

func (t *topK) push(x hit) {
	if len(t.h) < t.limit {
		t.h = append(t.h, x)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !better(t.h[p], t.h[i]) {
				break
			}
			t.h[p], t.h[i] = t.h[i], t.h[p]
			i = p
		}
		return
	}
	if !better(x, t.h[0]) {
		return
	}
	t.h[0] = x
	for i := 0; ; {
		l, r, worst := 2*i+1, 2*i+2, i
		if l < len(t.h) && better(t.h[worst], t.h[l]) {
			worst = l
		}
		if r < len(t.h) && better(t.h[worst], t.h[r]) {
			worst = r
		}
		if worst == i {
			break
		}
		t.h[i], t.h[worst] = t.h[worst], t.h[i]
		i = worst
	}
}

func (t *topK) sorted() []hit {
	slices.SortFunc(t.h, func(a, b hit) int {
		if better(a, b) {
			return -1
		}
		if better(b, a) {
			return 1
		}
		return 0
	})
	return t.h
}

// Product is the API's view of one search document.
type Product struct {
	ProductID     int64       `json:"product_id"`
	Name          string      `json:"name"`
	Description   string      `json:"description"`
	Price         json.Number `json:"price"`
	PriceCents    int64       `json:"price_cents"`
	StockQuantity int64       `json:"stock_quantity"`
	SearchTokens  []string    `json:"search_tokens"`
	CDCTimestamp  int64       `json:"cdc_timestamp"`
	IndexedAt     string      `json:"indexed_at"`
}

// Get returns a live product's document; false when unknown or deleted.
func (ix *Index) Get(id int64) (Product, bool) {
	ix.mu.RLock()
	ord, ok := ix.ords[id]
	var e entry
	if ok {
		e = ix.docs[ord]
	}
	ix.mu.RUnlock()
	if !ok || !e.live {
		return Product{}, false
	}
	d := &search.Doc{Live: true, Name: e.name, Description: e.desc}
	toks := search.Tokens(d)
	if toks == nil {
		toks = []string{}
	}
	return Product{ProductID: id, Name: e.name, Description: e.desc, Price: money.Number(e.priceCents),
		PriceCents: e.priceCents, StockQuantity: e.stock, SearchTokens: toks,
		CDCTimestamp: e.cdcTsMs, IndexedAt: search.IndexedAt(e.cdcTsMs)}, true
}
