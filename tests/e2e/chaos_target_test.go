package e2e

// What the chaos tests share: a service under test with its infrastructure,
// its input stream and its oracle comparison (chaosTarget), a progressive
// producer (chaosFeed), a seeded random source, and the final check that
// everything was consumed and the end state equals the oracle.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/embedded"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// chaosTarget is one service binary under test: its infrastructure, the
// records to feed it and how to compare its end state with the oracle.
type chaosTarget struct {
	binary string // inventory-service, analytics-service, search-indexer
	group  string // its Goka group
	inputs []string
	mirror bool // whether a mirror group copies the table to DynamoDB
	k      *embedded.Kafka
	env    map[string]string // the configuration of every instance

	changes int              // distinct changes on the service's input topics
	records []shopsim.Record // what the connector writes, with replays and tombstones

	dyn *dynamodb.Client // inventory, search
	s3c *s3.Client       // analytics

	// converge waits until the end state (DynamoDB or S3, and the HTTP API
	// at url) equals the oracle, failing the test when it does not.
	converge func(t *testing.T, url string, within time.Duration, running ...*procService)
}

// chaosSeed is the seed of a chaos test: CHAOS_SEED when set, else def.
func chaosSeed(t testing.TB, def uint64) uint64 {
	t.Helper()
	seed := def
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (set CHAOS_SEED to replay another)", seed)
	return seed
}

// chaosRand is the test's random source for delays and choices.
func chaosRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5eed_c4a0_5c4a_05)) }

// chaosBetween returns a duration uniformly in [lo, hi].
func chaosBetween(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}

// chaosAWSEnv is the AWS part of a service's environment for an endpoint.
func chaosAWSEnv(endpoint string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "chaos", "AWS_SECRET_ACCESS_KEY": "chaos",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
}

// chaosStream generates a stream of at least n changes on the service's
// input topics, encodes it as a connector with replays writes it, and
// returns the changes (all tables, for the oracles) and the records of the
// input topics.
func chaosStream(t *testing.T, cfg shopsim.Config, n int, inputs []string, opts dbzenc.EncodeOptions, replay shopsim.Replay) ([]shopsim.Change, []shopsim.Record, int) {
	t.Helper()
	in := map[string]bool{}
	for _, topic := range inputs {
		in[strings.TrimPrefix(topic, "dbserver1.public.")] = true
	}
	shop := shopsim.New(cfg)
	changes := shop.Snapshot()
	count := func() int {
		c := 0
		for _, ch := range changes {
			if in[ch.Table] {
				c++
			}
		}
		return c
	}
	for count() < n {
		for range 1000 {
			changes = append(changes, shop.Next()...)
		}
	}
	recs, err := shopsim.Encode(changes, opts)
	if err != nil {
		t.Fatal(err)
	}
	recs = shopsim.WithReplays(recs, cfg.Seed, replay)
	var mine []shopsim.Record
	for _, r := range recs {
		if in[strings.TrimPrefix(r.Topic, "dbserver1.public.")] {
			mine = append(mine, r)
		}
	}
	return changes, mine, count()
}

// chaosInventory sets up the inventory-service against kfake and dynalite
// with a stream of at least n changes of products and order_items.
func chaosInventory(t *testing.T, seed uint64, n int) *chaosTarget {
	t.Helper()
	db := testenv.Dynalite(t)
	dyn, err := db.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k := startKafka(t)
	inputs := []string{"dbserver1.public.products", "dbserver1.public.order_items"}
	changes, recs, distinct := chaosStream(t, shopsim.Config{Seed: seed, Products: 200}, n, inputs,
		dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope}, shopsim.Replay{Every: 1500, Back: 300})
	want := oracle.ExpectInventory(changes)
	if len(want) < 100 {
		t.Fatalf("oracle has only %d products; the stream is too small to mean anything", len(want))
	}
	env := chaosAWSEnv(db.Endpoint())
	env["KAFKA_BOOTSTRAP_SERVERS"] = strings.Join(k.Brokers(), ",")
	env["DYNAMODB_TABLE"] = "inventory-realtime"
	// A restart consumes the backlog of each topic at its own pace, so
	// order lines can run far ahead of their product versions; the chaos
	// tests are about crashes, not about the documented PENDING_LIMIT
	// bound, which verify checks was never exceeded.
	env["PENDING_LIMIT"] = "4096"
	return &chaosTarget{
		binary: "inventory-service", group: "inventory-service-group", inputs: inputs, mirror: true, k: k, env: env,
		changes: distinct, records: recs, dyn: dyn,
		converge: func(t *testing.T, url string, within time.Duration, running ...*procService) {
			t.Helper()
			chaosEventually(t, within, func() string {
				if d := compareDynamo(t, dyn, want); d != "" {
					return "DynamoDB: " + d
				}
				if d := compareAPI(t, url, want, changes); d != "" {
					return "API: " + d
				}
				return ""
			}, running...)
		},
	}
}

// chaosAnalytics sets up the analytics-service against kfake and gofakes3
// with a stream of at least n changes of orders and order_items, flushing
// its reports every second.
func chaosAnalytics(t *testing.T, seed uint64, n int) *chaosTarget {
	t.Helper()
	testStart := time.Now()
	k := startKafka(t)
	s3srv, s3c := testenv.S3(t, anBucket)
	inputs := []string{anOrdersTopic, anItemsTopic}
	changes, recs, distinct := chaosStream(t, shopsim.Config{Seed: seed, Products: 200}, n, inputs,
		dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope}, shopsim.Replay{Every: 1500, Back: 300})
	want := oracle.ExpectAnalytics(changes)
	if len(want.ProductSales) <= oracle.TopN || len(want.CustomerMetrics) <= oracle.TopN {
		t.Fatalf("only %d products sold and %d customers: the top %d cut is not exercised",
			len(want.ProductSales), len(want.CustomerMetrics), oracle.TopN)
	}
	env := chaosAWSEnv(s3srv.Endpoint())
	env["KAFKA_BOOTSTRAP_SERVERS"] = strings.Join(k.Brokers(), ",")
	env["S3_BUCKET"] = anBucket
	env["FLUSH_INTERVAL"] = "1"
	cache := anObjectCache{}
	return &chaosTarget{
		binary: "analytics-service", group: "analytics-service-group", inputs: inputs, k: k, env: env,
		changes: distinct, records: recs, s3c: s3c,
		converge: func(t *testing.T, url string, within time.Duration, running ...*procService) {
			t.Helper()
			chaosEventually(t, within, func() string {
				d := anCompareAll(t, s3c, url, want, testStart, time.Time{}, cache)
				if d == "" {
					return ""
				}
				// S3 differences hide the API's: tell them apart.
				if api := anCompareAll(t, nil, url, want, testStart, time.Time{}, nil); api != "" {
					return "S3: " + d + "\nAPI: " + api
				}
				return "S3: " + d + "\n(the API equals the oracle)"
			}, running...)
		},
	}
}

// chaosSearchMix is the search tests' catalogue-heavy mix with as many
// products deleted as created, so that the catalogue stays about its
// initial size however long the stream (the searches' coverage checks are
// sized for about a thousand products).
var chaosSearchMix = func() shopsim.Weights {
	w := searchMix
	w.NewProduct, w.ProductInsertUpdate, w.DeleteProduct, w.DeleteSoldProduct = 3, 1, 3, 1
	return w
}()

// chaosSearch sets up the search-indexer against kfake and dynalite with a
// catalogue-heavy stream of at least n product changes.
func chaosSearch(t *testing.T, seed uint64, n int) *chaosTarget {
	t.Helper()
	db := testenv.Dynalite(t)
	dyn, err := db.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k := startKafka(t)
	inputs := []string{"dbserver1.public.products"}
	changes, recs, distinct := chaosStream(t, shopsim.Config{Seed: seed, Products: 1100, Weights: chaosSearchMix}, n, inputs,
		dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope}, shopsim.Replay{Every: 800, Back: 200})
	want := oracle.ExpectSearch(changes)
	sc := searchCatalogueOf(changes, want)
	if len(want) < 1000 || len(sc.deleted) < 100 || sc.renames < 100 {
		t.Fatalf("the stream is too small to mean anything: %d live products, %d deleted, %d renames",
			len(want), len(sc.deleted), sc.renames)
	}
	env := chaosAWSEnv(db.Endpoint())
	env["KAFKA_BOOTSTRAP_SERVERS"] = strings.Join(k.Brokers(), ",")
	env["DYNAMODB_TABLE"] = searchTable
	return &chaosTarget{
		binary: "search-indexer", group: "search-indexer-group", inputs: inputs, mirror: true, k: k, env: env,
		changes: distinct, records: recs, dyn: dyn,
		converge: func(t *testing.T, url string, within time.Duration, running ...*procService) {
			t.Helper()
			chaosEventually(t, within, func() string {
				if d := compareSearchDynamo(dyn, want, sc); d != "" {
					return "DynamoDB: " + d
				}
				if d := compareSearchProducts(t, url, want, sc); d != "" {
					return "API products: " + d
				}
				return compareSearchIndexes(context.Background(), dyn, want)
			}, running...)
			// The searches, once everything else is there (they log their
			// coverage on each call).
			if _, d := compareSearchQueries(t, url, want); d != "" {
				t.Fatalf("searches: %s", d)
			}
		},
	}
}

// groups are the consumer groups of the target with the topics each
// consumes, in the order work flows: the processor's inputs, its loopback,
// then the mirror over the table's changelog.
func (c *chaosTarget) groups() []procGroup {
	gs := []procGroup{
		{c.group, c.inputs},
		{c.group, []string{c.group + "-loop"}},
	}
	if c.mirror {
		gs = append(gs, procGroup{c.group + "-dynamodb", []string{c.group + "-table"}})
	}
	return gs
}

// nudge runs procNudgeMembers on the target's consumer groups until the
// test ends.
func (c *chaosTarget) nudge(t *testing.T, running func() []*procService) {
	groups := []string{c.group}
	if c.mirror {
		groups = append(groups, c.group+"-dynamodb")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	procNudgeMembers(ctx, t, c.k, groups, running)
}

// start starts an instance of the target's binary.
func (c *chaosTarget) start(t *testing.T, label string, extra map[string]string) *procService {
	t.Helper()
	env := map[string]string{}
	for k, v := range c.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	return procStart(t, c.binary, label, env)
}

// verify waits until every group has consumed everything, then until the
// end state equals the oracle, then checks it once more a moment later (a
// late duplicate application would show), and that nothing went to the
// dead-letter topic.
func (c *chaosTarget) verify(t *testing.T, url string, within time.Duration, running ...*procService) {
	t.Helper()
	start := time.Now()
	t.Log(procWaitCaughtUp(t, c.k, within, running, c.groups()...))
	c.converge(t, url, 90*time.Second, running...)
	t.Logf("end state equals the oracle %v after the input was complete", time.Since(start).Round(100*time.Millisecond))
	time.Sleep(2 * time.Second)
	c.converge(t, url, 5*time.Second, running...)
	for _, p := range running {
		if n := p.LogCount("ran further behind order_items than PENDING_LIMIT covers"); n > 0 {
			t.Errorf("%s: %d product versions arrived behind more order lines than PENDING_LIMIT keeps: the stream exceeded the documented bound", p.label, n)
		}
	}
	if _, hwm, err := procOffsets(c.k, "", c.binary+"-dlq"); err != nil || procSum(hwm) != 0 {
		t.Errorf("dead-letter topic %s-dlq holds %d records (%v): the stream has nothing undecodable", c.binary, procSum(hwm), err)
	}
}

// chaosEventually is eventually for the subprocess services: it polls check
// until it returns "" and fails the test at once when one of the running
// processes has exited.
func chaosEventually(t *testing.T, within time.Duration, check func() string, running ...*procService) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		for _, p := range running {
			p.CheckRunning()
		}
		if last = check(); last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged within %v: %s", within, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// chaosFeed produces records progressively in the background, as a
// connector writing while the services run.
type chaosFeed struct {
	produced atomic.Int64
	done     chan struct{}
	err      error // set before done is closed
}

// chaosProduce writes recs in order, in chunks of 250, spread over about d.
func chaosProduce(t *testing.T, k *embedded.Kafka, recs []shopsim.Record, d time.Duration) *chaosFeed {
	t.Helper()
	return chaosProduceChunks(t, k, recs, 250, d)
}

// chaosProduceChunks writes recs in order, in chunks, spread over about d.
func chaosProduceChunks(t *testing.T, k *embedded.Kafka, recs []shopsim.Record, chunk int, d time.Duration) *chaosFeed {
	t.Helper()
	f := &chaosFeed{done: make(chan struct{})}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-f.done; cl.Close() }) }
	t.Cleanup(stop)
	pause := d / time.Duration((len(recs)+chunk-1)/chunk)
	go func() {
		defer close(f.done)
		for i := 0; i < len(recs); i += chunk {
			end := min(i+chunk, len(recs))
			krs := make([]*kgo.Record, 0, end-i)
			for _, r := range recs[i:end] {
				krs = append(krs, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
			}
			pctx, pcancel := context.WithTimeout(ctx, time.Minute)
			err := cl.ProduceSync(pctx, krs...).FirstErr()
			pcancel()
			if err != nil {
				f.err = fmt.Errorf("produce records %d..%d: %w", i, end, err)
				return
			}
			f.produced.Store(int64(end))
			select {
			case <-ctx.Done():
				f.err = ctx.Err()
				return
			case <-time.After(pause):
			}
		}
	}()
	return f
}

// finished reports whether the feed has written everything (or failed).
func (f *chaosFeed) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// wait waits until every record is produced.
func (f *chaosFeed) wait(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-f.done:
		if f.err != nil {
			t.Fatal(f.err)
		}
	case <-time.After(within):
		t.Fatalf("producing did not finish within %v (%d produced)", within, f.produced.Load())
	}
}
