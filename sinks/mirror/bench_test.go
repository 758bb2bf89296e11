package mirror

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/delivery"
	"github.com/cdcflow/cdcflow/processors/inventory"
	"github.com/cdcflow/cdcflow/sinks/dynamo"
)

// discardWriter is a Writer that only counts what it is given.
type discardWriter struct{ writes, items int }

func (w *discardWriter) Write(_ context.Context, items []dynamo.Item) error {
	w.writes++
	w.items += len(items)
	return nil
}

func (w *discardWriter) Healthy() bool { return true }

// benchProduct is a typical inventory product state (as in the inventory
// package's benchmarks): a live version, eight pending deltas, marks from
// six loop partitions and an alert in its outbox.
func benchProduct(id int64, rev uint64) *inventory.Product {
	const ts = int64(1736931600000)
	lsn := 16_790_676 + rev*1_000
	p := &inventory.Product{
		Rev:         rev,
		Applied:     delivery.Applied{Pos: debezium.Position{LSN: lsn, TsMs: ts + int64(rev)}},
		Live:        true,
		Name:        fmt.Sprintf("Rugged USB-C Espresso Machine %d", id),
		Description: "A rugged espresso machine with a 15-bar pump, a steam wand and a USB-C powered milk frother.",
		PriceCents:  189_057,
		BaseStock:   22,
		Alerted:     true,
		CDCTsMs:     ts + int64(rev),
	}
	for i := range 8 {
		p.Pending = append(p.Pending, inventory.Pending{
			Pos:    debezium.Position{LSN: lsn + uint64(i+1)*64, TsMs: ts + int64(rev) + int64(i)},
			Amount: -int64(1 + i%3)})
	}
	for part := range int32(6) {
		p.Marks = append(p.Marks, delivery.Origin{Partition: part, Offset: 48_000 + int64(part)*1_217})
	}
	p.Outbox = delivery.Outbox{{Partition: 2, Offset: 51_234, Outs: []delivery.Out{{Topic: "inventory.low-stock-alerts",
		Key: fmt.Sprint(id), Value: []byte(`{"product_id":17,"name":"Rugged USB-C Espresso Machine 17","stock_quantity":6,"threshold":10,"ts":"2025-01-15T09:00:09.42Z"}`)}}}}
	return p
}

// BenchmarkMirrorCoalesce drives the mirror of the inventory table as
// production configures it (InventoryItem, IsProductKey, InventoryCDCTime,
// Latest decoding the service's view of the key) with changelog messages
// of product states, keys drawn uniformly from keys products, and flushes
// into a Writer that discards every flush msgs messages: at 5,000 changes/s
// and the default 100 ms flush interval a flush covers about 500. One op is
// one changelog message (onUpdate: decode, item, coalesce); the flushes
// (refresh from the view, batch, commits, metrics) are timed too, so ns/op
// is per message including its share of a flush. items/flush is what the
// coalescing left for DynamoDB.
func BenchmarkMirrorCoalesce(b *testing.B) {
	for _, c := range []struct{ keys, perFlush int }{{100, 500}, {10_000, 500}} {
		b.Run(fmt.Sprintf("keys=%d/flush=%d", c.keys, c.perFlush), func(b *testing.B) {
			benchMirror(b, c.keys, c.perFlush)
		})
	}
}

func benchMirror(b *testing.B, keys, perFlush int) {
	// Four flushes' worth of messages, reused: each flush starts from empty
	// pending maps, so a message fed again is as new as the first time.
	type message struct {
		key   string
		value []byte
	}
	rng := rand.New(rand.NewPCG(1, uint64(keys)))
	ring := make([]message, 4*perFlush)
	revs := make([]uint64, keys)
	view := map[string][]byte{} // the service's view: the newest state of each key
	for i := range ring {
		k := rng.IntN(keys)
		revs[k]++
		key := inventory.ProductKey(int64(k + 1))
		v, err := inventory.TableCodec{}.Encode(benchProduct(int64(k+1), revs[k]))
		if err != nil {
			b.Fatal(err)
		}
		ring[i] = message{key, v}
		view[key] = v
	}
	w := &discardWriter{}
	m := New(Config{
		Group: "mirror-bench", Table: table, Codec: inventory.TableCodec{}, Writer: w,
		Item: InventoryItem, Mirrored: inventory.IsProductKey, CDCTime: InventoryCDCTime,
		Latest: func(key string) (interface{}, error) {
			v, ok := view[key]
			if !ok {
				return nil, nil
			}
			return inventory.TableCodec{}.Decode(v)
		},
		FlushInterval: 100 * time.Millisecond,
		Log:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	// The callback contexts, boxed before the timing as Goka's are.
	committed := 0
	ctxs := make([]gokaContext, len(ring))
	for i, r := range ring {
		ctxs[i] = fakeCtx{key: r.key, committed: &committed}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(ring)
		m.onUpdate(ctxs[j], ring[j].value)
		if (i+1)%perFlush == 0 {
			if err := m.flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := m.flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if committed != b.N || w.writes == 0 {
		b.Fatalf("%d of %d messages committed in %d writes", committed, b.N, w.writes)
	}
	b.ReportMetric(float64(w.items)/float64(w.writes), "items/flush")
	b.ReportMetric(float64(b.N)/float64(w.writes), "msgs/flush")
}
