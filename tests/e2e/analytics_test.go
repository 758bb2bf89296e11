package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/codecs/money"
	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/testkit/registry"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// The contract's S3 layout and report names (CONTRACT §3), spelled out here
// rather than taken from the service's packages.
const (
	anBucket      = "analytics"
	anOrdersTopic = "dbserver1.public.orders"
	anItemsTopic  = "dbserver1.public.order_items"
	anStampLayout = "20060102_150405"
	anGenerated   = "2006-01-02T15:04:05.000Z"
)

var (
	anReports   = []string{"daily_sales", "product_sales", "customer_metrics", "order_status", "summary"}
	anReportKey = regexp.MustCompile(`^analytics/(daily_sales|product_sales|customer_metrics|order_status|summary)/([0-9]{8}_[0-9]{6})\.json$`)
	anWindowKey = regexp.MustCompile(`^analytics/windows/date=([0-9]{4}-[0-9]{2}-[0-9]{2})/([0-9]{4})\.json$`)
)

// TestAnalyticsMatchesOracle runs the analytics-service against kfake and
// gofakes3 over a generated stream of 20,000+ changes with connector
// replays. The first half of each topic is consumed by one instance, whose
// API and shutdown flush must show exactly the first half's figures; a
// second instance, started on the same broker with in-memory local storage
// so that its state can only come from the Kafka changelog, consumes the
// rest (all of order_items' rest before orders' rest). The newest S3
// reports, every window object and the HTTP API must then equal the oracle
// exactly.
//
// It runs twice: on the JsonConverter's envelope (20,000 changes) and on
// the AvroConverter's (framed Avro keys and values, schemas registered in
// tools/registry's registry, which the service reads; 8,000 changes, to
// keep CI time), with the same checks.
func TestAnalyticsMatchesOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, tc := range []struct {
		name    string
		format  dbzenc.Format
		changes int
	}{
		{"json", dbzenc.FormatEnvelope, 20000},
		{"avro", dbzenc.FormatAvro, 8000},
		{"jsonschema", dbzenc.FormatJSONSchema, 6000},
		{"protobuf", dbzenc.FormatProtobuf, 6000},
	} {
		t.Run(tc.name, func(t *testing.T) { analyticsMatchesOracle(t, tc.format, tc.changes) })
	}
}

func analyticsMatchesOracle(t *testing.T, format dbzenc.Format, size int) {
	const seed = 21
	testStart := time.Now()
	k := startKafka(t)
	_, s3c := testenv.S3(t, anBucket)

	changes := shopsim.New(shopsim.Config{Seed: seed, Products: 200}).Generate(size)
	opts := dbzenc.EncodeOptions{Format: format}
	env := map[string]string{
		"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ","),
		"S3_BUCKET":               anBucket,
		"FLUSH_INTERVAL":          "1",
	}
	if format.Registry() {
		sr := registry.New(t, registry.Options{})
		opts.Register = registry.Registrar(sr.URL(), registry.RegistrarOptions{SchemaType: format.SchemaType()})
		env["SCHEMA_REGISTRY_URL"] = sr.URL()
	}
	recs, err := shopsim.Encode(changes, opts)
	if err != nil {
		t.Fatal(err)
	}
	if format.Registry() {
		if _, _, ok := confluent.Split(recs[0].Value); !ok {
			t.Fatalf("record %s is not Confluent-framed", recs[0].Topic)
		}
	}
	// A connector restart about every 1,500 records at 20,000 changes.
	recs = shopsim.WithReplays(recs, seed, shopsim.Replay{Every: size * 3 / 40, Back: size * 3 / 200})
	byTopic := shopsim.ByTopic(recs)
	orders, items := byTopic[anOrdersTopic], byTopic[anItemsTopic]
	// Each topic is cut about half-way, inside a connector replay that has
	// re-sent an older version of a row: the first instance stops with
	// redelivered stale versions last in its input, which it must ignore.
	ho, hi := anSplit(orders), anSplit(items)
	t.Logf("cut: orders at %d of %d records, order_items at %d of %d", ho, len(orders), hi, len(items))
	first := append(append([]shopsim.Record{}, orders[:ho]...), items[:hi]...)
	// The rest arrives with order_items far ahead of orders: lines of
	// orders the service has not seen yet, and changes to orders and lines
	// whose first contribution was counted by the first instance.
	rest := append(append([]shopsim.Record{}, items[hi:]...), orders[ho:]...)

	want := oracle.ExpectAnalytics(changes)
	wantFirst := oracle.ExpectAnalytics(anChangesIn(changes, first))
	anCheckStream(t, size, changes, first, rest, want, wantFirst)

	cache := anObjectCache{}

	// First instance: the first half. Its flush interval is the longest
	// allowed, a day, so that the reports it leaves in S3 can only come
	// from its shutdown flush (with 1 s, periodic flushes go on while the
	// processor stops and would hide a missing shutdown flush).
	produce(t, k.Brokers(), first)
	env1 := maps.Clone(env)
	env1["FLUSH_INTERVAL"] = "86400"
	svc := start(t, config.Analytics, app.Analytics, env1, nil, s3c)
	running := svc
	defer func() {
		if running != nil {
			running.Stop(t)
		}
	}()
	eventually(t, 3*time.Minute, func() string {
		if n := consumed(t, svc.URL); n < len(first) {
			return fmt.Sprintf("consumed %d of %d records of the first half", n, len(first))
		}
		return ""
	}, svc)
	eventually(t, 3*time.Minute, func() string {
		return anCompareAll(t, nil, svc.URL, wantFirst, testStart, time.Time{}, cache)
	}, svc)

	// A graceful stop flushes once more: the newest reports are the
	// shutdown flush's, generated after the stop began, and exact.
	stopping := time.Now()
	running = nil
	svc.Stop(t)
	if d := anCompareAll(t, s3c, "", wantFirst, testStart, stopping, cache); d != "" {
		t.Fatalf("after the graceful stop (shutdown flush): %s", d)
	}

	// Second instance: recovers the group table from Kafka and goes on,
	// flushing every second.
	svc = start(t, config.Analytics, app.Analytics, env, nil, s3c)
	running = svc
	produce(t, k.Brokers(), rest)
	eventually(t, 4*time.Minute, func() string {
		if n := consumed(t, svc.URL); n < len(rest) {
			return fmt.Sprintf("consumed %d of %d records of the rest", n, len(rest))
		}
		return anCompareAll(t, s3c, svc.URL, want, testStart, time.Time{}, cache)
	}, svc)
	// The restarted instance resumed at the committed offsets: it read the
	// rest only, so the first half's figures came from the changelog.
	if n := consumed(t, svc.URL); n != len(rest) {
		t.Errorf("the restarted service consumed %d CDC records, want the %d of the rest: it did not resume at the committed offsets", n, len(rest))
	}
}

// anChangesIn returns, in commit order, the distinct changes the records
// carry (replays and tombstones add none).
func anChangesIn(changes []shopsim.Change, recs []shopsim.Record) []shopsim.Change {
	in := map[*shopsim.Change]bool{}
	for _, r := range recs {
		if r.Change != nil {
			in[r.Change] = true
		}
	}
	var out []shopsim.Change
	for i := range changes {
		if in[&changes[i]] {
			out = append(out, changes[i])
		}
	}
	return out
}

// anSplit returns the first cut at or after the middle of a topic's records
// where applying them in arrival order, without rejecting redeliveries,
// gives other figures than the distinct changes in commit order: the cut
// lies in a replay that re-sent an older version of a row after its newer
// one. (The whole stream cannot tell, as each replay ends with the newest
// record sent, so the cut is where a service that lets a redelivery move a
// row backwards shows it.)
func anSplit(recs []shopsim.Record) int {
	newest := map[int64]uint64{} // id → highest LSN delivered
	stale := map[int64]bool{}    // ids whose last delivered change is not their newest
	for h := 1; h <= len(recs); h++ {
		c := recs[h-1].Change
		if c == nil {
			continue
		}
		if c.Src.LSN > newest[c.ID] {
			newest[c.ID] = c.Src.LSN
			delete(stale, c.ID)
		} else if c.Src.LSN < newest[c.ID] {
			stale[c.ID] = true
		}
		if h < len(recs)/2 || len(stale) == 0 {
			continue
		}
		var delivered, dedup []shopsim.Change
		seen := map[*shopsim.Change]bool{}
		for _, r := range recs[:h] {
			if r.Change != nil {
				delivered = append(delivered, *r.Change)
				if !seen[r.Change] {
					seen[r.Change] = true
					dedup = append(dedup, *r.Change)
				}
			}
		}
		// The distinct changes in commit order: source.sequence's (last
		// commit LSN, LSN), the snapshot (which shares one LSN, below every
		// streamed change's) first. The LSN alone is not the commit order.
		slices.SortStableFunc(dedup, func(a, b shopsim.Change) int {
			return cmp.Or(cmp.Compare(a.Src.LastCommitLSN, b.Src.LastCommitLSN), cmp.Compare(a.Src.LSN, b.Src.LSN))
		})
		if !reflect.DeepEqual(oracle.ExpectAnalytics(delivered), oracle.ExpectAnalytics(dedup)) {
			return h
		}
	}
	return len(recs) / 2
}

// anCheckStream makes sure the generated stream exercises what the test
// claims to test.
func anCheckStream(t *testing.T, size int, changes []shopsim.Change, first, rest []shopsim.Record, want, wantFirst oracle.Analytics) {
	t.Helper()
	var problems []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(len(changes) >= size, "only %d changes", len(changes))
	replayed := func(recs []shopsim.Record) int {
		seen, n := map[*shopsim.Change]bool{}, 0
		for _, r := range recs {
			if r.Change != nil {
				if seen[r.Change] {
					n++
				}
				seen[r.Change] = true
			}
		}
		return n
	}
	check(replayed(first) > 0, "no replay in the first half")
	check(replayed(rest) > 0, "no replay in the rest")
	// Changes in the rest to orders and lines the first instance counted.
	inFirst, sentFirst := map[string]bool{}, map[*shopsim.Change]bool{}
	for _, r := range first {
		if r.Change != nil {
			inFirst[r.Change.Table+"/"+strconv.FormatInt(r.Change.ID, 10)] = true
			sentFirst[r.Change] = true
		}
	}
	revisited := map[string]map[debezium.Op]int{}
	for _, r := range rest {
		if c := r.Change; c != nil && !sentFirst[c] && inFirst[c.Table+"/"+strconv.FormatInt(c.ID, 10)] {
			if revisited[c.Table] == nil {
				revisited[c.Table] = map[debezium.Op]int{}
			}
			revisited[c.Table][c.Op]++
		}
	}
	for _, table := range []string{debezium.TableOrders, debezium.TableOrderItems} {
		check(revisited[table][debezium.OpUpdate] > 0 && revisited[table][debezium.OpDelete] > 0,
			"the rest neither updates nor deletes %s of the first half: %v", table, revisited[table])
	}
	check(len(want.ProductSales) > oracle.TopN, "only %d products sold: the top %d cut is not exercised", len(want.ProductSales), oracle.TopN)
	check(len(want.CustomerMetrics) > oracle.TopN, "only %d customers: the top %d cut is not exercised", len(want.CustomerMetrics), oracle.TopN)
	check(len(want.DailySales) >= 2, "only %d days", len(want.DailySales))
	check(len(want.OrderStatus) >= 4, "only %d statuses", len(want.OrderStatus))
	var delivered []shopsim.Change
	for _, r := range first {
		if r.Change != nil {
			delivered = append(delivered, *r.Change)
		}
	}
	check(!reflect.DeepEqual(oracle.ExpectAnalytics(delivered), wantFirst),
		"the first half does not end inside a replay that re-sent older row versions")
	check(want.Summary.TotalOrders > wantFirst.Summary.TotalOrders, "the rest adds no order")
	emptied := 0
	for start := range wantFirst.Windows {
		if _, ok := want.Windows[start]; !ok {
			emptied++
		}
	}
	t.Logf("stream: %d changes, %d+%d records, %d replayed; %d days, %d windows (%d emptied after the first half), %d products sold, %d customers, revisits in the rest %v",
		len(changes), len(first), len(rest), replayed(first)+replayed(rest), len(want.DailySales), len(want.Windows),
		emptied, len(want.ProductSales), len(want.CustomerMetrics), revisited)
	if len(problems) > 0 {
		t.Fatalf("the generated stream does not cover the test's claims:\n  %s", strings.Join(problems, "\n  "))
	}
}

// anObject is an S3 object of the analytics prefix.
type anObject struct {
	key, etag string
}

// anObjectCache keeps window objects' bodies by key and ETag, so that a
// poll only fetches the windows that were rewritten.
type anObjectCache map[string]struct {
	etag string
	body []byte
}

func anList(ctx context.Context, s3c *s3.Client, prefix string) ([]anObject, error) {
	var out []anObject
	p := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(anBucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", anBucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, anObject{aws.ToString(o.Key), aws.ToString(o.ETag)})
		}
	}
	return out, nil
}

func anGet(ctx context.Context, s3c *s3.Client, key string) ([]byte, error) {
	out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(anBucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// anCompareAll compares, with an S3 client, S3 (the newest reports and
// every window object) and, with a url, the HTTP API (and, with both, the
// API's reports with the newest S3 objects) with want. Report stamps must
// lie between notBefore and now; with generatedAfter set, the newest
// reports must have been generated after it.
func anCompareAll(t *testing.T, s3c *s3.Client, url string, want oracle.Analytics, notBefore, generatedAfter time.Time, cache anObjectCache) string {
	var d diffs
	var newest map[string]map[string]json.RawMessage
	if s3c != nil {
		var err error
		if newest, err = anCompareS3(&d, s3c, want, notBefore, generatedAfter, cache); err != nil {
			return err.Error()
		}
	}
	if url == "" || d.n > 0 {
		return d.String()
	}

	// The HTTP API: exact, and the same reports as the newest S3 objects.
	for _, name := range anReports {
		resp, err := httpClient.Get(url + "/v1/reports/" + name)
		if err != nil {
			return fmt.Sprintf("GET report %s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			d.add("GET /v1/reports/%s: %d %s", name, resp.StatusCode, body)
			continue
		}
		doc, err := anParseReport(name, body, time.Time{})
		if err != nil {
			d.add("GET /v1/reports/%s: %v", name, err)
			continue
		}
		anCompareReport(&d, "GET /v1/reports/"+name, name, doc, want)
		if newest == nil {
			continue
		}
		field := anDataField(name)
		var a, b bytes.Buffer
		if json.Compact(&a, doc[field]) != nil || json.Compact(&b, newest[name][field]) != nil || a.String() != b.String() {
			d.add("GET /v1/reports/%s %s differs from the newest S3 object's:\n    %.300s\n    %.300s", name, field, a.String(), b.String())
		}
	}
	anCompareWindowsAPI(t, &d, url, want)
	return d.String()
}

// anCompareS3 checks the objects under analytics/ and returns the newest
// report of each kind.
func anCompareS3(d *diffs, s3c *s3.Client, want oracle.Analytics, notBefore, generatedAfter time.Time, cache anObjectCache) (map[string]map[string]json.RawMessage, error) {
	ctx := context.Background()
	objs, err := anList(ctx, s3c, "analytics/")
	if err != nil {
		return nil, err
	}
	now := time.Now()

	// Keys: every object is a report or a window, named by the contract.
	stamps := map[string][]string{} // report → stamps
	var windows []anObject
	for _, o := range objs {
		if m := anReportKey.FindStringSubmatch(o.key); m != nil {
			at, err := time.Parse(anStampLayout, m[2])
			if err != nil {
				d.add("key %s: stamp %q is not YYYYmmdd_HHMMSS: %v", o.key, m[2], err)
				continue
			}
			if at.Before(notBefore.UTC().Truncate(time.Second)) || at.After(now.UTC()) {
				d.add("key %s: stamp %s is not a UTC time between the test's start %s and now %s", o.key, m[2],
					notBefore.UTC().Format(anStampLayout), now.UTC().Format(anStampLayout))
			}
			stamps[m[1]] = append(stamps[m[1]], m[2])
			continue
		}
		if anWindowKey.MatchString(o.key) {
			windows = append(windows, o)
			continue
		}
		d.add("unexpected object %s", o.key)
	}

	// The newest report of each kind is the last key: stamps sort by time.
	newest := map[string]map[string]json.RawMessage{}
	var newestStamp string
	for i, name := range anReports {
		s := slices.Sorted(slices.Values(stamps[name])) // as the keys sort
		if len(s) == 0 {
			d.add("no analytics/%s/ object yet", name)
			continue
		}
		times := make([]time.Time, len(s))
		for j := range s {
			times[j], _ = time.Parse(anStampLayout, s[j])
		}
		for j := range times {
			if times[j].After(times[len(times)-1]) {
				d.add("analytics/%s/: %s sorts before %s but is newer", name, s[j], s[len(s)-1])
			}
		}
		top := s[len(s)-1]
		if i == 0 {
			newestStamp = top
		} else if top != newestStamp {
			// Each flush writes all five reports under one stamp.
			d.add("newest %s is %s but newest %s is %s", name, top, anReports[0], newestStamp)
		}
		key := fmt.Sprintf("analytics/%s/%s.json", name, top)
		body, err := anGet(ctx, s3c, key)
		if err != nil {
			return nil, err
		}
		doc, err := anParseReport(name, body, generatedAfter)
		if err != nil {
			d.add("%s: %v", key, err)
			continue
		}
		newest[name] = doc
		anCompareReport(d, key, name, doc, want)
	}

	// Every window object equals the oracle's window, zeros when the
	// oracle has no live order in it, and every window of the oracle has
	// an object.
	seen := map[int64]bool{}
	for _, o := range windows {
		c, ok := cache[o.key]
		if !ok || c.etag != o.etag || o.etag == "" {
			body, err := anGet(ctx, s3c, o.key)
			if err != nil {
				return nil, err
			}
			c.etag, c.body = o.etag, body
			cache[o.key] = c
		}
		start, msg := anCompareWindowObject(o.key, c.body, want)
		if msg != "" {
			d.add("%s", msg)
		}
		seen[start] = true
	}
	for start := range want.Windows {
		if !seen[start] {
			d.add("window %s has live orders but no S3 object", time.Unix(start, 0).UTC().Format(time.RFC3339))
		}
	}
	return newest, nil
}

func anDataField(name string) string {
	if name == "summary" {
		return "metrics"
	}
	return "data"
}

// anParseReport checks a report document's envelope and returns its
// top-level members.
func anParseReport(name string, body []byte, generatedAfter time.Time) (map[string]json.RawMessage, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v: %.200s", err, body)
	}
	if string(doc["report_type"]) != strconv.Quote(name) {
		return nil, fmt.Errorf("report_type %s, want %q", doc["report_type"], name)
	}
	var gen string
	if err := json.Unmarshal(doc["generated_at"], &gen); err != nil {
		return nil, fmt.Errorf("generated_at %s: %v", doc["generated_at"], err)
	}
	at, err := time.Parse(anGenerated, gen)
	if err != nil {
		return nil, fmt.Errorf("generated_at %q: %v", gen, err)
	}
	if !generatedAfter.IsZero() && at.Before(generatedAfter.UTC().Truncate(time.Millisecond)) {
		return nil, fmt.Errorf("generated at %s, before the stop began at %s: no shutdown flush",
			gen, generatedAfter.UTC().Format(anGenerated))
	}
	if _, ok := doc[anDataField(name)]; !ok {
		return nil, fmt.Errorf("no %q member", anDataField(name))
	}
	return doc, nil
}

// anObjectMembers decodes a JSON object keeping the order of its members.
func anObjectMembers(raw json.RawMessage) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not a JSON object: %.100s", raw)
	}
	var keys []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		if _, dup := vals[key]; dup {
			return nil, nil, fmt.Errorf("member %q twice", key)
		}
		keys = append(keys, key)
		vals[key] = v
	}
	return keys, vals, nil
}

// anFields checks that raw is an object whose members named in want have
// exactly the JSON text given (money as the two-decimal number text).
func anFields(d *diffs, where string, raw json.RawMessage, want map[string]string) {
	if raw == nil {
		d.add("%s: missing", where)
		return
	}
	_, vals, err := anObjectMembers(raw)
	if err != nil {
		d.add("%s: %v", where, err)
		return
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if got := string(vals[n]); got != want[n] {
			if got == "" {
				got = "<missing>"
			}
			d.add("%s: %s = %s, want %s", where, n, got, want[n])
		}
	}
}

func anInt(n int64) string { return strconv.FormatInt(n, 10) }

// anCompareReport compares one report document with the oracle.
func anCompareReport(d *diffs, src, name string, doc map[string]json.RawMessage, want oracle.Analytics) {
	keys, vals, err := anObjectMembers(doc[anDataField(name)])
	if err != nil {
		d.add("%s: %v", src, err)
		return
	}
	sameKeys := func(wantKeys []string, ordered bool) {
		got := keys
		if !ordered {
			got = slices.Sorted(slices.Values(keys))
			wantKeys = slices.Sorted(slices.Values(wantKeys))
		}
		if !slices.Equal(got, wantKeys) {
			d.add("%s: keys %.400v, want %.400v", src, got, wantKeys)
		}
	}
	switch name {
	case "daily_sales":
		var days []string
		for day, w := range want.DailySales {
			days = append(days, day)
			anFields(d, src+" day "+day, vals[day], map[string]string{
				"total_amount": money.Format(w.TotalCents), "order_count": anInt(w.OrderCount)})
		}
		sameKeys(days, false)
	case "product_sales":
		// The top products, best first.
		var ids []string
		for _, p := range want.TopProducts {
			id := anInt(p.ProductID)
			ids = append(ids, id)
			anFields(d, src+" product "+id, vals[id], map[string]string{
				"quantity_sold": anInt(p.QuantitySold), "total_revenue": money.Format(p.RevenueCents)})
		}
		sameKeys(ids, true)
	case "customer_metrics":
		var ids []string
		for _, c := range want.TopCustomers {
			id := anInt(c.CustomerID)
			ids = append(ids, id)
			anFields(d, src+" customer "+id, vals[id], map[string]string{
				"order_count": anInt(c.OrderCount), "total_spent": money.Format(c.TotalSpentCents)})
		}
		sameKeys(ids, true)
	case "order_status":
		anCompareCounts(d, src, keys, vals, want.OrderStatus)
	case "summary":
		s := want.Summary
		anFields(d, src, doc["metrics"], map[string]string{
			"total_orders":         anInt(s.TotalOrders),
			"total_revenue":        money.Format(s.TotalRevenueCents),
			"unique_customers":     anInt(s.UniqueCustomers),
			"unique_products_sold": anInt(s.UniqueProductsSold),
		})
		bkeys, bvals, err := anObjectMembers(vals["order_status_breakdown"])
		if err != nil {
			d.add("%s: order_status_breakdown: %v", src, err)
			return
		}
		anCompareCounts(d, src+" order_status_breakdown", bkeys, bvals, s.StatusBreakdown)
	}
}

func anCompareCounts(d *diffs, src string, keys []string, vals map[string]json.RawMessage, want map[string]int64) {
	for status, n := range want {
		if got := string(vals[status]); got != anInt(n) {
			d.add("%s: %q = %s, want %d", src, status, got, n)
		}
	}
	for _, k := range keys {
		if _, ok := want[k]; !ok {
			d.add("%s: status %q = %s, but no live order has it", src, k, vals[k])
		}
	}
}

// anCompareWindowObject checks a window object against the oracle and
// returns its window start.
func anCompareWindowObject(key string, body []byte, want oracle.Analytics) (int64, string) {
	m := anWindowKey.FindStringSubmatch(key)
	start, err := time.Parse("2006-01-02 1504", m[1]+" "+m[2])
	if err != nil {
		return 0, fmt.Sprintf("%s: not a date and HHMM: %v", key, err)
	}
	if start.Unix()%oracle.WindowSeconds != 0 {
		return 0, fmt.Sprintf("%s: not the start of a 5-minute window", key)
	}
	var d diffs
	w := want.Windows[start.Unix()] // zeros when no live order is in it
	anFields(&d, key, body, map[string]string{
		"window_start": strconv.Quote(start.Format(time.RFC3339)),
		"window_end":   strconv.Quote(start.Add(oracle.WindowSeconds * time.Second).Format(time.RFC3339)),
		"orders":       anInt(w.Orders),
		"revenue":      money.Format(w.RevenueCents),
		"items_sold":   anInt(w.ItemsSold),
	})
	if d.n > 0 {
		return start.Unix(), strings.Join(d.msgs, "; ")
	}
	return start.Unix(), ""
}

// anCompareWindowsAPI checks GET /v1/reports/windows?date= for every day
// with a live window: the day's non-empty windows, in order.
func anCompareWindowsAPI(t *testing.T, d *diffs, url string, want oracle.Analytics) {
	byDay := map[string][]int64{}
	for start := range want.Windows {
		day := time.Unix(start, 0).UTC().Format("2006-01-02")
		byDay[day] = append(byDay[day], start)
	}
	for day, starts := range byDay {
		slices.Sort(starts)
		var resp struct {
			ReportType string            `json:"report_type"`
			Date       string            `json:"date"`
			Data       []json.RawMessage `json:"data"`
		}
		if code := getJSON(t, url+"/v1/reports/windows?date="+day, &resp); code != http.StatusOK {
			d.add("GET windows of %s: %d", day, code)
			continue
		}
		if resp.ReportType != "windows" || resp.Date != day || len(resp.Data) != len(starts) {
			d.add("GET windows of %s: report_type %q, date %q, %d windows, want %d", day, resp.ReportType, resp.Date, len(resp.Data), len(starts))
			continue
		}
		for i, start := range starts {
			w, at := want.Windows[start], time.Unix(start, 0).UTC()
			anFields(d, "GET windows of "+day, resp.Data[i], map[string]string{
				"window_start": strconv.Quote(at.Format(time.RFC3339)),
				"orders":       anInt(w.Orders),
				"revenue":      money.Format(w.RevenueCents),
				"items_sold":   anInt(w.ItemsSold),
			})
		}
	}
}
