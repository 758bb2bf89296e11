package e2e

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/testkit/pgshop"
	"github.com/cdcflow/cdcflow/testkit/registry"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
	invviews "github.com/cdcflow/cdcflow/views/inventory"
	searchviews "github.com/cdcflow/cdcflow/views/search"
)

// TestRealPostgres runs the shop on a real PostgreSQL (testkit/pgshop:
// Debian's server, a pgoutput slot read with pglogrepl as Debezium reads
// it, several sessions whose transactions interleave in the WAL, long
// descriptions TOASTed out of line), renders what the slot delivered as
// the Debezium connector's records with testkit/pgshop's own encoder, with
// connector replays, and runs the three services on it: inventory on the
// envelope (products behind order_items) and on the flattened records
// with __source_sequence, NUMERIC decimals and unchanged-TOAST
// placeholders, search on the schemaless flattened records (placeholders
// too), analytics on the envelope with NUMERIC decimals. The
// expectations come from the database: the final tables (search,
// analytics by SQL) and a plain commit-order replay of the decoded
// changes (inventory), checked against the tables where they can tell.
// Every DynamoDB item, API answer and S3 report is compared.
//
// It runs twice, each on its own cluster and workload: "json" renders the
// JsonConverter's records as above; "avro" renders the AvroConverter's
// (pgshop.RenderAvro: framed Avro keys and values, schemas registered in
// tools/registry's registry, which the services read): the envelope for
// inventory and analytics, the flattened record with __source_lsn,
// __source_sequence and placeholders for inventory and search, decimals as
// Avro decimal bytes.
//
// PGSHOP_CHANGES=<n> sizes the JSON workload (default 4000 row changes);
// the Avro one is half of it (2000 by default, to keep CI time).
func TestRealPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	size := 4000
	if s := os.Getenv("PGSHOP_CHANGES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("PGSHOP_CHANGES=%q: not a positive number", s)
		}
		size = n
	}
	t.Run("json", func(t *testing.T) { realPostgres(t, false, size, 41) })
	t.Run("avro", func(t *testing.T) { realPostgres(t, true, size/2, 42) })
}

func realPostgres(t *testing.T, avro bool, size int, seed uint64) {
	testStart := time.Now()
	cl := pgshop.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := pgshop.Run(ctx, cl, pgshop.Config{Seed: seed, Changes: size})
	if err != nil {
		t.Fatalf("%v\nserver log:\n%s", err, cl.Log())
	}
	capt := res.Capture
	st := capt.Stats()
	inv := capt.ExpectInventory()
	unadjusted, err := pgshop.CheckInventory(inv, res.Final)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL %d on port %d; workload %v: %v, %d retries, %d skipped; timings %v",
		cl.Bin.Version, cl.Port, res.Workload.Elapsed.Round(time.Millisecond), res.Workload.Committed, res.Workload.Retries, res.Workload.Skipped, res.Timings)
	t.Logf("capture: %d snapshot rows at %s, %d transactions, %d changes %v, %d updates with an unchanged TOASTed description",
		st.Snapshot, pgshop.FormatLSN(capt.ConsistentPoint), st.Transactions, st.Changes, st.ByTableOp, st.UnchangedToast)
	t.Logf("%d of %d transactions committed after a transaction with a higher change LSN; %d product-version/order-line pairs of %d products in LSN order against commit order, %d of them live products' latest versions",
		st.LateCommitted, st.Transactions, st.MisorderedPairs, st.MisorderedProducts, st.MisorderedFinal)
	t.Logf("inventory replay: %d live products, %d with no line change since their latest version equal the table's stock_quantity", len(inv), unadjusted)

	// The stream must exercise what the test claims.
	var problems []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	if size >= 3000 {
		check(st.Changes >= 3000, "only %d row changes", st.Changes)
		check(st.LateCommitted >= 200, "only %d transactions committed after one with a higher LSN", st.LateCommitted)
		check(st.MisorderedFinal >= 3, "only %d live products whose stock source.lsn alone would order wrong", st.MisorderedFinal)
		check(st.UnchangedToast >= 50, "only %d updates with an unchanged TOAST value", st.UnchangedToast)
		check(len(res.Analytics.ProductSales) > pgshop.TopN, "only %d products sold", len(res.Analytics.ProductSales))
		check(len(res.Analytics.CustomerMetrics) > pgshop.TopN, "only %d customers", len(res.Analytics.CustomerMetrics))
		check(len(res.Analytics.DailySales) >= 2, "only %d days", len(res.Analytics.DailySales))
	}
	for _, k := range []string{"products/r", "products/c", "products/u", "products/d", "orders/r", "orders/c", "orders/u", "orders/d",
		"order_items/r", "order_items/c", "order_items/u", "order_items/d"} {
		check(st.ByTableOp[k] > 0, "no %s change", k)
	}
	check(len(res.Analytics.OrderStatus) >= 4, "only %d statuses", len(res.Analytics.OrderStatus))
	if len(problems) > 0 {
		t.Fatalf("the captured stream does not cover the test's claims:\n  %s", strings.Join(problems, "\n  "))
	}

	// Expectations from the database.
	wantInv := map[int64]oracle.InventoryItem{}
	for id, s := range inv {
		wantInv[id] = oracle.InventoryItem{ProductID: id, Name: s.Product.Name, Description: s.Product.Description,
			PriceCents: s.Product.PriceCents, Stock: s.Available, LastSourceTsMs: s.LastTsMs}
	}
	wantSearch := map[int64]oracle.SearchDoc{}
	for id, p := range res.Final.Products() {
		toks := searchTokenize(p.Name + " " + p.Description)
		slices.Sort(toks)
		wantSearch[id] = oracle.SearchDoc{ProductID: id, Name: p.Name, NameLower: strings.ToLower(p.Name), Description: p.Description,
			PriceCents: p.PriceCents, Stock: p.StockQuantity, Tokens: slices.Compact(toks)}
	}
	sc := searchCatalogue{tsMs: map[int64]int64{}, deleted: map[int64]bool{}}
	for _, c := range capt.Changes() {
		if c.Table == pgshop.Products {
			sc.maxID = max(sc.maxID, c.ID)
			if _, live := wantSearch[c.ID]; c.Op == pgshop.OpDelete && !live {
				sc.deleted[c.ID] = true
			}
		}
	}
	for id, s := range inv {
		sc.tsMs[id] = s.VersionTs
	}
	wantAn := realpgAnalytics(res.Analytics)

	// The streams, each with connector replays, topics interleaved: the
	// records in delivery order, and by topic.
	replayed := 0
	var sr *registry.Server
	if avro {
		sr = registry.New(t, registry.Options{})
	}
	render := func(opts pgshop.RenderOptions, seed uint64, topics ...string) ([]shopsim.Record, map[string][]shopsim.Record) {
		var recs []pgshop.Record
		if avro {
			// The AvroConverter's records of the same connector settings:
			// the envelope, or the flattened record (no schemaless variant
			// under Avro); decimal.format is a JsonConverter setting.
			if opts.Format == pgshop.FormatFlat || opts.Format == pgshop.FormatFlatNoSchema {
				opts.Format = pgshop.FormatAvroFlat
			} else {
				opts.Format = pgshop.FormatAvro
			}
			opts.Decimal, opts.Register = pgshop.DecimalPrecise, sr.Register
			var err error
			if recs, err = pgshop.RenderAvro(capt, opts); err != nil {
				t.Fatal(err)
			}
		} else {
			recs = pgshop.Render(capt, opts)
		}
		recs = slices.DeleteFunc(recs, func(r pgshop.Record) bool { return !slices.Contains(topics, r.Topic) })
		recs = pgshop.WithReplays(recs, seed, 600, 200)
		replayed += pgshop.Replayed(recs)
		all := make([]shopsim.Record, len(recs))
		for i, r := range recs {
			all[i] = shopsim.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
		}
		return all, shopsim.ByTopic(all)
	}
	productsTopic, itemsTopic := pgshop.Topic(pgshop.Products), pgshop.Topic(pgshop.OrderItems)
	// The envelope for inventory is what Debezium 2.7 writes for these
	// REPLICA IDENTITY FULL tables: an unchanged TOAST value taken from the
	// old row (DBZ-1368). The flattened streams carry the placeholder, as a
	// REPLICA IDENTITY DEFAULT table or an older connector gives it, where
	// only the previous state can fill it in.
	ordersTopic := pgshop.Topic(pgshop.Orders)
	_, invEnv := render(pgshop.RenderOptions{Format: pgshop.FormatEnvelope, ToastFromBefore: true}, seed, productsTopic, itemsTopic)
	_, invFlat := render(pgshop.RenderOptions{Format: pgshop.FormatFlat, Decimal: pgshop.DecimalNumeric, FlatLSN: true, FlatSequence: true}, seed+1, productsTopic, itemsTopic)
	searchRecs, _ := render(pgshop.RenderOptions{Format: pgshop.FormatFlatNoSchema, FlatLSN: true, FlatSequence: true}, seed+2, productsTopic)
	anInput, _ := render(pgshop.RenderOptions{Format: pgshop.FormatEnvelope, Decimal: pgshop.DecimalNumeric}, seed+3, ordersTopic, itemsTopic)

	// The stores and the services. Inventory reads order_items and a third
	// of the product versions before the rest of the versions arrive.
	db1, db2 := testenv.Dynalite(t), testenv.Dynalite(t)
	dyn1, err := db1.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dyn2, err := db2.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, s3c := testenv.S3(t, anBucket)
	kInv1, kInv2, kSearch, kAn := startKafka(t), startKafka(t), startKafka(t), startKafka(t)
	early := func(recs map[string][]shopsim.Record) (first, rest []shopsim.Record) {
		p := recs[productsTopic]
		return slices.Concat(recs[itemsTopic], p[:len(p)/3]), p[len(p)/3:]
	}
	inv1Early, inv1Rest := early(invEnv)
	inv2Early, inv2Rest := early(invFlat)
	produce(t, kInv1.Brokers(), inv1Early)
	produce(t, kInv2.Brokers(), inv2Early)
	produce(t, kSearch.Brokers(), searchRecs)
	produce(t, kAn.Brokers(), anInput)
	brokers := func(k interface{ Brokers() []string }) string { return strings.Join(k.Brokers(), ",") }
	withSR := func(env map[string]string) map[string]string {
		if avro {
			env["SCHEMA_REGISTRY_URL"] = sr.URL()
		}
		return env
	}
	inv1 := start(t, config.Inventory, app.Inventory, withSR(map[string]string{"KAFKA_BOOTSTRAP_SERVERS": brokers(kInv1), "DYNAMODB_TABLE": "inventory-realtime"}), dyn1, nil)
	inv2 := start(t, config.Inventory, app.Inventory, withSR(map[string]string{"KAFKA_BOOTSTRAP_SERVERS": brokers(kInv2), "DYNAMODB_TABLE": "inventory-realtime"}), dyn2, nil)
	srch := start(t, config.Search, app.Search, withSR(map[string]string{"KAFKA_BOOTSTRAP_SERVERS": brokers(kSearch), "DYNAMODB_TABLE": searchTable}), dyn1, nil)
	an := start(t, config.Analytics, app.Analytics, withSR(map[string]string{"KAFKA_BOOTSTRAP_SERVERS": brokers(kAn), "S3_BUCKET": anBucket, "FLUSH_INTERVAL": "1"}), nil, s3c)
	all := []*service{inv1, inv2, srch, an}
	consumedAll := func(s *service, n int, what string) func() string {
		return func() string {
			if got := consumed(t, s.URL); got < n {
				return fmt.Sprintf("%s consumed %d of %d records", what, got, n)
			}
			return ""
		}
	}
	eventually(t, 3*time.Minute, consumedAll(inv1, len(inv1Early), "inventory (envelope)"), all...)
	eventually(t, 3*time.Minute, consumedAll(inv2, len(inv2Early), "inventory (flattened)"), all...)
	produce(t, kInv1.Brokers(), inv1Rest)
	produce(t, kInv2.Brokers(), inv2Rest)
	eventually(t, 3*time.Minute, consumedAll(inv1, len(inv1Early)+len(inv1Rest), "inventory (envelope)"), all...)
	eventually(t, 3*time.Minute, consumedAll(inv2, len(inv2Early)+len(inv2Rest), "inventory (flattened)"), all...)
	eventually(t, 3*time.Minute, consumedAll(srch, len(searchRecs), "search"), all...)
	eventually(t, 3*time.Minute, consumedAll(an, len(anInput), "analytics"), all...)

	// Inventory: every item and API answer; deleted products 404.
	var failures []string
	deleted := slices.Sorted(func(yield func(int64) bool) {
		for id := range sc.deleted {
			if !yield(id) {
				return
			}
		}
	})
	for _, r := range []struct {
		name string
		svc  *service
		dyn  *dynamodb.Client
	}{
		{"inventory on the envelope", inv1, dyn1},
		{"inventory on the flattened records", inv2, dyn2},
	} {
		dyn := r.dyn
		d := eventuallyDiff(30*time.Second, func() string { return compareDynamo(t, dyn, wantInv) })
		if d == "" {
			d = realpgInventoryAPI(t, r.svc.URL, wantInv, deleted)
		}
		if d != "" {
			failures = append(failures, fmt.Sprintf("%s: %s", r.name, d))
			t.Logf("%s: %d of %d products differ from the database: %s", r.name, realpgInventoryDiffers(t, r.svc.URL, wantInv), len(wantInv), d)
		} else {
			t.Logf("%s: all %d products and %d deleted ones as the database says", r.name, len(wantInv), len(deleted))
		}
	}

	// Search: every document in DynamoDB and the API, the indexes, and
	// searches computed from the database's rows.
	searched := 0
	if d := eventuallyDiff(30*time.Second, func() string { return compareSearchDynamo(dyn1, wantSearch, sc) }); d != "" {
		failures = append(failures, "search DynamoDB: "+d)
	} else if d := compareSearchProducts(t, srch.URL, wantSearch, sc); d != "" {
		failures = append(failures, "search API: "+d)
	} else if d := eventuallyDiff(30*time.Second, func() string { return compareSearchIndexes(ctx, dyn1, wantSearch) }); d != "" {
		failures = append(failures, "search indexes: "+d)
	} else {
		var d string
		searched, d = realpgSearches(t, srch.URL, wantSearch)
		if d != "" {
			failures = append(failures, "searches: "+d)
		}
	}

	// Analytics: the newest S3 reports, every window object, the API.
	cache := anObjectCache{}
	if d := eventuallyDiff(time.Minute, func() string { return anCompareAll(t, s3c, an.URL, wantAn, testStart, time.Time{}, cache) }); d != "" {
		failures = append(failures, "analytics: "+d)
	}

	f := res.Final
	if avro {
		t.Logf("Avro: %d schemas registered (a key, an envelope and a flattened value per table); the four services asked the registry for a schema %d times",
			len(pgshop.Tables)*3, sr.Requests("GET /schemas/ids/{id}"))
	}
	t.Logf("SUMMARY transactions=%d changes=%d snapshot_rows=%d late_committed_lower_lsn=%d lsn_misordered_final_products=%d unchanged_toast=%d products=%d deleted_products=%d orders=%d lines=%d "+
		"inventory_items_checked=%d search_docs_checked=%d searches=%d analytics_days=%d windows=%d records=%d/%d/%d/%d replayed=%d elapsed=%v",
		st.Transactions, st.Changes, st.Snapshot, st.LateCommitted, st.MisorderedFinal, st.UnchangedToast, len(f.Rows[pgshop.Products]), len(deleted),
		len(f.Rows[pgshop.Orders]), len(f.Rows[pgshop.OrderItems]), 2*len(wantInv), len(wantSearch), searched,
		len(wantAn.DailySales), len(wantAn.Windows), len(inv1Early)+len(inv1Rest), len(inv2Early)+len(inv2Rest), len(searchRecs), len(anInput),
		replayed, time.Since(testStart).Round(time.Millisecond))
	if len(failures) > 0 {
		t.Fatalf("the services differ from the database:\n%s", strings.Join(failures, "\n"))
	}
}

// eventuallyDiff polls check until it returns "" or within passes, and
// returns its last answer.
func eventuallyDiff(within time.Duration, check func() string) string {
	deadline := time.Now().Add(within)
	for {
		d := check()
		if d == "" || time.Now().After(deadline) {
			return d
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// realpgAnalytics converts the SQL figures into the oracle's type, which
// the analytics comparison reads.
func realpgAnalytics(a pgshop.Analytics) oracle.Analytics {
	out := oracle.Analytics{
		DailySales: map[string]oracle.DaySales{}, ProductSales: map[int64]oracle.ProductSales{},
		CustomerMetrics: map[int64]oracle.CustomerMetrics{}, OrderStatus: map[string]int64{}, Windows: map[int64]oracle.Window{},
		Summary: oracle.Summary{TotalOrders: a.Summary.TotalOrders, TotalRevenueCents: a.Summary.TotalRevenueCents,
			UniqueCustomers: a.Summary.UniqueCustomers, UniqueProductsSold: a.Summary.UniqueProductsSold, StatusBreakdown: map[string]int64{}},
	}
	for k, v := range a.DailySales {
		out.DailySales[k] = oracle.DaySales{TotalCents: v.TotalCents, OrderCount: v.OrderCount}
	}
	for k, v := range a.ProductSales {
		out.ProductSales[k] = oracle.ProductSales{QuantitySold: v.QuantitySold, RevenueCents: v.RevenueCents}
	}
	for k, v := range a.CustomerMetrics {
		out.CustomerMetrics[k] = oracle.CustomerMetrics{OrderCount: v.OrderCount, TotalSpentCents: v.TotalSpentCents}
	}
	for k, v := range a.OrderStatus {
		out.OrderStatus[k] = v
		out.Summary.StatusBreakdown[k] = v
	}
	for k, v := range a.Windows {
		out.Windows[k] = oracle.Window{Orders: v.Orders, RevenueCents: v.RevenueCents, ItemsSold: v.ItemsSold}
	}
	for _, p := range a.TopProducts {
		out.TopProducts = append(out.TopProducts, oracle.RankedProduct{ProductID: p.ProductID,
			ProductSales: oracle.ProductSales{QuantitySold: p.QuantitySold, RevenueCents: p.RevenueCents}})
	}
	for _, c := range a.TopCustomers {
		out.TopCustomers = append(out.TopCustomers, oracle.RankedCustomer{CustomerID: c.CustomerID,
			CustomerMetrics: oracle.CustomerMetrics{OrderCount: c.OrderCount, TotalSpentCents: c.TotalSpentCents}})
	}
	return out
}

// realpgInventoryAPI compares GET /v1/inventory/{id} of every live product
// with the database's, checks that deleted products answer 404 and the
// below=10 listing.
func realpgInventoryAPI(t *testing.T, base string, want map[int64]oracle.InventoryItem, deleted []int64) string {
	var d diffs
	for id, w := range want {
		var s invviews.Stock
		if code := getJSON(t, fmt.Sprintf("%s/v1/inventory/%d", base, id), &s); code != 200 {
			d.add("GET product %d: %d", id, code)
			continue
		}
		if s.ProductID != id || s.Name != w.Name || s.Description != w.Description || s.PriceCents != w.PriceCents ||
			string(s.Price) != searchDollars(w.PriceCents) || s.StockQuantity != w.Stock {
			d.add("API product %d: stock %d, name %q, price %s, description %.40q; want stock %d, name %q, price %s, description %.40q",
				id, s.StockQuantity, s.Name, s.Price, s.Description, w.Stock, w.Name, searchDollars(w.PriceCents), w.Description)
		}
	}
	for _, id := range deleted {
		if code := getJSON(t, fmt.Sprintf("%s/v1/inventory/%d", base, id), nil); code != 404 {
			d.add("deleted product %d answers %d", id, code)
		}
	}
	var below struct {
		Total int `json:"total"`
	}
	getJSON(t, base+"/v1/inventory?below=10", &below)
	n := 0
	for _, w := range want {
		if w.Stock < 10 {
			n++
		}
	}
	if below.Total != n {
		d.add("below=10 lists %d products, want %d", below.Total, n)
	}
	return d.String()
}

// realpgInventoryDiffers counts the products whose API stock differs from
// the database's (for the report of a failure).
func realpgInventoryDiffers(t *testing.T, base string, want map[int64]oracle.InventoryItem) int {
	n := 0
	for id, w := range want {
		var s invviews.Stock
		if code := getJSON(t, fmt.Sprintf("%s/v1/inventory/%d", base, id), &s); code != 200 || s.StockQuantity != w.Stock {
			n++
		}
	}
	return n
}

// realpgSearches answers searches whose results are computed from the
// database's rows: tokens across the frequency spectrum, with limits that
// cut, pairs of one product's tokens, whole product names, non-ASCII and
// mixed-case words, words that match nothing, price bounds. It checks the
// total, the results (every query token among the product's, price in
// bounds, fields as the database holds them) and their order (more query
// tokens in the name first, then BM25F, then the lower id), and returns the
// number of searches.
func realpgSearches(t *testing.T, base string, want map[int64]oracle.SearchDoc) (int, string) {
	s := newSearchBM25F(want)
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
	var qs []searchQuery
	add := func(q, limit, lo, hi string) { qs = append(qs, searchQuery{q, limit, lo, hi}) }
	for _, f := range []float64{0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1} {
		tok := terms[int(f*float64(len(terms)-1))]
		add(tok, "100", "", "")
		add(tok, "7", "", "")
	}
	add(terms[0], "", "", "")
	ids := searchSortedIDs(want)
	for i := 0; i < len(ids); i += max(1, len(ids)/10) {
		w := want[ids[i]]
		add(w.Name, "10", "", "")
		add(w.Tokens[0]+" "+w.Tokens[len(w.Tokens)-1], "100", "", "")
		add(strings.ToUpper(w.Tokens[len(w.Tokens)/2])+", "+w.Tokens[len(w.Tokens)/3]+"!", "5", "", "")
	}
	for _, q := range []string{"crème", "CRÈME", "café", "Café", "łódź", "ŁÓDŹ", "größe", "déjà", "Très", "naïve", "eco_friendly",
		"usb-C", "Wi-Fi 6E", "wireless laptop", "xylophone", "zz_none_zz", "crèmes"} {
		add(q, "100", "", "")
	}
	prices := make([]int64, 0, len(want))
	for _, w := range want {
		prices = append(prices, w.PriceCents)
	}
	slices.Sort(prices)
	p := func(f float64) string { return searchDollars(prices[int(f*float64(len(prices)-1))]) }
	for _, q := range []string{terms[0], terms[2], terms[len(terms)/20], "café"} {
		add(q, "100", p(0.2), p(0.7))
		add(q, "100", "", p(0.3))
		add(q, "3", p(0.5), "")
	}

	var d diffs
	empty, cut := 0, 0
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
		}
		exp, names := map[int64]float64{}, map[int64]int{}
		for id, w := range want {
			if w.PriceCents < lo || w.PriceCents > hi {
				continue
			}
			all := len(toks) > 0
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
		if len(exp) == 0 {
			empty++
		} else if len(exp) > limit {
			cut++
		}
		var got searchviews.SearchResponse
		if code := getJSON(t, base+"/v1/search?"+realpgQuery(q), &got); code != 200 {
			d.add("%s: status %d", q, code)
			continue
		}
		if got.Total != len(exp) || len(got.Results) != min(len(exp), limit) {
			d.add("%s: total %d with %d results, want %d with %d", q, got.Total, len(got.Results), len(exp), min(len(exp), limit))
		}
		in := map[int64]bool{}
		for i, r := range got.Results {
			w, ok := want[r.ProductID]
			if _, match := exp[r.ProductID]; !ok || !match {
				d.add("%s: result %d (%q) does not match", q, r.ProductID, r.Name)
				continue
			}
			in[r.ProductID] = true
			if r.Name != w.Name || r.Description != w.Description || r.PriceCents != w.PriceCents || r.StockQuantity != w.Stock ||
				r.NameMatches != names[r.ProductID] || !searchNear(r.Score, exp[r.ProductID]) {
				d.add("%s: result %d = %q %d cents stock %d names %d score %g; want %q %d %d %d %g", q, r.ProductID, r.Name, r.PriceCents,
					r.StockQuantity, r.NameMatches, r.Score, w.Name, w.PriceCents, w.Stock, names[r.ProductID], exp[r.ProductID])
			}
			if i > 0 {
				a, b := got.Results[i-1].ProductID, r.ProductID
				if names[a] < names[b] || names[a] == names[b] && (exp[a] < exp[b] && !searchNear(exp[a], exp[b]) || searchNear(exp[a], exp[b]) && s.sameFeatures(a, b, toks) && a > b) {
					d.add("%s: product %d ranks above %d", q, a, b)
				}
			}
		}
		if n := len(got.Results); n > 0 && n < len(exp) {
			last := got.Results[n-1].ProductID
			for id := range exp {
				if !in[id] && (names[id] > names[last] || names[id] == names[last] && exp[id] > exp[last] && !searchNear(exp[id], exp[last])) {
					d.add("%s: product %d left out of the top %d", q, id, n)
					break
				}
			}
		}
	}
	if empty < 3 || cut < 5 {
		d.add("the searches cover too little: %d without a match, %d cut by their limit", empty, cut)
	}
	t.Logf("%d searches: %d without a match, %d cut by their limit", len(qs), empty, cut)
	return len(qs), d.String()
}

func realpgQuery(q searchQuery) string {
	v := url.Values{"q": {q.q}}
	if q.limit != "" {
		v.Set("limit", q.limit)
	}
	if q.min != "" {
		v.Set("min_price", q.min)
	}
	if q.max != "" {
		v.Set("max_price", q.max)
	}
	return v.Encode()
}
