package mirror

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/cdcflow/cdcflow/processors/inventory"
	"github.com/cdcflow/cdcflow/sinks/dynamo"
	"github.com/cdcflow/cdcflow/testkit/gokatest"
)

const table goka.Table = "inventory-test-table"

// recorder is a Writer that remembers every write.
type recorder struct {
	mu     sync.Mutex
	writes [][]dynamo.Item
}

func (r *recorder) Write(_ context.Context, items []dynamo.Item) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, append([]dynamo.Item(nil), items...))
	return nil
}

func (r *recorder) Healthy() bool { return true }

func encode(t *testing.T, p *inventory.Product) []byte {
	t.Helper()
	b, err := inventory.TableCodec{}.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countingCodec counts decodes, to prove unmirrored keys are not decoded.
type countingCodec struct {
	inventory.TableCodec
	mu sync.Mutex
	n  int
}

func (c *countingCodec) Decode(b []byte) (interface{}, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.TableCodec.Decode(b)
}

type gokaContext = goka.Context

// fakeCtx is the part of goka.Context the mirror's callback uses; the
// callback is driven directly so that several changes of a key are
// pending together, which Goka's tester (it waits for each commit) cannot
// arrange.
type fakeCtx struct {
	gokaContext
	key       string
	committed *int
}

func (c fakeCtx) Key() string { return c.key }
func (c fakeCtx) DeferCommit() func(error) {
	return func(err error) {
		if err == nil {
			*c.committed++
		}
	}
}
func (c fakeCtx) Fail(err error) { panic(err) }

func newTestMirror(w Writer, view map[string]interface{}, cdc goka.Codec) *Mirror {
	var mu sync.Mutex
	return New(Config{
		Group: "mirror-test", Table: table, Codec: cdc, Writer: w,
		Item: InventoryItem, Mirrored: inventory.IsProductKey, CDCTime: InventoryCDCTime,
		Latest: func(key string) (interface{}, error) {
			mu.Lock()
			defer mu.Unlock()
			return view[key], nil
		},
		FlushInterval: 5 * time.Millisecond,
		Log:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

func TestMirrorCoalescesPerKeyAndPrefersTheNewerView(t *testing.T) {
	w := &recorder{}
	view := map[string]interface{}{
		// The view is ahead of the changelog for p/2 (as after a restart).
		inventory.ProductKey(2): &inventory.Product{Rev: 9, Live: true, Name: "view", BaseStock: 90, CDCTsMs: 5000},
		// p/4's changelog message is not mirrored yet (only order lines
		// seen), but the view already has the live product.
		inventory.ProductKey(4): &inventory.Product{Rev: 2, Live: true, Name: "late", CDCTsMs: 5000},
	}
	cdc := &countingCodec{}
	m := newTestMirror(w, view, cdc)
	committed := 0
	send := func(key string, value []byte) { m.onUpdate(fakeCtx{key: key, committed: &committed}, value) }

	for rev := uint64(1); rev <= 3; rev++ {
		send(inventory.ProductKey(1), encode(t, &inventory.Product{Rev: rev, Live: true, Name: "p1", BaseStock: int64(10 * rev), CDCTsMs: 1000}))
	}
	send(inventory.ProductKey(2), encode(t, &inventory.Product{Rev: 4, Live: true, Name: "changelog", BaseStock: 40, CDCTsMs: 1000}))
	send(inventory.ProductKey(3), encode(t, &inventory.Product{Rev: 1, Deleted: true, CDCTsMs: 1000}))
	send(inventory.ProductKey(4), encode(t, &inventory.Product{Rev: 1, Pending: []inventory.Pending{{Amount: -1}}}))
	send(inventory.ItemKey(7), []byte("not a product state: never decoded"))
	if cdc.n != 6 {
		t.Fatalf("decoded %d messages, want 6 (the order line's must be skipped)", cdc.n)
	}
	if committed != 0 {
		t.Fatalf("%d messages committed before any write", committed)
	}

	if err := m.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if committed != 6 {
		t.Fatalf("%d messages committed after the write, want 6", committed)
	}
	if len(w.writes) != 1 {
		t.Fatalf("%d writes, want 1", len(w.writes))
	}
	got := map[string]dynamo.Item{}
	for _, it := range w.writes[0] {
		got[it.Key] = it
	}
	if len(got) != 4 || len(w.writes[0]) != 4 {
		t.Fatalf("wrote %d items, want 4 coalesced keys: %v", len(w.writes[0]), got)
	}
	if it := got[inventory.ProductKey(1)]; it.Rev != 3 || attr(it, "stock_quantity") != "30" {
		t.Errorf("p/1 = rev %d stock %s, want the newest changelog state (rev 3, 30)", it.Rev, attr(it, "stock_quantity"))
	}
	if it := got[inventory.ProductKey(2)]; it.Rev != 9 || attr(it, "name") != "view" {
		t.Errorf("p/2 = rev %d name %s, want the view's newer state (rev 9)", it.Rev, attr(it, "name"))
	}
	if it := got[inventory.ProductKey(3)]; !it.Delete {
		t.Errorf("p/3 = %+v, want a delete", it)
	}
	if it := got[inventory.ProductKey(4)]; it.Rev != 2 || attr(it, "name") != "late" {
		t.Errorf("p/4 = %+v, want the view's live product", it)
	}
	if err := m.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 1 {
		t.Fatalf("an empty flush wrote: %d writes", len(w.writes))
	}
}

// The mirror's group graph in Goka's tester: changelog messages reach
// DynamoDB (and are committed) through the flush loop.
func TestMirrorGraph(t *testing.T) {
	tt := tester.New(t)
	w := &recorder{}
	m := newTestMirror(w, map[string]interface{}{}, inventory.TableCodec{})
	proc := gokatest.NewProcessor(t, tt, m.Graph())
	gokatest.Run(t, proc.Run, func(ctx context.Context) error { return m.Run(ctx, time.Second) })
	tt.Consume(string(table), inventory.ProductKey(1), encode(t, &inventory.Product{Rev: 1, Live: true, Name: "a", BaseStock: 5, CDCTsMs: 1000}))
	tt.Consume(string(table), inventory.ItemKey(1), []byte("skipped"))
	tt.Consume(string(table), inventory.ProductKey(1), encode(t, &inventory.Product{Rev: 2, Live: true, Name: "b", BaseStock: 4, CDCTsMs: 1000}))
	w.mu.Lock()
	defer w.mu.Unlock()
	var last dynamo.Item
	n := 0
	for _, batch := range w.writes {
		for _, it := range batch {
			last = it
			n++
		}
	}
	if n == 0 || last.Rev != 2 || attr(last, "stock_quantity") != "4" {
		t.Fatalf("writes %+v: want p/1 at rev 2 last", w.writes)
	}
}

func attr(it dynamo.Item, name string) string { return attrString(it.Attrs[name]) }

func attrString(v interface{}) string {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return x.Value
	case *types.AttributeValueMemberN:
		return x.Value
	}
	return ""
}

// blockingWriter hangs until released, like a DynamoDB that was stopped.
type blockingWriter struct{ release chan struct{} }

func (b blockingWriter) Write(ctx context.Context, _ []dynamo.Item) error {
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (b blockingWriter) Healthy() bool { return true }

// A write that hangs makes the mirror unhealthy after StuckAfter, before
// any request has failed.
func TestMirrorReportsAHangingWrite(t *testing.T) {
	w := blockingWriter{release: make(chan struct{})}
	m := newTestMirror(w, map[string]interface{}{}, inventory.TableCodec{})
	committed := 0
	m.onUpdate(fakeCtx{key: inventory.ProductKey(1), committed: &committed},
		encode(t, &inventory.Product{Rev: 1, Live: true, Name: "a", CDCTsMs: 1000}))
	done := make(chan error, 1)
	go func() { done <- m.flush(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	if ok, detail := m.Health(); !ok {
		t.Fatalf("unhealthy right away: %s", detail)
	}
	m.mu.Lock()
	m.writing = m.writing.Add(-StuckAfter) // as if StuckAfter had passed
	m.mu.Unlock()
	if ok, detail := m.Health(); ok || !strings.Contains(detail, "in progress") {
		t.Fatalf("health = %v %q, want degraded by the hanging write", ok, detail)
	}
	close(w.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ok, detail := m.Health(); !ok || committed != 1 {
		t.Fatalf("after the write: health %v %q, committed %d", ok, detail, committed)
	}
}

// When MaxPending messages wait, the mirror writes them at once instead of
// at its next tick: the callbacks that block on the limit go on.
func TestMirrorFlushesWhenPendingIsFull(t *testing.T) {
	w := &recorder{}
	m := newTestMirror(w, map[string]interface{}{}, inventory.TableCodec{})
	m.cfg.FlushInterval, m.cfg.MaxPending = time.Hour, 3
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx, time.Second) }()
	committed := 0 // written by the flushes only
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for i := int64(1); i <= 7; i++ {
			m.onUpdate(fakeCtx{key: inventory.ProductKey(i), committed: &committed},
				encode(t, &inventory.Product{Rev: 1, Live: true, Name: "p", CDCTsMs: 1000}))
		}
	}()
	select {
	case <-fed:
	case <-time.After(10 * time.Second):
		t.Fatal("callbacks still blocked on MaxPending: the mirror waited for its tick")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.writes) < 3 {
		t.Fatalf("%d writes, want at least two while the hour-long tick had not come, and the final one", len(w.writes))
	}
}
