// Package shopfeed turns the simulated shop's traffic (tools/shopsim, its
// default transaction mix) into genuine Debezium records (tools/dbzenc) of
// the topics one processor reads, for benchmarks that feed a group graph
// and check its end state against the oracle. It is meant for _test.go
// files only.
package shopfeed

import (
	"testing"

	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// Record is one encoded change.
type Record struct {
	Topic, Key string
	Value      []byte
	Change     int // index into Feed.Changes
}

// Feed generates the records of some of the shop's tables. Tombstones after
// deletes are left out: every record is a change.
type Feed struct {
	shop   *shopsim.Shop
	opts   dbzenc.EncodeOptions
	tables map[string]bool
	// Changes are the changes of the feed's tables handed out so far, in
	// commit order: what the oracle replays.
	Changes []shopsim.Change
}

// New returns a feed of tables from a shop of products products (seed 1),
// encoded with opts.
func New(products int, opts dbzenc.EncodeOptions, tables ...string) *Feed {
	f := &Feed{shop: shopsim.New(shopsim.Config{Seed: 1, Products: products}), opts: opts, tables: map[string]bool{}}
	for _, t := range tables {
		f.tables[t] = true
	}
	return f
}

// Snapshot returns the records of the shop's initial snapshot.
func (f *Feed) Snapshot(t testing.TB) []Record { return f.encode(t, f.shop.Snapshot()) }

// Batch returns the records of the shop's next transactions, at least n.
func (f *Feed) Batch(t testing.TB, n int) []Record {
	var out []Record
	for len(out) < n {
		out = append(out, f.encode(t, f.shop.Next())...)
	}
	return out
}

func (f *Feed) encode(t testing.TB, cs []shopsim.Change) []Record {
	t.Helper()
	var out []Record
	for _, c := range cs {
		if !f.tables[c.Table] {
			continue
		}
		recs, err := shopsim.Encode([]shopsim.Change{c}, f.opts)
		if err != nil {
			t.Fatalf("shopfeed: encode %s change: %v", c.Table, err)
		}
		out = append(out, Record{Topic: recs[0].Topic, Key: string(recs[0].Key), Value: recs[0].Value, Change: len(f.Changes)})
		f.Changes = append(f.Changes, c)
	}
	return out
}
