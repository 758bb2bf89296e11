package search

import (
	"io"
	stdlog "log"
	"log/slog"
	"testing"

	"github.com/cdcflow/cdcflow/testkit/gokatest"
	"github.com/cdcflow/cdcflow/testkit/shopfeed"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/processors/delivery"
	"github.com/cdcflow/cdcflow/tools/oracle"
)

// Package-level sinks keep the benchmarked results alive.
var sinkValue interface{}

// benchLSN is the commit position around which the benchmark states live.
const benchLSN uint64 = 16_790_676

// benchDoc is a typical search document: a live product version with a
// catalogue-length name and description, applied at an LSN.
func benchDoc() *Doc {
	return &Doc{
		Rev:         14,
		Applied:     delivery.Applied{Pos: debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}},
		Live:        true,
		Name:        "Rugged USB-C Espresso Machine 17",
		Description: "A rugged espresso machine with a 15-bar pump, a steam wand and a USB-C powered milk frother.",
		PriceCents:  189_057,
		Stock:       22,
		CDCTsMs:     tsStart + 9_000,
	}
}

// BenchmarkDocCodec encodes and decodes a document through DocCodec (as
// Goka does around every callback). SetBytes is the encoded size.
func BenchmarkDocCodec(b *testing.B) {
	d := benchDoc()
	enc, err := DocCodec{}.Encode(d)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		data, err := DocCodec{}.Encode(d)
		if err != nil {
			b.Fatal(err)
		}
		v, err := DocCodec{}.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		sinkValue = v
	}
	if got, _ := sinkValue.(*Doc); got == nil || got.Name != d.Name || got.Applied.Pos != d.Applied.Pos {
		b.Fatalf("round trip gave %+v", sinkValue)
	}
}

// BenchmarkApplyChange applies product versions built with changeEvent to a
// live document: updates alternating between two row images (a new name,
// description, price and stock, and back) at increasing commit positions,
// so that every change is new.
func BenchmarkApplyChange(b *testing.B) {
	pos := debezium.Position{LSN: benchLSN, TsMs: tsStart + 9_000}
	d := benchDoc()
	v1 := prod(17, d.Name, d.Description, d.PriceCents, d.Stock)
	v2 := prod(17, "Rugged USB-C Espresso Machine 17 Pro", d.Description+" Now with a grinder.", 219_000, 21)
	var evs [2]event
	for i, imgs := range [2][2]*debezium.Product{{v1, v2}, {v2, v1}} {
		ev, err := decodeEvent(changeEvent(&debezium.Message{Kind: debezium.KindChange, Table: debezium.TableProducts,
			Op: debezium.OpUpdate, ID: 17, Pos: pos, BeforeProduct: imgs[0], AfterProduct: imgs[1]}))
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = ev
	}
	b.ReportAllocs()
	n, i := 0, 0
	for b.Loop() {
		ev := evs[i&1]
		i++
		ev.pos.LSN = benchLSN + uint64(i)
		if ok, _ := applyChange(d, ev); ok {
			n++
		}
	}
	if n != b.N || d.Rev != 14+uint64(b.N) {
		b.Fatalf("%d of %d changes applied, rev %d", n, b.N, d.Rev)
	}
	sinkValue = d
}

// benchGraph runs the search graph in Goka's tester, configured as
// newHarness does.
func benchGraph(b *testing.B) *tester.Tester {
	tt := tester.New(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	graph := Define(Config{
		Group: group, ProductsTopic: pTopic, Log: log, Metrics: NewMetrics(nil),
		Input: cdc.NewInput(cdc.InputConfig{Service: "search-indexer", DLQTopic: dlq, Log: log,
			Decoder: debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})}),
	})
	proc := gokatest.NewProcessor(b, tt, graph, goka.WithLogger(stdlog.New(io.Discard, "", 0)))
	gokatest.Run(b, proc.Run)
	return tt
}

// BenchmarkGraph feeds the simulated shop's products changes (Debezium
// envelopes with schema, a 1,005-product catalogue snapshotted before the
// timing) through the whole search graph in Goka's tester: decoding,
// re-keying, the document's loop callback and the table codec. The shop's
// products topic is quiet next to its orders, so the catalogue keeps
// changing for as long as the benchmark needs by generating transactions
// (outside the timing) until enough product changes are at hand. One op
// is one input message and everything it causes. At the end every live
// document is checked against shopsim's oracle.
func BenchmarkGraph(b *testing.B) {
	tt := benchGraph(b)
	feed := shopfeed.New(1000, envelope, debezium.TableProducts)
	for _, r := range feed.Snapshot(b) {
		tt.Consume(r.Topic, r.Key, r.Value)
	}
	loop := tt.NewQueueTracker(string(group) + "-loop")
	table := tt.NewQueueTracker(string(Table(group)))
	dead := tt.NewQueueTracker(string(dlq))
	loop0, table0, dead0 := loop.Hwm(), table.Hwm(), dead.Hwm()

	var batch []shopfeed.Record
	last := -1
	b.ReportAllocs()
	for b.Loop() {
		if len(batch) == 0 {
			b.StopTimer()
			batch = feed.Batch(b, 512)
			b.StartTimer()
		}
		r := &batch[0]
		batch = batch[1:]
		tt.Consume(r.Topic, r.Key, r.Value)
		last = r.Change
	}
	b.ReportMetric(float64(loop.Hwm()-loop0)/float64(b.N), "loops/msg")
	b.ReportMetric(float64(table.Hwm()-table0)/float64(b.N), "writes/msg")
	if n := dead.Hwm() - dead0; n != 0 {
		b.Fatalf("%d messages dead-lettered", n)
	}

	want := oracle.ExpectSearch(feed.Changes[:last+1])
	live := 0
	for _, key := range tt.GetTableKeys(Table(group)) {
		d, _ := tt.TableValue(Table(group), key).(*Doc)
		if d == nil || !d.Live {
			continue
		}
		live++
		id, _ := ParseKey(key)
		w, ok := want[id]
		if !ok || d.Name != w.Name || d.Description != w.Description || d.PriceCents != w.PriceCents || d.Stock != w.Stock {
			b.Fatalf("%s = %+v, oracle %+v (known %v)", key, d, w, ok)
		}
	}
	if live != len(want) {
		b.Fatalf("%d live documents, oracle has %d", live, len(want))
	}
}
