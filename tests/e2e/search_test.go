package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/sinks/mirror"
	"github.com/cdcflow/cdcflow/testkit/registry"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
	searchviews "github.com/cdcflow/cdcflow/views/search"
)

// searchTable is the DynamoDB table of the search-indexer (CONTRACT §3).
const searchTable = "product-search-index"

// searchMix is a transaction mix heavy in catalogue edits: new products,
// price changes, renames and new descriptions, deletes of products with and
// without order lines (orders stay so that sold products exist).
var searchMix = shopsim.Weights{
	NewProduct: 4, ProductInsertUpdate: 2, PlaceOrder: 12, StatusChange: 3,
	EditQuantity: 1, MoveLine: 1, DeleteLine: 1, AddGiftLine: 1, DeleteOrder: 1,
	Restock: 2, PriceChange: 12, EditProduct: 12, DeleteProduct: 2, DeleteSoldProduct: 1,
}

// TestSearchIndexerMatchesOracle runs the search-indexer against kfake and
// dynalite over a generated catalogue of 1,000+ products with thousands of
// renames, new descriptions, price changes and deletes, re-sent in part by
// connector restarts, in the envelope format (source.sequence), the
// flattened one without LSNs (timestamps only) and the flattened one with
// __source_sequence and NUMERIC decimals, and through the AvroConverter
// (the envelope, and the flattened record with __source_sequence and string
// decimals, schemas in a registry the service reads), then re-sends a batch
// of old records out of the blue, which must change nothing. It compares every DynamoDB item with the
// oracle,
// answers dozens of searches whose expected results are computed here from
// the oracle's documents (tokens, price bounds, limits, BM25F order), reads
// products by id, queries the table's indexes and checks a price range query of price-range-index.
func TestSearchIndexerMatchesOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, tc := range []struct {
		name  string
		opts  dbzenc.EncodeOptions
		noLSN bool
		seed  uint64
	}{
		{"envelope", dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope}, false, 31},
		{"flattened-without-lsn", dbzenc.EncodeOptions{Format: dbzenc.FormatFlat, Decimal: dbzenc.DecimalDouble}, true, 32},
		{"flattened-with-sequence", dbzenc.EncodeOptions{Format: dbzenc.FormatFlat, Decimal: dbzenc.DecimalNumeric, FlatSequence: true}, false, 33},
		// The AvroConverter's records, schemas in tools/registry's registry.
		{"avro-envelope", dbzenc.EncodeOptions{Format: dbzenc.FormatAvro}, false, 34},
		{"avro-flattened-with-sequence", dbzenc.EncodeOptions{Format: dbzenc.FormatAvroFlat, Decimal: dbzenc.DecimalString, FlatSequence: true}, false, 35},
		// The JsonSchemaConverter's and the ProtobufConverter's.
		{"jsonschema-flattened-with-sequence", dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchemaFlat, Decimal: dbzenc.DecimalNumeric, FlatSequence: true}, false, 36},
		{"protobuf-envelope", dbzenc.EncodeOptions{Format: dbzenc.FormatProtobuf}, false, 37},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := testenv.Dynalite(t)
			dyn, err := db.Client(ctx)
			if err != nil {
				t.Fatal(err)
			}
			k := startKafka(t)

			changes := shopsim.New(shopsim.Config{Seed: tc.seed, Products: 1000, Weights: searchMix}).Generate(6000)
			if tc.noLSN {
				for i := range changes {
					changes[i].Src.LSN = 0
				}
			}
			want := oracle.ExpectSearch(changes)
			sc := searchCatalogueOf(changes, want)
			if len(want) < 1000 || len(sc.deleted) < 100 || sc.renames < 100 || sc.newDescriptions < 100 || sc.repricings < 100 {
				t.Fatalf("the stream is too small to mean anything: %d live products, %d deleted, %d renames, %d new descriptions, %d price changes",
					len(want), len(sc.deleted), sc.renames, sc.newDescriptions, sc.repricings)
			}
			t.Logf("%d changes: %d live products, %d deleted, %d renames, %d new descriptions, %d price changes",
				len(changes), len(want), len(sc.deleted), sc.renames, sc.newDescriptions, sc.repricings)

			env := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ","), "DYNAMODB_TABLE": searchTable}
			if tc.opts.Format.Registry() {
				sr := registry.New(t, registry.Options{})
				tc.opts.Register = registry.Registrar(sr.URL(), registry.RegistrarOptions{SchemaType: tc.opts.Format.SchemaType()})
				env["SCHEMA_REGISTRY_URL"] = sr.URL()
			}
			recs, err := shopsim.Encode(changes, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, framed := confluent.Split(recs[0].Value); framed != tc.opts.Format.Registry() {
				t.Fatalf("record %s: Confluent-framed %v in format %s", recs[0].Topic, framed, tc.opts.Format)
			}
			recs = shopsim.WithReplays(recs, tc.seed, shopsim.Replay{Every: 400, Back: 150})
			products := shopsim.ByTopic(recs)["dbserver1.public.products"]
			// Half of the stream is waiting when the indexer starts, the rest
			// arrives while it runs.
			produce(t, k.Brokers(), products[:len(products)/2])
			svc := start(t, config.Search, app.Search, env, dyn, nil)
			defer svc.Stop(t)
			produce(t, k.Brokers(), products[len(products)/2:])
			eventually(t, time.Minute, func() string {
				if n := consumed(t, svc.URL); n < len(products) {
					return fmt.Sprintf("consumed %d of %d records", n, len(products))
				}
				return ""
			}, svc)
			eventually(t, 2*time.Minute, func() string { return compareSearchDynamo(dyn, want, sc) }, svc)
			eventually(t, time.Minute, func() string { return compareSearchProducts(t, svc.URL, want, sc) }, svc)

			// A late re-send of old records, long after newer versions of the
			// same products were absorbed: every one is a duplicate (CONTRACT
			// §1) and changes nothing. The processor's counters say when all
			// changes went through: applied exactly once each, the re-sent
			// ones (in-stream replays and this batch) recognised.
			stale := products[len(products)/4 : len(products)/4+800]
			produce(t, k.Brokers(), stale)
			loopEvents, distinct := 0, 0
			for _, r := range slices.Concat(products, stale) {
				if r.Change != nil { // tombstones are skipped at the input
					loopEvents++
				}
			}
			for _, c := range changes {
				if c.Table == debezium.TableProducts {
					distinct++
				}
			}
			var applied, dups int
			eventually(t, time.Minute, func() string {
				applied, dups = searchMetric(t, svc.URL, "search_changes_applied_total"), searchMetric(t, svc.URL, "search_duplicates_total")
				if applied+dups < loopEvents {
					return fmt.Sprintf("%d changes applied and %d duplicates of %d", applied, dups, loopEvents)
				}
				return ""
			}, svc)
			// (A message Goka processed twice would be one more duplicate, so
			// only the applied count is exact.)
			if applied != distinct || dups < loopEvents-distinct {
				t.Errorf("%d changes applied and %d recognised as duplicates, want %d and at least %d", applied, dups, distinct, loopEvents-distinct)
			}
			t.Logf("%d changes applied, %d re-sent ones recognised as duplicates", applied, dups)
			eventually(t, time.Minute, func() string { return compareSearchDynamo(dyn, want, sc) }, svc)
			eventually(t, time.Minute, func() string { return compareSearchProducts(t, svc.URL, want, sc) }, svc)

			n, d := compareSearchQueries(t, svc.URL, want)
			if d != "" {
				t.Error(d)
			} else {
				t.Logf("%d searches answered as expected", n)
			}
			eventually(t, 30*time.Second, func() string { return compareSearchIndexes(ctx, dyn, want) }, svc)
		})
	}
}

// searchMetric sums a counter of the service's /metrics over its labels.
func searchMetric(t *testing.T, base, name string) int {
	t.Helper()
	resp, err := httpClient.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			if err != nil {
				t.Fatalf("metrics: %q: %v", line, err)
			}
			total += v
		}
	}
	return int(total)
}

// searchCatalogue is what the test derives from the changes besides the
// oracle's documents.
type searchCatalogue struct {
	tsMs                                 map[int64]int64 // live product → commit time of its latest version
	deleted                              map[int64]bool  // products deleted and not live at the end
	maxID                                int64
	renames, newDescriptions, repricings int
}

func searchCatalogueOf(changes []shopsim.Change, want map[int64]oracle.SearchDoc) searchCatalogue {
	sc := searchCatalogue{tsMs: map[int64]int64{}, deleted: map[int64]bool{}}
	for _, c := range changes {
		if c.Table != debezium.TableProducts {
			continue
		}
		sc.maxID = max(sc.maxID, c.ID)
		switch c.Op {
		case debezium.OpDelete:
			if _, live := want[c.ID]; !live {
				sc.deleted[c.ID] = true
			}
		case debezium.OpRead, debezium.OpCreate, debezium.OpUpdate:
			a := c.After.(*debezium.Product)
			sc.tsMs[c.ID] = c.Src.TsMs
			if c.Op == debezium.OpUpdate {
				b := c.Before.(*debezium.Product)
				if a.Name != b.Name {
					sc.renames++
				}
				if a.Description != b.Description {
					sc.newDescriptions++
				}
				if a.PriceCents != b.PriceCents {
					sc.repricings++
				}
			}
		}
	}
	return sc
}

// ---- DynamoDB ----

func scanSearchTable(dyn *dynamodb.Client) (map[int64]map[string]types.AttributeValue, error) {
	got := map[int64]map[string]types.AttributeValue{}
	p := dynamodb.NewScanPaginator(dyn, &dynamodb.ScanInput{TableName: aws.String(searchTable)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		for _, it := range page.Items {
			id, err := strconv.ParseInt(attrString(it["product_id"]), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("item with product_id %s", attrString(it["product_id"]))
			}
			got[id] = it
		}
	}
	return got, nil
}

func compareSearchDynamo(dyn *dynamodb.Client, want map[int64]oracle.SearchDoc, sc searchCatalogue) string {
	got, err := scanSearchTable(dyn)
	if err != nil {
		return err.Error()
	}
	var d diffs
	for id, w := range want {
		it, ok := got[id]
		if !ok {
			d.add("product %d missing from DynamoDB", id)
			continue
		}
		ts := sc.tsMs[id]
		expect := map[string]string{
			"name": w.Name, "name_lower": w.NameLower, "description": w.Description,
			"price": strconv.FormatInt(w.PriceCents, 10), "price_display": "$" + searchDollars(w.PriceCents),
			"stock_quantity": strconv.FormatInt(w.Stock, 10),
			"cdc_timestamp":  strconv.FormatInt(ts, 10),
			"indexed_at":     time.UnixMilli(ts).UTC().Format(time.RFC3339),
		}
		for attr, v := range expect {
			if s := attrString(it[attr]); s != v {
				d.add("product %d %s = %q, want %q", id, attr, s, v)
			}
		}
		for _, attr := range []string{"product_id", "price", "stock_quantity", "cdc_timestamp"} {
			if _, isN := it[attr].(*types.AttributeValueMemberN); !isN {
				d.add("product %d %s is %T, want a number (N)", id, attr, it[attr])
			}
		}
		if toks, err := searchTokenSet(it["search_tokens"]); err != nil {
			d.add("product %d search_tokens: %v", id, err)
		} else if !slices.Equal(toks, w.Tokens) {
			d.add("product %d search_tokens = %q, want %q (extra %q, missing %q)", id, toks, w.Tokens,
				searchMinus(toks, w.Tokens), searchMinus(w.Tokens, toks))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			d.add("product %d in DynamoDB but deleted (%v) or unknown in the database", id, sc.deleted[id])
		}
	}
	return d.String()
}

// searchTokenSet reads search_tokens (a string set or a list of strings) as a
// sorted set, rejecting repeats.
func searchTokenSet(v types.AttributeValue) ([]string, error) {
	var toks []string
	switch x := v.(type) {
	case *types.AttributeValueMemberSS:
		toks = slices.Clone(x.Value)
	case *types.AttributeValueMemberL:
		for _, e := range x.Value {
			s, ok := e.(*types.AttributeValueMemberS)
			if !ok {
				return nil, fmt.Errorf("list element %T", e)
			}
			toks = append(toks, s.Value)
		}
	case nil:
		return nil, nil // no tokens: DynamoDB has no empty sets
	default:
		return nil, fmt.Errorf("%T, want a string set or list", v)
	}
	slices.Sort(toks)
	if n := len(toks); len(slices.Compact(slices.Clone(toks))) != n {
		return nil, fmt.Errorf("repeated tokens in %q", toks)
	}
	return toks, nil
}

// minus returns the elements of a (sorted) not in b (sorted).
func searchMinus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if _, ok := slices.BinarySearch(b, s); !ok {
			out = append(out, s)
		}
	}
	return out
}

// dollars renders cents as "1299.99", independently of codecs/money.
func searchDollars(cents int64) string {
	if cents < 0 {
		return "-" + searchDollars(-cents)
	}
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// compareSearchIndexes checks the table's secondary indexes: its key
// schema, and that name-index, price-index and a price range query (a
// Query of price-range-index per shard) answer what the oracle says.
func compareSearchIndexes(ctx context.Context, dyn *dynamodb.Client, want map[int64]oracle.SearchDoc) string {
	var d diffs
	desc, err := dyn.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(searchTable)})
	if err != nil {
		return fmt.Sprintf("describe table: %v", err)
	}
	if bm := desc.Table.BillingModeSummary; bm == nil || bm.BillingMode != types.BillingModePayPerRequest {
		d.add("billing mode %+v, want PAY_PER_REQUEST", bm)
	}
	schemas := map[string]string{}
	for _, g := range desc.Table.GlobalSecondaryIndexes {
		var ks []string
		for _, e := range g.KeySchema {
			ks = append(ks, aws.ToString(e.AttributeName)+" "+string(e.KeyType))
		}
		schemas[aws.ToString(g.IndexName)] = strings.Join(ks, ", ")
	}
	for name, ks := range map[string]string{
		"name-index":                 "name_lower HASH",
		"price-index":                "price HASH",
		mirror.SearchPriceRangeIndex: "price_shard HASH, price RANGE",
	} {
		if schemas[name] != ks {
			d.add("index %s has key schema %q, want %q", name, schemas[name], ks)
		}
	}

	ids := searchSortedIDs(want)
	prices := make([]int64, 0, len(ids))
	for _, id := range ids {
		prices = append(prices, want[id].PriceCents)
	}
	slices.Sort(prices)
	inRange := func(lo, hi int64) []int64 {
		var out []int64
		for _, id := range ids {
			if p := want[id].PriceCents; lo <= p && p <= hi {
				out = append(out, id)
			}
		}
		return out
	}
	// Ranges with bounds on actual prices (inclusive), between them, empty,
	// everything, a single price, and an inverted one.
	p := func(q float64) int64 { return prices[int(q*float64(len(prices)-1))] }
	ranges := [][2]int64{
		{0, math.MaxInt64}, {p(0.25), p(0.5)}, {p(0.5) + 1, p(0.75) - 1}, {p(0.9), p(1)},
		{p(0), p(0)}, {p(0.5), p(0.5)}, {1, 99}, {p(0.1), p(0.12)}, {0, p(0.05)}, {p(0.75), p(0.25)},
		{p(0.3) - 1, p(0.3) + 1},
	}
	nonEmpty := 0
	for _, r := range ranges {
		got, err := queryPriceRange(ctx, dyn, searchTable, r[0], r[1])
		if err != nil {
			d.add("PriceRange(%d, %d): %v", r[0], r[1], err)
			continue
		}
		exp := inRange(r[0], r[1])
		if len(exp) > 0 {
			nonEmpty++
		}
		if !slices.Equal(got, exp) {
			d.add("PriceRange(%d, %d) = %d ids, want %d (extra %v, missing %v)", r[0], r[1], len(got), len(exp),
				searchIDMinus(got, exp), searchIDMinus(exp, got))
		}
	}
	if nonEmpty < 6 {
		d.add("only %d price ranges hold products; the check would mean little", nonEmpty)
	}

	// name-index and price-index: a few keys each, taken from the oracle.
	for i, id := range ids {
		if i%(len(ids)/5) != 0 {
			continue
		}
		w := want[id]
		var expName, expPrice []int64
		for _, o := range ids {
			if want[o].NameLower == w.NameLower {
				expName = append(expName, o)
			}
			if want[o].PriceCents == w.PriceCents {
				expPrice = append(expPrice, o)
			}
		}
		for _, q := range []struct {
			index, attr string
			v           types.AttributeValue
			exp         []int64
		}{
			{"name-index", "name_lower", &types.AttributeValueMemberS{Value: w.NameLower}, expName},
			{"price-index", "price", &types.AttributeValueMemberN{Value: strconv.FormatInt(w.PriceCents, 10)}, expPrice},
		} {
			got, err := searchQueryIndex(ctx, dyn, q.index, q.attr, q.v)
			if err != nil {
				d.add("%v", err)
			} else if !slices.Equal(got, q.exp) {
				d.add("%s %s=%v: %v, want %v", q.index, q.attr, q.v, got, q.exp)
			}
		}
	}
	return d.String()
}

func searchQueryIndex(ctx context.Context, dyn *dynamodb.Client, index, attr string, v types.AttributeValue) ([]int64, error) {
	var ids []int64
	p := dynamodb.NewQueryPaginator(dyn, &dynamodb.QueryInput{
		TableName: aws.String(searchTable), IndexName: aws.String(index),
		KeyConditionExpression:    aws.String("#k = :v"),
		ExpressionAttributeNames:  map[string]string{"#k": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": v},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", index, err)
		}
		for _, it := range page.Items {
			id, _ := strconv.ParseInt(attrString(it["product_id"]), 10, 64)
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func searchSortedIDs(want map[int64]oracle.SearchDoc) []int64 {
	ids := make([]int64, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func searchIDMinus(a, b []int64) []int64 {
	var out []int64
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
		if len(out) == 8 {
			break
		}
	}
	return out
}

// ---- the HTTP API ----

// searchProduct is GET /v1/products/{id}.
type searchProduct struct {
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

// compareSearchProducts reads every live product, every deleted one and an
// id that never existed.
func compareSearchProducts(t *testing.T, base string, want map[int64]oracle.SearchDoc, sc searchCatalogue) string {
	var d diffs
	for id, w := range want {
		var p searchProduct
		if code := getJSON(t, fmt.Sprintf("%s/v1/products/%d", base, id), &p); code != 200 {
			d.add("GET product %d: %d", id, code)
			continue
		}
		toks := slices.Clone(p.SearchTokens)
		slices.Sort(toks)
		ts := sc.tsMs[id]
		if p.ProductID != id || p.Name != w.Name || p.Description != w.Description || p.PriceCents != w.PriceCents ||
			string(p.Price) != searchDollars(w.PriceCents) || p.StockQuantity != w.Stock || !slices.Equal(toks, w.Tokens) ||
			p.CDCTimestamp != ts || p.IndexedAt != time.UnixMilli(ts).UTC().Format(time.RFC3339) {
			d.add("API product %d = %+v, want %+v (at %d)", id, p, w, ts)
		}
	}
	for id := range sc.deleted {
		if code := getJSON(t, fmt.Sprintf("%s/v1/products/%d", base, id), nil); code != 404 {
			d.add("deleted product %d answers %d", id, code)
		}
	}
	if code := getJSON(t, fmt.Sprintf("%s/v1/products/%d", base, sc.maxID+1000), nil); code != 404 {
		d.add("unknown product %d answers %d", sc.maxID+1000, code)
	}
	return d.String()
}

// searchTokenize is the contract's tokenizer, written here apart from the
// service's: lower-cased maximal runs of Unicode letters, numbers and '_'
// (Python's \w+ over str.lower(); the generator writes none of the letters
// whose full lower-casing differs from the per-rune one). Repeats are kept.
func searchTokenize(s string) []string {
	var toks []string
	var cur []rune
	for _, r := range s + " " {
		if r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) {
			cur = append(cur, unicode.ToLower(r))
			continue
		}
		if len(cur) > 0 {
			toks = append(toks, string(cur))
			cur = cur[:0]
		}
	}
	return toks
}

// searchBM25F scores the oracle's documents as views/search documents its
// ranking: BM25F over name (weight NameWeight) and description, with the
// collection statistics of the live documents.
type searchBM25F struct {
	n                int
	avgName, avgDesc float64
	df               map[string]int
	name, desc       map[int64]map[string]int // term frequencies
	nameLen, descLen map[int64]int
}

func newSearchBM25F(want map[int64]oracle.SearchDoc) *searchBM25F {
	s := &searchBM25F{n: len(want), df: map[string]int{}, name: map[int64]map[string]int{}, desc: map[int64]map[string]int{},
		nameLen: map[int64]int{}, descLen: map[int64]int{}}
	var sumName, sumDesc int
	for id, w := range want {
		nt, dt := searchTokenize(w.Name), searchTokenize(w.Description)
		s.nameLen[id], s.descLen[id] = len(nt), len(dt)
		sumName += len(nt)
		sumDesc += len(dt)
		s.name[id], s.desc[id] = map[string]int{}, map[string]int{}
		for _, tok := range nt {
			s.name[id][tok]++
		}
		for _, tok := range dt {
			s.desc[id][tok]++
		}
		for _, tok := range w.Tokens {
			s.df[tok]++
		}
	}
	s.avgName = float64(sumName) / float64(s.n)
	s.avgDesc = float64(sumDesc) / float64(s.n)
	return s
}

func (s *searchBM25F) score(id int64, toks []string) float64 {
	const k1, b = searchviews.K1, searchviews.B
	wn := searchviews.NameWeight / (1 - b + b*float64(s.nameLen[id])/s.avgName)
	wd := searchviews.DescrWeight / (1 - b + b*float64(s.descLen[id])/s.avgDesc)
	total := 0.0
	for _, tok := range toks {
		df := float64(s.df[tok])
		idf := math.Log(1 + (float64(s.n)-df+0.5)/(df+0.5))
		w := wn*float64(s.name[id][tok]) + wd*float64(s.desc[id][tok])
		total += idf * w / (k1 + w) * (k1 + 1)
	}
	return total
}

// sameFeatures reports whether two documents are indistinguishable to the
// ranking for toks: same lengths and frequencies, so exactly equal scores.
func (s *searchBM25F) sameFeatures(a, b int64, toks []string) bool {
	if s.nameLen[a] != s.nameLen[b] || s.descLen[a] != s.descLen[b] {
		return false
	}
	for _, tok := range toks {
		if s.name[a][tok] != s.name[b][tok] || s.desc[a][tok] != s.desc[b][tok] {
			return false
		}
	}
	return true
}

// searchQuery is one GET /v1/search.
type searchQuery struct {
	q        string
	limit    string // "" for the default
	min, max string // decimal amounts, "" for no bound
}

func (q searchQuery) String() string {
	v := url.Values{"q": {q.q}}
	for k, s := range map[string]string{"limit": q.limit, "min_price": q.min, "max_price": q.max} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return "/v1/search?" + v.Encode()
}

// cents parses a decimal amount of a query.
func searchCents(s string) int64 {
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "00")[:2]
	c, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		panic(s)
	}
	return c
}

// searchQueries builds the queries from the oracle's documents: tokens of
// every frequency, curated non-ASCII and mixed-case ones, pairs of tokens
// that share a document and pairs that may not, tokens that match nothing,
// price bounds (some on actual prices, inclusive) and limits.
func searchQueries(want map[int64]oracle.SearchDoc, s *searchBM25F) []searchQuery {
	var qs []searchQuery
	add := func(q string, limit, lo, hi string) { qs = append(qs, searchQuery{q, limit, lo, hi}) }

	// Single tokens across the frequency spectrum.
	terms := make([]string, 0, len(s.df))
	for tok := range s.df {
		terms = append(terms, tok)
	}
	slices.SortFunc(terms, func(a, b string) int {
		if s.df[a] != s.df[b] {
			return s.df[b] - s.df[a]
		}
		return strings.Compare(a, b)
	})
	for _, f := range []float64{0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1} {
		add(terms[int(f*float64(len(terms)-1))], "100", "", "")
	}
	add(terms[0], "", "", "") // the default limit
	add(terms[1], "1000", "", "")
	add(terms[2], "1", "", "")

	// Non-ASCII and mixed case: the query is lower-cased like the text.
	for _, q := range []string{"crème", "CRÈME", "Crème", "café", "CAFÉ", "cafe", "naïve", "NAÏVE", "ünïcode", "ÜNÏCODE",
		"Über", "größe", "GRÖẞE", "łódź", "ŁÓDŹ", "ελληνικό", "ΕΛΛΗΝΙΚΌ", "москва", "МОСКВА", "東京", "カメラ", "x²",
		"٣٠٠", "Ⅱ", "½", "eco_friendly", "ECO_FRIENDLY", "Smörgås", "SEÑOR", "spéciale", "DÉTACHABLE", "déjà", "Très",
		"LAPTOP", "Wireless", "usb-C"} {
		add(q, "100", "", "")
	}

	// Tokens that match nothing, and a query without any token.
	for _, q := range []string{"xylophone", "crèmes", "laptopx", "zz_unknown_zz", "🎧", "e\u0301"} {
		add(q, "", "", "")
	}

	// Pairs of tokens of one document (AND), and pairs that may not meet.
	ids := searchSortedIDs(want)
	for i := 0; i < len(ids); i += len(ids) / 12 {
		toks := want[ids[i]].Tokens
		add(toks[0]+" "+toks[len(toks)-1], "100", "", "")
		add(strings.ToUpper(toks[len(toks)/2])+", "+toks[len(toks)/3]+"!", "5", "", "")
	}
	for _, q := range []string{"crème laptop", "wireless 東京", "fair-trade café beans", "Noise Cancelling", "USB-C cable",
		"Wi-Fi 6E", "mouse keyboard", "ergonomic ergonomic chair", "Мосвка laptop", "x² mouse"} {
		add(q, "100", "", "")
	}

	// Price bounds: quantiles of the actual prices (so inclusive bounds
	// matter), decimals, one-sided, empty and inverted ranges.
	prices := make([]int64, 0, len(want))
	for _, w := range want {
		prices = append(prices, w.PriceCents)
	}
	slices.Sort(prices)
	p := func(f float64) string { return searchDollars(prices[int(f*float64(len(prices)-1))]) }
	for i, q := range []string{terms[0], terms[3], terms[10], "crème", "laptop", "wireless mouse", terms[40]} {
		add(q, "100", p(0.2), p(0.6))
		add(q, "100", "", p(0.1))
		add(q, "3", p(0.5), "")
		add(q, "", fmt.Sprintf("%d.5", 40+i), fmt.Sprintf("%d", 300+i))
	}
	add(terms[0], "100", p(0.7), p(0.3))
	add(terms[0], "100", "0", "1.00")
	add(terms[0], "100", p(0.5), p(0.5))
	add(terms[0], "100", "0.00", "99999999.990")
	return qs
}

// compareSearchQueries answers the queries and compares them with the
// results computed from the oracle's documents. It returns the number of
// queries.
func compareSearchQueries(t *testing.T, base string, want map[int64]oracle.SearchDoc) (int, string) {
	s := newSearchBM25F(want)
	qs := searchQueries(want, s)
	var d diffs
	empty, partial, full, nameVsDesc, descOutranks := 0, 0, 0, 0, 0
	for _, q := range qs {
		toks := searchTokenize(q.q)
		slices.Sort(toks)
		toks = slices.Compact(toks)
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if q.min != "" {
			lo = searchCents(q.min)
		}
		if q.max != "" {
			hi = searchCents(q.max)
		}
		limit := searchviews.DefaultLimit
		if q.limit != "" {
			limit, _ = strconv.Atoi(q.limit)
			limit = min(limit, searchviews.MaxLimit)
		}
		// Expected: every query token among the document's, price in bounds.
		exp := map[int64]float64{}
		names := map[int64]int{} // query tokens in the name: the first ranking key
		for id, w := range want {
			if len(toks) == 0 || w.PriceCents < lo || w.PriceCents > hi {
				continue
			}
			all := true
			for _, tok := range toks {
				if _, ok := slices.BinarySearch(w.Tokens, tok); !ok {
					all = false
					break
				}
			}
			if all {
				exp[id] = s.score(id, toks)
				for _, tok := range toks {
					if s.name[id][tok] != 0 {
						names[id]++
					}
				}
			}
		}

		var got searchviews.SearchResponse
		if code := getJSON(t, base+q.String(), &got); code != 200 {
			d.add("%s: status %d", q, code)
			continue
		}
		switch {
		case len(exp) == 0:
			empty++
		case len(exp) > limit:
			partial++
		default:
			full++
		}
		if got.Total != len(exp) {
			d.add("%s: total %d, want %d", q, got.Total, len(exp))
		}
		if len(got.Results) != min(len(exp), limit) {
			d.add("%s: %d results, want %d", q, len(got.Results), min(len(exp), limit))
		}
		rank := map[int64]int{}
		for i, r := range got.Results {
			w, ok := want[r.ProductID]
			if _, match := exp[r.ProductID]; !match {
				d.add("%s: result %d (%q, %d cents, tokens %q) does not match", q, r.ProductID, r.Name, r.PriceCents, w.Tokens)
				continue
			}
			if _, dup := rank[r.ProductID]; dup {
				d.add("%s: product %d returned twice", q, r.ProductID)
			}
			rank[r.ProductID] = i
			if !ok || r.Name != w.Name || r.Description != w.Description || r.PriceCents != w.PriceCents ||
				string(r.Price) != searchDollars(w.PriceCents) || r.StockQuantity != w.Stock {
				d.add("%s: result %+v, want %+v", q, r, w)
			}
			if e := exp[r.ProductID]; !searchNear(r.Score, e) {
				d.add("%s: product %d score %g, want BM25F %g", q, r.ProductID, r.Score, e)
			}
			if r.NameMatches != names[r.ProductID] {
				d.add("%s: product %d name_matches %d, want %d", q, r.ProductID, r.NameMatches, names[r.ProductID])
			}
		}
		// Best first: more query tokens in the name first, then the higher
		// BM25F score, then the lower id; no match left out ranks above
		// the last one returned.
		below := func(a, b int64) bool { // a must rank below b
			if names[a] != names[b] {
				return names[a] < names[b]
			}
			return exp[a] < exp[b] && !searchNear(exp[a], exp[b])
		}
		for i := 1; i < len(got.Results); i++ {
			a, b := got.Results[i-1].ProductID, got.Results[i].ProductID
			_, aOK := exp[a]
			_, bOK := exp[b]
			if !aOK || !bOK {
				continue // reported above
			}
			if below(a, b) || names[a] == names[b] && s.sameFeatures(a, b, toks) && a > b {
				d.add("%s: product %d (%d in name, BM25F %g) ranks above %d (%d, %g)", q, a, names[a], exp[a], b, names[b], exp[b])
			}
		}
		if n := len(got.Results); n > 0 && n < len(exp) {
			last := got.Results[n-1].ProductID
			for id := range exp {
				if _, in := rank[id]; !in && below(last, id) {
					d.add("%s: product %d (%d in name, BM25F %g) left out of the top %d, whose last has %d, %g", q, id, names[id], exp[id], n, names[last], exp[last])
					break
				}
			}
		}
		// A single token found in the name against one found only in the
		// description: the name match ranks above, always, even where
		// BM25F's length normalisation scores the description higher.
		if len(toks) == 1 {
			tok := toks[0]
			for a := range exp {
				if s.name[a][tok] == 0 {
					continue
				}
				for b := range exp {
					if s.name[b][tok] != 0 {
						continue
					}
					if !(exp[a] > exp[b]) || searchNear(exp[a], exp[b]) {
						descOutranks++ // BM25F alone would not order this pair
					}
					nameVsDesc++
					ra, aIn := rank[a]
					rb, bIn := rank[b]
					if bIn && (!aIn || ra > rb) {
						d.add("%s: description-only match %d ranks above name match %d", q, b, a)
					}
				}
			}
		}
	}
	// Malformed requests are refused, not answered as if they were queries.
	for _, q := range []searchQuery{{"", "", "", ""}, {"   ", "", "", ""}, {"laptop", "0", "", ""}, {"laptop", "-3", "", ""},
		{"laptop", "ten", "", ""}, {"laptop", "", "-1", ""}, {"laptop", "", "", "1.234"}, {"laptop", "", "12,50", ""}} {
		if code := getJSON(t, base+q.String(), nil); code != 400 {
			d.add("%s: status %d, want 400", q, code)
		}
	}
	t.Logf("%d searches: %d without a match, %d cut by their limit, %d complete; %d name-vs-description pairs, %d of them where BM25F alone scores the description-only match as high or higher",
		len(qs), empty, partial, full, nameVsDesc, descOutranks)
	if len(qs) < 40 || empty < 5 || partial < 10 || full < 20 || nameVsDesc < 1000 {
		d.add("the queries do not cover enough: %d searches, %d without a match, %d cut by their limit, %d complete, %d name-vs-description pairs",
			len(qs), empty, partial, full, nameVsDesc)
	}
	return len(qs), d.String()
}

// searchNear reports whether two scores are equal up to floating-point rounding.
func searchNear(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// queryPriceRange returns the ids (ascending) of the products in the search table
// whose price in cents lies in [minCents, maxCents]: one paginated Query of
// price-range-index per price shard, never a Scan.
func queryPriceRange(ctx context.Context, client dynamodb.QueryAPIClient, table string, minCents, maxCents int64) ([]int64, error) {
	if minCents > maxCents {
		return nil, nil
	}
	var ids []int64
	for shard := range int64(mirror.SearchPriceShards) {
		in := &dynamodb.QueryInput{
			TableName:              aws.String(table),
			IndexName:              aws.String(mirror.SearchPriceRangeIndex),
			KeyConditionExpression: aws.String("#s = :s AND #p BETWEEN :lo AND :hi"),
			ExpressionAttributeNames: map[string]string{
				"#s": "price_shard", "#p": "price", "#id": "product_id",
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":s":  &types.AttributeValueMemberN{Value: strconv.FormatInt(shard, 10)},
				":lo": &types.AttributeValueMemberN{Value: strconv.FormatInt(minCents, 10)},
				":hi": &types.AttributeValueMemberN{Value: strconv.FormatInt(maxCents, 10)},
			},
			ProjectionExpression: aws.String("#id"),
		}
		pages := dynamodb.NewQueryPaginator(client, in)
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("price range [%d, %d] of %s: query shard %d: %w", minCents, maxCents, table, shard, err)
			}
			for _, item := range out.Items {
				n, ok := item["product_id"].(*types.AttributeValueMemberN)
				if !ok {
					return nil, fmt.Errorf("price range of %s: item without a numeric product_id", table)
				}
				id, err := strconv.ParseInt(n.Value, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("price range of %s: product_id %q: %w", table, n.Value, err)
				}
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids, nil
}
