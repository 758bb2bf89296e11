package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/dynalite"
	"github.com/cdcflow/cdcflow/tools/embedded"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
	invviews "github.com/cdcflow/cdcflow/views/inventory"
)

// The outage tests take a store away while the services run under a stream
// of changes, and check what the issue asks of them: the services go on
// consuming and answering from their Kafka state, /readyz names the
// degraded sink, the sink retries with backoff and its circuit breaker
// opens, so that it sends few requests while the store is away; once the
// store is back, every output converges to the oracle and /readyz is
// healthy again.

// outagePlan is the length of each outage and of the stream: the issue's
// full outages under -tags chaos, short ones in the default build (CI).
type outagePlan struct {
	pause, stop, s3 time.Duration // DynamoDB paused, DynamoDB stopped, S3 unreachable
	changes         int           // changes in each test's stream
}

func outagePlanFor() outagePlan {
	if chaosLong {
		return outagePlan{pause: 10 * time.Second, stop: 30 * time.Second, s3: 30 * time.Second, changes: 20000}
	}
	return outagePlan{pause: 6 * time.Second, stop: 5 * time.Second, s3: 5 * time.Second, changes: 4000}
}

// outageClientTimeout bounds each HTTP request of the services' DynamoDB
// clients in these tests. A paused (SIGSTOPped) dynalite accepts
// connections and never answers. In production the writer's per-request
// timeout (dynamo.DefaultRequestTimeout, 3 s) turns that into failures and
// the mirror reports a write stuck for mirror.StuckAfter (5 s) as degraded
// before any request fails (sinks/mirror's TestMirrorReportsAHangingWrite);
// the shorter client timeout here lets the short pause open the breaker too.
const outageClientTimeout = 500 * time.Millisecond

// outageCounter is an http.RoundTripper that records the time of every
// request a client sends (each attempt, retries included).
type outageCounter struct {
	base http.RoundTripper
	mu   sync.Mutex
	at   []time.Time
}

func newOutageCounter() *outageCounter {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32 // the writer sends 8 requests at once
	return &outageCounter{base: tr}
}

// RoundTrip implements http.RoundTripper.
func (c *outageCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.at = append(c.at, time.Now())
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

// between returns the times of the requests sent in [from, to).
func (c *outageCounter) between(from, to time.Time) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, at := range c.at {
		if !at.Before(from) && at.Before(to) {
			out = append(out, at)
		}
	}
	return out
}

// outageDynamo is a DynamoDB client for a service under test: its requests
// are counted and bounded by timeout.
func outageDynamo(endpoint string, timeout time.Duration, c *outageCounter) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       dynalite.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("dynalite", "dynalite", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Transport: c, Timeout: timeout},
	})
}

// outageS3 is an S3 client for a service under test, like
// embedded.NewS3Client, with its requests counted.
func outageS3(endpoint string, c *outageCounter) *s3.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("test", "test", ""))}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
		o.HTTPClient = &http.Client{Transport: c}
	})
}

// outageScrape reads a service's /metrics: value by series, as printed
// (name{labels}).
func outageScrape(t testing.TB, base string) map[string]float64 {
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
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics: %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// outageSum sums the series of metric name whose labels contain every one
// of labels (e.g. `sink="inventory-service"`); ok is false when there is
// none.
func outageSum(m map[string]float64, name string, labels ...string) (sum float64, ok bool) {
	for series, v := range m {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if match {
			sum, ok = sum+v, true
		}
	}
	return sum, ok
}

// outageReady is a /readyz answer.
type outageReady struct {
	Code   int    `json:"-"`
	Status string `json:"status"`
	Checks map[string]struct {
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"checks"`
	Degraded []string `json:"degraded"`
}

func outageReadyz(t testing.TB, base string) outageReady {
	t.Helper()
	resp, err := httpClient.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	var r outageReady
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("readyz: decode: %v", err)
	}
	r.Code = resp.StatusCode
	return r
}

// names reports whether the answer is "degraded" naming check as failed,
// with a detail.
func (r outageReady) names(check string) bool {
	c, ok := r.Checks[check]
	return r.Code == http.StatusOK && r.Status == "degraded" && slices.Contains(r.Degraded, check) && ok && !c.OK && c.Detail != ""
}

// healthy reports whether the answer is 200 "ready" with nothing degraded.
func (r outageReady) healthy() bool {
	return r.Code == http.StatusOK && r.Status == "ready" && len(r.Degraded) == 0
}

// outageStream is a generated stream cut into three phases in commit
// order: before the outage, during it, after it.
type outageStream struct {
	changes []shopsim.Change
	phases  [3][]shopsim.Record
	cuts    [3]int // changes[:cuts[i]] are those of phases 0..i
}

func newOutageStream(t *testing.T, seed uint64, n, products int) outageStream {
	t.Helper()
	s := outageStream{changes: shopsim.New(shopsim.Config{Seed: seed, Products: products}).Generate(n)}
	s.cuts = [3]int{len(s.changes) * 4 / 10, len(s.changes) * 8 / 10, len(s.changes)}
	from := 0
	for i, to := range s.cuts {
		recs, err := shopsim.Encode(s.changes[from:to], dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope})
		if err != nil {
			t.Fatal(err)
		}
		s.phases[i], from = recs, to
	}
	return s
}

// count is the number of records of phases 0..upto on the topics.
func (s outageStream) count(upto int, topics ...string) int {
	n := 0
	for _, recs := range s.phases[:upto+1] {
		for _, r := range recs {
			if slices.Contains(topics, r.Topic) {
				n++
			}
		}
	}
	return n
}

// outageChunks cuts records into n runs.
func outageChunks(recs []shopsim.Record, n int) [][]shopsim.Record {
	out := make([][]shopsim.Record, 0, n)
	for i := range n {
		out = append(out, recs[len(recs)*i/n:len(recs)*(i+1)/n])
	}
	return out
}

// outageSink names what a test watches of one service's sink: the series
// of its breaker gauge and retry counter (a metric name and labels).
type outageSink struct {
	svc      *service
	check    string   // the /readyz check of the sink
	breaker  string   // gauge, 2 while open
	retries  string   // counter
	labels   []string // of both
	pending  string   // optional gauge of the writes held back, > 0 during the outage
	counter  *outageCounter
	requests int // sent during the outage
}

// outageWatch is what the tests saw of the sinks during an outage.
type outageWatch struct {
	sinks       []*outageSink
	maxBreaker  map[string]float64 // by check
	maxPending  map[string]float64 // by check
	retries0    map[string]float64 // before the outage, by check
	retries     map[string]float64 // at its end
	degraded    map[string]bool    // /readyz named the check
	degradedAt  map[string]time.Duration
	openAt      map[string]time.Duration
	lastDetails map[string]string
}

func newOutageWatch(t *testing.T, sinks ...*outageSink) *outageWatch {
	w := &outageWatch{sinks: sinks, maxBreaker: map[string]float64{}, maxPending: map[string]float64{}, retries0: map[string]float64{}, retries: map[string]float64{},
		degraded: map[string]bool{}, degradedAt: map[string]time.Duration{}, openAt: map[string]time.Duration{}, lastDetails: map[string]string{}}
	for _, s := range sinks {
		m := outageScrape(t, s.svc.URL)
		w.retries0[s.check], _ = outageSum(m, s.retries, s.labels...)
		if b, ok := outageSum(m, s.breaker, s.labels...); !ok || b != 0 {
			t.Fatalf("%s before the outage: %s = %v (present %v), want 0", s.check, s.breaker, b, ok)
		}
	}
	return w
}

// sample records the sinks' metrics and readiness; start is the outage's.
func (w *outageWatch) sample(t *testing.T, start time.Time) {
	for _, s := range w.sinks {
		since := time.Since(start)
		m := outageScrape(t, s.svc.URL)
		b, _ := outageSum(m, s.breaker, s.labels...)
		if b > w.maxBreaker[s.check] {
			w.maxBreaker[s.check] = b
		}
		if b == 2 {
			if _, ok := w.openAt[s.check]; !ok {
				w.openAt[s.check] = since
			}
		}
		w.retries[s.check], _ = outageSum(m, s.retries, s.labels...)
		if s.pending != "" {
			p, _ := outageSum(m, s.pending)
			w.maxPending[s.check] = max(w.maxPending[s.check], p)
		}
		r := outageReadyz(t, s.svc.URL)
		if r.names(s.check) {
			if !w.degraded[s.check] {
				w.degradedAt[s.check] = since
			}
			w.degraded[s.check] = true
			w.lastDetails[s.check] = r.Checks[s.check].Detail
		}
	}
}

// check fails the test unless every sink was reported degraded, opened its
// breaker and retried during the outage, and sent at most maxRequests.
func (w *outageWatch) check(t *testing.T, start, end time.Time, maxRequests func(outage time.Duration) int) {
	t.Helper()
	outage := end.Sub(start)
	for _, s := range w.sinks {
		times := s.counter.between(start, end)
		s.requests = len(times)
		var gaps []string
		for i := 1; i < len(times) && i <= 12; i++ {
			gaps = append(gaps, times[i].Sub(times[i-1]).Round(time.Millisecond).String())
		}
		pending := ""
		if s.pending != "" {
			pending = fmt.Sprintf("; at most %v keys pending", w.maxPending[s.check])
		}
		t.Logf("%s: outage %v; degraded in /readyz after %v (%q); breaker open after %v (max state %v); retries %v → %v; %d requests during the outage (first gaps %v)%s",
			s.check, outage.Round(time.Millisecond), w.degradedAt[s.check].Round(time.Millisecond), w.lastDetails[s.check],
			w.openAt[s.check].Round(time.Millisecond), w.maxBreaker[s.check], w.retries0[s.check], w.retries[s.check], s.requests, gaps, pending)
		if !w.degraded[s.check] {
			t.Errorf("%s: /readyz never reported it degraded during the outage", s.check)
		}
		if w.maxBreaker[s.check] != 2 {
			t.Errorf("%s: %s never showed the breaker open (2) during the outage; max %v", s.check, s.breaker, w.maxBreaker[s.check])
		}
		if w.retries[s.check] <= w.retries0[s.check] {
			t.Errorf("%s: %s did not grow during the outage (%v → %v)", s.check, s.retries, w.retries0[s.check], w.retries[s.check])
		}
		if s.pending != "" && w.maxPending[s.check] == 0 {
			t.Errorf("%s: %s stayed 0: the sink had nothing to write during the outage", s.check, s.pending)
		}
		if limit := maxRequests(outage); s.requests > limit {
			t.Errorf("%s: %d requests during a %v outage, more than %d: the sink hammers the store", s.check, s.requests, outage.Round(time.Millisecond), limit)
		}
	}
}

// recovered returns "" once every sink's breaker is closed and /readyz is
// healthy.
func (w *outageWatch) recovered(t *testing.T) string {
	for _, s := range w.sinks {
		m := outageScrape(t, s.svc.URL)
		if b, _ := outageSum(m, s.breaker, s.labels...); b != 0 {
			return fmt.Sprintf("%s: %s = %v after the outage", s.check, s.breaker, b)
		}
		if r := outageReadyz(t, s.svc.URL); !r.healthy() {
			return fmt.Sprintf("%s: /readyz after the outage: %d %s, degraded %v", s.check, r.Code, r.Status, r.Degraded)
		}
	}
	return ""
}

// outageDynamoRequests bounds the BatchWriteItem requests of one writer
// during an outage: before its breaker opens, at most Concurrency (8)
// requests per counted failure for the threshold (5) plus one round in
// flight; then one probe per cooldown (5 s); plus the mirror's first
// attempts. A writer retrying without a breaker sends several requests per
// second per batch.
func outageDynamoRequests(outage time.Duration) int {
	return 8*(5+1) + int(outage/(5*time.Second)) + 2
}

// outageCompareStock compares GET /v1/inventory/{id} of every product of
// want with it (stock, name, price).
func outageCompareStock(t *testing.T, base string, want map[int64]oracle.InventoryItem) string {
	var d diffs
	for id, w := range want {
		var s invviews.Stock
		if code := getJSON(t, fmt.Sprintf("%s/v1/inventory/%d", base, id), &s); code != http.StatusOK {
			d.add("GET product %d: %d", id, code)
			continue
		}
		if s.StockQuantity != w.Stock || s.Name != w.Name || s.PriceCents != w.PriceCents {
			d.add("API product %d: stock %d name %q price %d, want %d %q %d", id, s.StockQuantity, s.Name, s.PriceCents, w.Stock, w.Name, w.PriceCents)
		}
	}
	return d.String()
}

// outageCompareItems checks that DynamoDB holds the items of want (a
// subset of the products) with their stock and name.
func outageCompareItems(dyn *dynamodb.Client, want map[int64]oracle.InventoryItem) string {
	got := map[int64]map[string]types.AttributeValue{}
	p := dynamodb.NewScanPaginator(dyn, &dynamodb.ScanInput{TableName: aws.String("inventory-realtime")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			return fmt.Sprintf("scan: %v", err)
		}
		for _, it := range page.Items {
			id, _ := strconv.ParseInt(attrString(it["product_id"]), 10, 64)
			got[id] = it
		}
	}
	var d diffs
	for id, w := range want {
		it, ok := got[id]
		switch {
		case !ok:
			d.add("product %d, written before the outage, is missing", id)
		case attrString(it["stock_quantity"]) != strconv.FormatInt(w.Stock, 10) || attrString(it["name"]) != w.Name:
			d.add("product %d: stock %s name %q, want %d %q", id, attrString(it["stock_quantity"]), attrString(it["name"]), w.Stock, w.Name)
		}
	}
	return d.String()
}

// outageChanged counts the products whose stock differs between a and b.
func outageChanged(a, b map[int64]oracle.InventoryItem) int {
	n := 0
	for id, w := range b {
		if v, ok := a[id]; !ok || v.Stock != w.Stock {
			n++
		}
	}
	return n
}

// outageDuring runs the outage: for at least minimum it produces the chunks
// spread over it and samples the watch every 250 ms; then, still inside the
// outage, it waits (at most two minutes more) until caughtUp returns ""
// (the services answer the changes produced during it). It returns when
// the outage may end.
func outageDuring(t *testing.T, brokers []string, start time.Time, minimum time.Duration, chunks [][]shopsim.Record, w *outageWatch, caughtUp func() string, running ...*service) {
	t.Helper()
	next := 0
	deadline := start.Add(minimum + 2*time.Minute)
	var last string
	for {
		since := time.Since(start)
		for next < len(chunks) && since >= time.Duration(next)*minimum/time.Duration(len(chunks)+1) {
			produce(t, brokers, chunks[next])
			next++
		}
		w.sample(t, start)
		if next == len(chunks) && since >= minimum {
			if last = caughtUp(); last == "" {
				return
			}
		}
		for _, s := range running {
			if stopped, err := s.Stopped(); stopped {
				t.Fatalf("a service stopped during the outage: %v", err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the services did not catch up with the changes made during the outage: %s", last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestChaosDynamoPause pauses dynalite (SIGSTOP: connections hang, nothing
// answers) while the inventory-service consumes a stream of changes, then
// resumes it.
func TestChaosDynamoPause(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	plan := outagePlanFor()
	db := testenv.Dynalite(t)
	outageInventory(t, db, plan.pause, plan.changes, 41, func() error { return db.Pause() }, func() error { return db.Resume() }, false)
}

// TestChaosDynamoRestart stops dynalite (SIGKILL: connections refused)
// while the inventory-service and the search-indexer consume a stream of
// changes, and starts it again on the same port with its LevelDB directory:
// the items written before the outage must still be there (products the
// stream no longer changes are only in DynamoDB from before).
func TestChaosDynamoRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	plan := outagePlanFor()
	db := testenv.DynaliteWith(t, dynalite.Options{Path: t.TempDir()})
	outageInventory(t, db, plan.stop, plan.changes, 42, db.Kill, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return db.Restart(ctx)
	}, true)
}

// outageInventory runs the inventory-service through a DynamoDB outage of
// at least minimum made by down and ended by up. With restarted (DynamoDB
// is restarted rather than resumed) the search-indexer runs too, and the
// stream must leave products unchanged since before the outage, whose items
// only survive in DynamoDB's own storage.
func outageInventory(t *testing.T, db *dynalite.Server, minimum time.Duration, changes int, seed uint64, down, up func() error, restarted bool) {
	withSearch := restarted
	ctx := context.Background()
	dyn, err := db.Client(ctx) // the test's own client, for comparisons
	if err != nil {
		t.Fatal(err)
	}
	k := startKafka(t)
	// After a restart, the products the stream leaves alone after the first
	// phase show that DynamoDB kept its items: a larger catalogue leaves
	// more of them.
	products := 200
	if restarted {
		products = 800
	}
	stream := newOutageStream(t, seed, changes, products)
	invTopics := []string{"dbserver1.public.products", "dbserver1.public.order_items"}

	produce(t, k.Brokers(), stream.phases[0])
	invCounter := newOutageCounter()
	invEnv := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ","), "DYNAMODB_TABLE": "inventory-realtime"}
	inv := start(t, config.Inventory, app.Inventory, invEnv, outageDynamo(db.Endpoint(), outageClientTimeout, invCounter), nil)
	defer inv.Stop(t)
	running := []*service{inv}
	sinks := []*outageSink{{svc: inv, check: "inventory-service/dynamodb", breaker: "dynamodb_writer_breaker_state",
		retries: "dynamodb_writer_retries_total", labels: []string{`sink="inventory-service"`}, counter: invCounter,
		pending: "mirror_pending_keys"}}
	var search *service
	if withSearch {
		c := newOutageCounter()
		env := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ","), "DYNAMODB_TABLE": searchTable}
		search = start(t, config.Search, app.Search, env, outageDynamo(db.Endpoint(), outageClientTimeout, c), nil)
		defer search.Stop(t)
		running = append(running, search)
		sinks = append(sinks, &outageSink{svc: search, check: "search-indexer/dynamodb", breaker: "dynamodb_writer_breaker_state",
			retries: "dynamodb_writer_retries_total", labels: []string{`sink="search-indexer"`}, counter: c,
			pending: "mirror_pending_keys"})
	}

	// Before: everything of the first phase in DynamoDB.
	want0 := oracle.ExpectInventory(stream.changes[:stream.cuts[0]])
	eventually(t, 3*time.Minute, func() string { return compareDynamo(t, dyn, want0) }, running...)
	if withSearch {
		w0 := oracle.ExpectSearch(stream.changes[:stream.cuts[0]])
		sc0 := searchCatalogueOf(stream.changes[:stream.cuts[0]], w0)
		eventually(t, 3*time.Minute, func() string { return compareSearchDynamo(dyn, w0, sc0) }, running...)
	}
	for _, s := range running {
		if r := outageReadyz(t, s.URL); !r.healthy() {
			t.Fatalf("%s before the outage: /readyz %d %s, degraded %v", s.URL, r.Code, r.Status, r.Degraded)
		}
	}

	// The outage: the second phase is produced while DynamoDB is away; the
	// service must consume it and answer its stock from the Kafka state.
	w := newOutageWatch(t, sinks...)
	consumed0 := consumed(t, inv.URL)
	want1 := oracle.ExpectInventory(stream.changes[:stream.cuts[1]])
	if n := outageChanged(want0, want1); n < 20 {
		t.Fatalf("only %d products change stock during the outage: the stream is too small", n)
	}
	outageStart := time.Now()
	if err := down(); err != nil {
		t.Fatal(err)
	}
	downFor := func() time.Duration { return time.Since(outageStart).Round(time.Millisecond) }
	outageDuring(t, k.Brokers(), outageStart, minimum, outageChunks(stream.phases[1], 4), w, func() string {
		if n, want := consumed(t, inv.URL), stream.count(1, invTopics...); n < want {
			return fmt.Sprintf("consumed %d of %d records", n, want)
		}
		return outageCompareStock(t, inv.URL, want1)
	}, running...)
	consumedDuring := consumed(t, inv.URL) - consumed0
	outageEnd := time.Now()
	if err := up(); err != nil {
		t.Fatal(err)
	}
	// The items of the products the rest of the stream leaves alone are
	// never written again: after a restart DynamoDB must still hold them.
	want := oracle.ExpectInventory(stream.changes)
	kept := map[int64]oracle.InventoryItem{}
	for id, w := range want {
		if w0, ok := want0[id]; ok && w0 == w {
			kept[id] = w
		}
	}
	t.Logf("%d of %d live products are unchanged since before the outage", len(kept), len(want))
	if restarted {
		if len(kept) < 10 {
			t.Fatalf("only %d products are unchanged since before the outage: too few to show that DynamoDB kept its items across the restart", len(kept))
		}
		if d := outageCompareItems(dyn, kept); d != "" {
			t.Fatalf("right after the restart: %s", d)
		}
	}
	t.Logf("DynamoDB away for %v; meanwhile the inventory-service consumed %d records and answered the new stock of %d products",
		outageEnd.Sub(outageStart).Round(time.Millisecond), consumedDuring, outageChanged(want0, want1))
	w.check(t, outageStart, outageEnd, outageDynamoRequests)

	// After: the rest of the stream; everything converges.
	produce(t, k.Brokers(), stream.phases[2])
	eventually(t, 3*time.Minute, func() string { return compareDynamo(t, dyn, want) }, running...)
	if d := compareAPI(t, inv.URL, want, stream.changes); d != "" {
		t.Fatal(d)
	}
	if withSearch {
		ws := oracle.ExpectSearch(stream.changes)
		sc := searchCatalogueOf(stream.changes, ws)
		eventually(t, 3*time.Minute, func() string { return compareSearchDynamo(dyn, ws, sc) }, running...)
		eventually(t, time.Minute, func() string { return compareSearchProducts(t, search.URL, ws, sc) }, running...)
	}
	converged := downFor()
	eventually(t, time.Minute, func() string { return w.recovered(t) }, running...)
	m := outageScrape(t, inv.URL)
	lag, ok := outageSum(m, "mirror_lag_seconds")
	if !ok || lag <= 0 {
		t.Errorf("mirror_lag_seconds = %v (exported: %v), want the lag of the last write", lag, ok)
	}
	pending, _ := outageSum(m, "mirror_pending_keys")
	if pending != 0 {
		t.Errorf("mirror_pending_keys = %v after convergence, want 0", pending)
	}
	requests, _ := outageSum(m, "dynamodb_writer_requests_total", `sink="inventory-service"`)
	t.Logf("converged %v after the outage began; mirror_lag_seconds %.0f (the stream's simulated commit times are in the past), mirror_pending_keys %v, dynamodb_writer_requests_total %v",
		converged, lag, pending, requests)
}

// TestChaosS3Outage takes the S3 endpoint off the network (the listener
// and every connection closed, so requests are refused) while the
// analytics-service consumes a stream of changes, flushing its reports
// every second and archiving dead letters (some arrive during the outage),
// then serves it again on the same port with the same objects.
func TestChaosS3Outage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const dlqBucket = "dead-letters"
	plan := outagePlanFor()
	testStart := time.Now()
	k := startKafka(t)
	srv, s3c := outageStartS3(t, anBucket, dlqBucket)
	stream := newOutageStream(t, 43, plan.changes, 200)
	anTopics := []string{anOrdersTopic, anItemsTopic}

	produce(t, k.Brokers(), stream.phases[0])
	counter := newOutageCounter()
	env := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ","), "S3_BUCKET": anBucket,
		"DLQ_S3_BUCKET": dlqBucket, "FLUSH_INTERVAL": "1"}
	svc := start(t, config.Analytics, app.Analytics, env, nil, outageS3(srv.Endpoint(), counter))
	defer svc.Stop(t)
	cache := anObjectCache{}
	want0 := oracle.ExpectAnalytics(stream.changes[:stream.cuts[0]])
	eventually(t, 3*time.Minute, func() string { return anCompareAll(t, s3c, svc.URL, want0, testStart, time.Time{}, cache) }, svc)
	if r := outageReadyz(t, svc.URL); !r.healthy() {
		t.Fatalf("before the outage: /readyz %d %s, degraded %v", r.Code, r.Status, r.Degraded)
	}

	// Dead letters arrive during the outage: records that are not JSON,
	// keyed like real orders, spread over the outage's chunks.
	chunks := outageChunks(stream.phases[1], 4)
	poison := 0
	for i := range chunks {
		chunk := slices.Clone(chunks[i])
		for j := range 2 {
			chunk = append(chunk, shopsim.Record{Topic: anOrdersTopic, Key: []byte(fmt.Sprintf(`{"id":%d}`, 1+i*2+j)),
				Value: []byte(fmt.Sprintf("poison %d-%d: not a Debezium record", i, j))})
			poison++
		}
		chunks[i] = chunk
	}

	w := newOutageWatch(t,
		&outageSink{svc: svc, check: "analytics-service/s3", breaker: "analytics_s3_breaker_state", retries: "analytics_s3_retries_total", counter: counter},
		&outageSink{svc: svc, check: "analytics-service/dlq-s3", breaker: "dlq_s3_breaker_state", retries: "dlq_s3_retries_total", counter: counter})
	consumed0 := consumed(t, svc.URL)
	want1 := oracle.ExpectAnalytics(stream.changes[:stream.cuts[1]])
	outageStart := time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	outageDuring(t, k.Brokers(), outageStart, plan.s3, chunks, w, func() string {
		if n, want := consumed(t, svc.URL), stream.count(1, anTopics...)+poison; n < want {
			return fmt.Sprintf("consumed %d of %d records", n, want)
		}
		return anCompareAll(t, nil, svc.URL, want1, testStart, time.Time{}, cache)
	}, svc)
	consumedDuring := consumed(t, svc.URL) - consumed0
	outageEnd := time.Now()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("S3 away for %v; meanwhile the analytics-service consumed %d records (%d dead letters) and its API answered the new figures",
		outageEnd.Sub(outageStart).Round(time.Millisecond), consumedDuring, poison)
	// Both sinks share the client: the bound is the sum of theirs. The
	// flusher: BreakerThreshold (5) failed puts, then a probe per cooldown
	// (5 s); the archiver: its 4 writers for the threshold plus one round,
	// then a probe per cooldown.
	w.check(t, outageStart, outageEnd, func(outage time.Duration) int {
		probes := int(outage/(5*time.Second)) + 1
		return (5 + probes) + (4*(5+1) + probes) + 2
	})

	produce(t, k.Brokers(), stream.phases[2])
	want := oracle.ExpectAnalytics(stream.changes)
	eventually(t, 3*time.Minute, func() string {
		if n, want := consumed(t, svc.URL), stream.count(2, anTopics...)+poison; n < want {
			return fmt.Sprintf("consumed %d of %d records", n, want)
		}
		return anCompareAll(t, s3c, svc.URL, want, testStart, time.Time{}, cache)
	}, svc)
	eventually(t, time.Minute, func() string {
		objs, err := outageList(s3c, dlqBucket, "dlq/analytics-service/")
		if err != nil {
			return err.Error()
		}
		if len(objs) != poison {
			return fmt.Sprintf("%d dead letters archived in S3, want %d: %v", len(objs), poison, objs)
		}
		return ""
	}, svc)
	converged := time.Since(outageStart).Round(time.Millisecond)
	eventually(t, time.Minute, func() string { return w.recovered(t) }, svc)
	m := outageScrape(t, svc.URL)
	failures, _ := outageSum(m, "analytics_s3_put_failures_total")
	dlqFailures, _ := outageSum(m, "dlq_s3_put_failures_total")
	dead, _ := outageSum(m, "cdc_dead_letters_total")
	t.Logf("converged %v after the outage began; analytics_s3_put_failures_total %v, dlq_s3_put_failures_total %v, cdc_dead_letters_total %v",
		converged, failures, dlqFailures, dead)
	if int(dead) != poison {
		t.Errorf("cdc_dead_letters_total = %v, want %d", dead, poison)
	}
}

// outageStartS3 starts an in-memory S3 endpoint with buckets, closed when
// the test ends, and a client for the test's own reads.
func outageStartS3(t *testing.T, buckets ...string) (*embedded.S3, *s3.Client) {
	t.Helper()
	srv, err := embedded.StartS3(embedded.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	for _, b := range buckets {
		if err := srv.CreateBucket(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	c, err := embedded.NewS3Client(context.Background(), srv.Endpoint(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// outageList lists the keys under prefix in bucket.
func outageList(s3c *s3.Client, bucket, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}
