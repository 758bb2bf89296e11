package dynamo_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/sinks/dynamo"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dynalite"
)

// quiet discards log output.
var quiet = slog.New(slog.DiscardHandler)

// testCtx is a generous bound for a whole test against dynalite.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func productTable(t testing.TB, ctx context.Context, c *dynamodb.Client, name string) {
	t.Helper()
	spec := dynamo.TableSpec{Name: name, HashKey: "product_id", HashKeyType: types.ScalarAttributeTypeN, Logger: quiet}
	if err := dynamo.EnsureTable(ctx, c, spec); err != nil {
		t.Fatal(err)
	}
}

func client(t testing.TB, s *dynalite.Server) *dynamodb.Client {
	t.Helper()
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func num(n uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}

// productItem is the state of product id at rev: a put, or a delete.
func productItem(id int, rev uint64, del bool) dynamo.Item {
	key := map[string]types.AttributeValue{"product_id": num(uint64(id))}
	it := dynamo.Item{Key: "p-" + strconv.Itoa(id), Rev: rev, Delete: del, KeyAttrs: key}
	if !del {
		it.Attrs = map[string]types.AttributeValue{
			"product_id": num(uint64(id)),
			"rev":        num(rev),
			"name":       &types.AttributeValueMemberS{Value: fmt.Sprintf("product %d at %d", id, rev)},
		}
	}
	return it
}

// scan returns product_id -> rev of every item in table.
func scan(t testing.TB, ctx context.Context, c *dynamodb.Client, table string) map[int]uint64 {
	t.Helper()
	got := map[int]uint64{}
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, it := range page.Items {
			id, _ := strconv.Atoi(it["product_id"].(*types.AttributeValueMemberN).Value)
			rev, _ := strconv.ParseUint(it["rev"].(*types.AttributeValueMemberN).Value, 10, 64)
			name := it["name"].(*types.AttributeValueMemberS).Value
			if want := fmt.Sprintf("product %d at %d", id, rev); name != want {
				t.Errorf("item %d: name %q, want %q", id, name, want)
			}
			if _, dup := got[id]; dup {
				t.Errorf("item %d scanned twice", id)
			}
			got[id] = rev
		}
	}
	return got
}

// compare checks that table holds exactly the puts of want (id -> final
// item).
func compare(t testing.TB, got map[int]uint64, want map[int]dynamo.Item) {
	t.Helper()
	bad := 0
	for id, it := range want {
		rev, ok := got[id]
		switch {
		case it.Delete && ok:
			t.Errorf("product %d: present at rev %d, want deleted (rev %d)", id, rev, it.Rev)
			bad++
		case !it.Delete && !ok:
			t.Errorf("product %d: missing, want rev %d", id, it.Rev)
			bad++
		case !it.Delete && rev != it.Rev:
			t.Errorf("product %d: rev %d, want %d", id, rev, it.Rev)
			bad++
		}
		if bad > 20 {
			t.Fatal("too many differences")
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected product %d", id)
		}
	}
}

// TestWriteHighestRevWins writes 10,000 states of 2,000 products in calls of
// random sizes; within a call the items are shuffled, so several states of
// one product arrive in random order, and across calls each product's
// revisions increase (the caller's guarantee). Every product must end at
// its highest revision.
func TestWriteHighestRevWins(t *testing.T) {
	s := testenv.Dynalite(t)
	ctx := testCtx(t)
	c := client(t, s)
	productTable(t, ctx, c, "inventory")
	reg := prometheus.NewRegistry()
	w, err := dynamo.NewWriter(c, dynamo.Options{Table: "inventory", Name: "inventory", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}

	const keys, revsPerKey = 2000, 5
	rng := rand.New(rand.NewPCG(1, 2))
	slots := make([]int, 0, keys*revsPerKey)
	for id := 0; id < keys; id++ {
		for range revsPerKey {
			slots = append(slots, id)
		}
	}
	rng.Shuffle(len(slots), func(i, j int) { slots[i], slots[j] = slots[j], slots[i] })
	rev := map[int]uint64{}
	final := map[int]dynamo.Item{}
	events := make([]dynamo.Item, len(slots))
	for i, id := range slots {
		rev[id] += 1 + uint64(rng.IntN(3))
		it := productItem(id, rev[id], rng.IntN(5) == 0)
		events[i] = it
		final[id] = it
	}
	calls := 0
	for len(events) > 0 {
		n := min(len(events), 1+rng.IntN(2500))
		call := append([]dynamo.Item(nil), events[:n]...)
		events = events[n:]
		rng.Shuffle(len(call), func(i, j int) { call[i], call[j] = call[j], call[i] })
		if err := w.Write(ctx, call); err != nil {
			t.Fatalf("write %d: %v", calls, err)
		}
		calls++
	}
	compare(t, scan(t, ctx, c, "inventory"), final)
	if got := metricValue(t, reg, "dynamodb_writer_errors_total", "class", "validation"); got != 0 {
		t.Errorf("%v batches rejected by DynamoDB as invalid", got)
	}
	if !w.Healthy() || w.State() != "closed" {
		t.Errorf("writer state %s after successful writes", w.State())
	}
	put := metricValue(t, reg, "dynamodb_writer_items_written_total", "kind", "put")
	del := metricValue(t, reg, "dynamodb_writer_items_written_total", "kind", "delete")
	coalesced := metricValue(t, reg, "dynamodb_writer_items_coalesced_total")
	if put+del+coalesced != keys*revsPerKey {
		t.Errorf("written %v puts + %v deletes + %v coalesced, want %d items", put, del, coalesced, keys*revsPerKey)
	}
	if coalesced == 0 {
		t.Error("no item was coalesced: the test did not exercise coalescing")
	}
	t.Logf("%d calls; %v puts, %v deletes, %v coalesced", calls, put, del, coalesced)
}

// TestWriteDeletesAndDuplicateKeys writes many states of the same keys in
// one call, and two Keys naming the same DynamoDB item: DynamoDB rejects a
// batch naming one item twice, so this passes only if the writer never
// sends one.
func TestWriteDeletesAndDuplicateKeys(t *testing.T) {
	s := testenv.Dynalite(t)
	ctx := testCtx(t)
	c := client(t, s)
	productTable(t, ctx, c, "dups")
	reg := prometheus.NewRegistry()
	w, err := dynamo.NewWriter(c, dynamo.Options{Table: "dups", MaxBatch: 25, Concurrency: 4, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	// Plant 300 items.
	var first []dynamo.Item
	for id := range 300 {
		first = append(first, productItem(id, 1, false))
	}
	if err := w.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	want := map[int]dynamo.Item{}
	var call []dynamo.Item
	for id := range 300 {
		switch id % 4 {
		case 0: // several puts in random order: the highest wins
			call = append(call, productItem(id, 3, false), productItem(id, 5, false), productItem(id, 4, false))
			want[id] = productItem(id, 5, false)
		case 1: // a delete after a put
			call = append(call, productItem(id, 2, false), productItem(id, 3, true))
			want[id] = productItem(id, 3, true)
		case 2: // equal revisions: the later wins
			call = append(call, productItem(id, 7, true), productItem(id, 7, false))
			want[id] = productItem(id, 7, false)
		case 3: // a delete, then an older put that must lose
			call = append(call, productItem(id, 9, true), productItem(id, 8, false))
			want[id] = productItem(id, 9, true)
		}
	}
	// Two Keys for product 1000: one DynamoDB item.
	a, b := productItem(1000, 1, false), productItem(1000, 2, false)
	b.Key = "other-name-for-1000"
	call = append(call, b, a)
	want[1000] = b
	if err := w.Write(ctx, call); err != nil {
		t.Fatalf("write with duplicate keys: %v", err)
	}
	compare(t, scan(t, ctx, c, "dups"), want)
	// No batch was rejected (and then split) for naming an item twice.
	if got := metricValue(t, reg, "dynamodb_writer_errors_total", "class", "validation"); got != 0 {
		t.Errorf("%v batches rejected by DynamoDB as invalid", got)
	}
}

func TestEnsureTableWithGSIs(t *testing.T) {
	s := testenv.DynaliteWith(t, dynalite.Options{TableDelay: 300 * time.Millisecond})
	ctx := testCtx(t)
	c := client(t, s)
	spec := dynamo.TableSpec{
		Name: "product-search-index", HashKey: "product_id", HashKeyType: types.ScalarAttributeTypeN,
		GSIs: []dynamo.GSI{
			{Name: "name-index", HashKey: "name_lower", HashType: types.ScalarAttributeTypeS},
			{Name: "price-index", HashKey: "price", HashType: types.ScalarAttributeTypeN},
			{Name: "price-range-index", HashKey: "price_bucket", HashType: types.ScalarAttributeTypeS,
				RangeKey: "price", RangeType: types.ScalarAttributeTypeN},
		},
	}
	for i := range 2 { // creates, then is a no-op
		if err := dynamo.EnsureTable(ctx, c, spec); err != nil {
			t.Fatalf("EnsureTable #%d: %v", i+1, err)
		}
	}
	d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(spec.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Table.TableStatus != types.TableStatusActive {
		t.Fatalf("status %s", d.Table.TableStatus)
	}
	if d.Table.BillingModeSummary == nil || d.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode %+v, want PAY_PER_REQUEST", d.Table.BillingModeSummary)
	}
	gsis := map[string]types.GlobalSecondaryIndexDescription{}
	for _, g := range d.Table.GlobalSecondaryIndexes {
		gsis[aws.ToString(g.IndexName)] = g
	}
	for _, g := range spec.GSIs {
		got, ok := gsis[g.Name]
		if !ok {
			t.Fatalf("index %s missing", g.Name)
		}
		if got.IndexStatus != types.IndexStatusActive || got.Projection.ProjectionType != types.ProjectionTypeAll {
			t.Errorf("index %s: status %s projection %s", g.Name, got.IndexStatus, got.Projection.ProjectionType)
		}
	}

	w, err := dynamo.NewWriter(c, dynamo.Options{Table: spec.Name})
	if err != nil {
		t.Fatal(err)
	}
	var items []dynamo.Item
	for id := 1; id <= 50; id++ {
		name := "gadget"
		if id%5 == 0 {
			name = "widget"
		}
		price := uint64(id * 100)
		attrs := map[string]types.AttributeValue{
			"product_id": num(uint64(id)), "name_lower": &types.AttributeValueMemberS{Value: name},
			"price": num(price), "price_bucket": &types.AttributeValueMemberS{Value: "all"},
		}
		items = append(items, dynamo.Item{Key: strconv.Itoa(id), Rev: 1, Attrs: attrs,
			KeyAttrs: map[string]types.AttributeValue{"product_id": num(uint64(id))}})
	}
	if err := w.Write(ctx, items); err != nil {
		t.Fatal(err)
	}
	q, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(spec.Name), IndexName: aws.String("name-index"),
		KeyConditionExpression:    aws.String("name_lower = :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberS{Value: "widget"}},
	})
	if err != nil {
		t.Fatalf("query name-index: %v", err)
	}
	if q.Count != 10 {
		t.Errorf("name-index: %d widgets, want 10", q.Count)
	}
	q, err = c.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(spec.Name), IndexName: aws.String("price-range-index"),
		KeyConditionExpression: aws.String("price_bucket = :b AND price BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":b": &types.AttributeValueMemberS{Value: "all"}, ":lo": num(1000), ":hi": num(2000)},
	})
	if err != nil {
		t.Fatalf("query price-range-index: %v", err)
	}
	if q.Count != 11 { // ids 10..20
		t.Errorf("price range 1000..2000: %d items, want 11", q.Count)
	}
	for i := 1; i < len(q.Items); i++ { // sorted by the range key
		a := q.Items[i-1]["price"].(*types.AttributeValueMemberN).Value
		b := q.Items[i]["price"].(*types.AttributeValueMemberN).Value
		if x, _ := strconv.Atoi(a); func() bool { y, _ := strconv.Atoi(b); return x > y }() {
			t.Errorf("price range not sorted: %s before %s", a, b)
		}
	}

	// A table that exists with another key is an error naming it.
	wrong := spec
	wrong.HashKey = "id"
	wrong.GSIs = nil
	if err := dynamo.EnsureTable(ctx, c, wrong); err == nil || !strings.Contains(err.Error(), spec.Name) {
		t.Errorf("EnsureTable with another hash key: %v, want an error naming %s", err, spec.Name)
	}
}

// pausingTransport pauses the server when the n-th request is sent and
// resumes it after pause.
type pausingTransport struct {
	base    http.RoundTripper
	s       *dynalite.Server
	n       int64
	pause   time.Duration
	calls   atomic.Int64
	once    sync.Once
	resumed chan error
}

func (p *pausingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if p.calls.Add(1) == p.n {
		p.once.Do(func() {
			if err := p.s.Pause(); err != nil {
				p.resumed <- err
				return
			}
			go func() {
				time.Sleep(p.pause)
				p.resumed <- p.s.Resume()
			}()
		})
	}
	return p.base.RoundTrip(r)
}

// TestWriteSurvivesPause stops dynalite (SIGSTOP) in the middle of a Write
// and continues it 2s later: the Write completes and the data is right,
// whether the requests simply wait (default timeout) or time out and are
// retried.
func TestWriteSurvivesPause(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts dynamo.Options
	}{
		{"requests-wait", dynamo.Options{}},
		{"requests-time-out", dynamo.Options{RequestTimeout: 300 * time.Millisecond, BreakerThreshold: 1000, MaxRetries: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testenv.Dynalite(t)
			ctx := testCtx(t)
			productTable(t, ctx, client(t, s), "paused")
			tr := &pausingTransport{base: http.DefaultTransport.(*http.Transport).Clone(), s: s, n: 20,
				pause: 2 * time.Second, resumed: make(chan error, 1)}
			c := dynamodb.New(dynamodb.Options{
				Region:       "us-east-1",
				Credentials:  credentials.NewStaticCredentialsProvider("x", "x", ""),
				BaseEndpoint: aws.String(s.Endpoint()),
				HTTPClient:   &http.Client{Transport: tr},
			})
			opts := tc.opts
			reg := prometheus.NewRegistry()
			opts.Table, opts.Concurrency, opts.Registerer = "paused", 4, reg
			w, err := dynamo.NewWriter(c, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := map[int]dynamo.Item{}
			var items []dynamo.Item
			for id := range 3000 {
				it := productItem(id, uint64(id%7+1), false)
				items = append(items, it)
				want[id] = it
			}
			if err := w.Write(ctx, items); err != nil {
				t.Fatalf("write across the pause: %v", err)
			}
			select {
			case err := <-tr.resumed:
				if err != nil {
					t.Fatal(err)
				}
			case <-ctx.Done():
				t.Fatal("the server was never paused and resumed")
			}
			compare(t, scan(t, ctx, c, "paused"), want)
			timeouts := metricValue(t, reg, "dynamodb_writer_errors_total", "class", "timeout")
			if opts.RequestTimeout > 0 && timeouts == 0 {
				t.Error("no request timed out during the pause")
			}
			t.Logf("%d HTTP requests, %v timeouts, %v retries, %v connection errors", tr.calls.Load(), timeouts,
				metricValue(t, reg, "dynamodb_writer_retries_total"),
				metricValue(t, reg, "dynamodb_writer_errors_total", "class", "connection"))
		})
	}
}

// metricValue is the value of the counter or gauge name with the given
// label pairs in reg.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labelPairs ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labelPairs); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labelPairs[i] && l.GetValue() == labelPairs[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s %v not found", name, labelPairs)
	return 0
}
