package search

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/processors/search"
)

// corpus generates a deterministic product catalogue: names from brands,
// adjectives, materials and product kinds; descriptions drawn with a Zipf
// distribution from a larger vocabulary (so some words are in most
// documents, as "the" and "with" are in real text).
type corpus struct {
	rng                           *rand.Rand
	brands, adjs, materials, kind []string
	vocab                         []string
	zipf                          *rand.Zipf
}

func syllableWord(rng *rand.Rand, minSyl, maxSyl int) string {
	const cons, vows = "bcdfghjklmnprstvwz", "aeiou"
	var b strings.Builder
	for range minSyl + rng.IntN(maxSyl-minSyl+1) {
		b.WriteByte(cons[rng.IntN(len(cons))])
		b.WriteByte(vows[rng.IntN(len(vows))])
	}
	return b.String()
}

func words(rng *rand.Rand, n, minSyl, maxSyl int) []string {
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		w := syllableWord(rng, minSyl, maxSyl)
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

func newCorpus(seed uint64) *corpus {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := &corpus{rng: rng,
		brands: words(rng, 300, 2, 3), adjs: words(rng, 400, 2, 3),
		materials: words(rng, 120, 2, 3), kind: words(rng, 250, 2, 4),
		vocab: words(rng, 20000, 1, 4)}
	c.zipf = rand.NewZipf(rng, 1.07, 2, uint64(len(c.vocab)-1))
	return c
}

func (c *corpus) doc(id int64) *search.Doc {
	r := c.rng
	name := fmt.Sprintf("%s %s %s %s", strings.ToUpper(c.brands[r.IntN(len(c.brands))][:1])+c.brands[r.IntN(len(c.brands))][1:],
		c.adjs[r.IntN(len(c.adjs))], c.materials[r.IntN(len(c.materials))], c.kind[r.IntN(len(c.kind))])
	if r.IntN(3) == 0 {
		name += fmt.Sprintf(" X%d", r.IntN(5000))
	}
	var d strings.Builder
	for i := range 15 + r.IntN(40) {
		if i > 0 {
			d.WriteByte(' ')
		}
		d.WriteString(c.vocab[c.zipf.Uint64()])
	}
	return &search.Doc{Live: true, Rev: 1, Name: name, Description: d.String(),
		PriceCents: 99 + int64(r.IntN(200000)), Stock: int64(r.IntN(500)), CDCTsMs: 1736931600000 + id}
}

// queries returns n two-token queries: half taken from a random document
// (one name token, one description token: they always match), a quarter of
// two frequent words (long postings, large intersections), a quarter of two
// random Zipf words (often no match).
func (c *corpus) queries(n int, docs []*search.Doc) []string {
	r := c.rng
	qs := make([]string, n)
	for i := range qs {
		switch i % 4 {
		case 0, 1:
			d := docs[r.IntN(len(docs))]
			nt, dt := search.Tokenize(d.Name), search.Tokenize(d.Description)
			qs[i] = nt[r.IntN(len(nt))] + " " + dt[r.IntN(len(dt))]
		case 2:
			qs[i] = c.vocab[r.IntN(8)] + " " + c.vocab[r.IntN(8)+8]
		default:
			qs[i] = c.vocab[c.zipf.Uint64()] + " " + c.vocab[c.zipf.Uint64()]
		}
	}
	return qs
}

const benchProducts = 100_000

func buildBenchIndex(b *testing.B) (*Index, *corpus, []*search.Doc, time.Duration) {
	b.Helper()
	c := newCorpus(42)
	docs := make([]*search.Doc, benchProducts)
	for i := range docs {
		docs[i] = c.doc(int64(i + 1))
	}
	ix := New(nil)
	start := time.Now()
	for i, d := range docs {
		ix.Apply(search.Key(int64(i+1)), d)
	}
	return ix, c, docs, time.Since(start)
}

// reportLatencies reports the percentiles of the per-query durations and
// how long building the index took (Apply of every product, once).
func reportLatencies(b *testing.B, lat []time.Duration, build time.Duration) {
	b.Helper()
	if build > 0 {
		b.ReportMetric(float64(build.Milliseconds()), "build-ms")
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(p * float64(len(lat)-1))
		return float64(lat[i].Nanoseconds()) / 1e6
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(0.999), "p99.9-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds())/1e6, "max-ms")
}

// BenchmarkSearch measures two-token queries over 100,000 products and
// reports the latency percentiles of the individual queries.
func BenchmarkSearch(b *testing.B) {
	ix, c, docs, build := buildBenchIndex(b)
	qs := c.queries(10_000, docs)
	var lat []time.Duration
	matched := 0
	i := 0
	for b.Loop() {
		q := qs[i%len(qs)]
		i++
		t0 := time.Now()
		_, total := ix.Search(q, DefaultLimit, nil, nil)
		lat = append(lat, time.Since(t0))
		matched += total
	}
	b.ReportMetric(float64(matched)/float64(i), "matches/query")
	reportLatencies(b, lat, build)
}

// BenchmarkSearchPriceFiltered adds a price range to every query.
func BenchmarkSearchPriceFiltered(b *testing.B) {
	ix, c, docs, build := buildBenchIndex(b)
	qs := c.queries(10_000, docs)
	lo, hi := int64(10_000), int64(60_000)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		q := qs[i%len(qs)]
		i++
		t0 := time.Now()
		ix.Search(q, MaxLimit, &lo, &hi)
		lat = append(lat, time.Since(t0))
	}
	reportLatencies(b, lat, build)
}

// BenchmarkSearchDuringUpdates queries while a writer applies about 2,000
// product updates a second (each one takes the write lock).
func BenchmarkSearchDuringUpdates(b *testing.B) {
	ix, c, docs, build := buildBenchIndex(b)
	qs := c.queries(10_000, docs)
	updates := make([]*search.Doc, 5000)
	for i := range updates {
		updates[i] = c.doc(int64(i))
	}
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		tick := time.NewTicker(500 * time.Microsecond)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			case <-tick.C:
				id := int64(n*7919%benchProducts + 1)
				ix.Apply(search.Key(id), updates[n%len(updates)])
				n++
			}
		}
	}()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		q := qs[i%len(qs)]
		i++
		t0 := time.Now()
		ix.Search(q, DefaultLimit, nil, nil)
		lat = append(lat, time.Since(t0))
	}
	close(stop)
	b.ReportMetric(float64(<-done), "updates")
	reportLatencies(b, lat, build)
}

// BenchmarkApplyTextChange measures an update replacing a product's name and
// description (postings change) in a 100,000-product index.
func BenchmarkApplyTextChange(b *testing.B) {
	ix, c, _, _ := buildBenchIndex(b)
	updates := make([]*search.Doc, 5000)
	for i := range updates {
		updates[i] = c.doc(int64(i))
	}
	var lat []time.Duration
	n := 0
	for b.Loop() {
		id := int64(n*7919%benchProducts + 1)
		t0 := time.Now()
		ix.Apply(search.Key(id), updates[n%len(updates)])
		lat = append(lat, time.Since(t0))
		n++
	}
	reportLatencies(b, lat, 0)
}

// BenchmarkApplyStockChange measures an update of stock only (the common
// change: no posting is touched).
func BenchmarkApplyStockChange(b *testing.B) {
	ix, _, docs, _ := buildBenchIndex(b)
	var lat []time.Duration
	n := 0
	for b.Loop() {
		i := n * 7919 % benchProducts
		d := *docs[i]
		d.Stock = int64(n)
		t0 := time.Now()
		ix.Apply(search.Key(int64(i+1)), &d)
		lat = append(lat, time.Since(t0))
		n++
	}
	reportLatencies(b, lat, 0)
}
