package bench

import (
	"bytes"
	"compress/gzip"
	"math"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestBucketOfStacks(t *testing.T) {
	const (
		sarama = "github.com/IBM/sarama."
		goka   = "github.com/lovoo/goka."
		cdc    = "github.com/cdcflow/cdcflow/"
	)
	for _, tc := range []struct {
		name  string
		stack []string // leaf first
		want  string
	}{
		{"decode in fastjson, called from the decoder", []string{"github.com/valyala/fastjson.(*Parser).Parse", cdc + "codecs/debezium.(*Decoder).Decode", cdc + "processors/cdc.(*Input).handle", goka + "(*PartitionProcessor).processMessage"}, BucketDecode},
		{"a helper counts for its caller", []string{"strconv.ParseInt", cdc + "codecs/debezium.parseKey", cdc + "processors/cdc.(*Input).handle"}, BucketDecode},
		{"allocation inside the decoder is GC", []string{"runtime.memclrNoHeapPointers", "runtime.mallocgc", "runtime.makeslice", cdc + "codecs/debezium.(*Decoder).Decode"}, BucketGC},
		{"background mark worker", []string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker.func2", "runtime.systemstack", "runtime.gcBgMarkWorker"}, BucketGC},
		{"state encoding in a callback", []string{cdc + "codecs/state.(*Writer).Varint", cdc + "processors/inventory.(*Product).MarshalState", cdc + "processors/inventory.(*processor).onProduct"}, BucketState},
		{"a processor's MarshalState", []string{cdc + "processors/search.(*Doc).MarshalState", cdc + "processors/search.(*processor).onLoop"}, BucketState},
		{"callback logic", []string{cdc + "processors/inventory.applyDelta", cdc + "processors/inventory.(*processor).onProduct", goka + "(*PartitionProcessor).processMessage"}, BucketCallbacks},
		{"exactly-once bookkeeping is callbacks", []string{cdc + "processors/delivery.(*Marks).Admit", cdc + "processors/inventory.(*processor).onProduct"}, BucketCallbacks},
		{"skeleton callback", []string{"strconv.FormatInt", cdc + "tools/bench.(*skeleton).onLoop", goka + "(*PartitionProcessor).processMessage"}, BucketCallbacks},
		{"LevelDB write from SetValue", []string{"github.com/syndtr/goleveldb/leveldb.(*DB).Write", cdc + "internal/kafka.(*buffered).flush", cdc + "internal/kafka.(*buffered).Set", goka + "(*cbContext).SetValue", cdc + "processors/search.(*processor).onLoop"}, BucketTable},
		{"loopback into the producer", []string{"runtime.chansend1", goka + "(*producer).EmitWithHeaders", goka + "(*cbContext).Loopback", cdc + "processors/inventory.(*processor).rekeyItem"}, BucketProduce},
		{"broker code under the async producer", []string{"syscall.Write", "net.(*conn).Write", sarama + "(*Broker).sendInternal", sarama + "(*Broker).AsyncProduce", sarama + "(*brokerProducer).run"}, BucketProduce},
		{"broker code under a fetch", []string{"syscall.Read", sarama + "(*Broker).sendAndReceive", sarama + "(*Broker).Fetch", sarama + "(*brokerConsumer).fetchNewMessages"}, BucketConsume},
		{"record batch decode for the consumer", []string{sarama + "(*RecordBatch).decode", sarama + "(*FetchResponse).decode", sarama + "(*brokerConsumer).subscriptionConsumer"}, BucketConsume},
		{"consumer group heartbeat", []string{sarama + "(*Broker).Heartbeat", sarama + "(*consumerGroupSession).heartbeatLoop"}, BucketConsume},
		{"response receiver", []string{"syscall.Read", "bufio.(*Reader).Read", sarama + "(*Broker).responseReceiver"}, BucketSarama},
		{"goka dispatch", []string{goka + "(*PartitionProcessor).run.func2"}, BucketGoka},
		{"ordered commits", []string{"runtime.chansend", cdc + "internal/kafka.(*orderedHandler).ConsumeClaim.func1"}, BucketGoka},
		{"view", []string{"github.com/syndtr/goleveldb/leveldb.(*DB).Put", goka + "(*PartitionTable).loadMessages", goka + "(*View).Run.func1"}, BucketViews},
		{"view query", []string{cdc + "views/analytics.Read"}, BucketViews},
		{"mirror", []string{cdc + "sinks/mirror.(*Mirror).flush"}, BucketSinks},
		{"scheduler", []string{"runtime.futex", "runtime.notesleep", "runtime.stopm", "runtime.findRunnable", "runtime.schedule", "runtime.park_m", "runtime.mcall"}, BucketSched},
		{"nothing known", []string{"net/http.(*conn).serve"}, BucketOther},
		{"empty stack", nil, BucketOther},
	} {
		if got := Bucket(tc.stack); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// encodeProfile writes a gzipped profile.proto with the sample types and
// samples given, each sample's stack as one location per frame except the
// first two frames, which share one location (an inlined call).
func encodeProfile(t *testing.T, types [][2]string, samples []Sample) []byte {
	t.Helper()
	strs := []string{""}
	index := map[string]int{"": 0}
	str := func(s string) uint64 {
		if i, ok := index[s]; ok {
			return uint64(i)
		}
		index[s] = len(strs)
		strs = append(strs, s)
		return uint64(len(strs) - 1)
	}
	var b []byte
	msg := func(num protowire.Number, m []byte) {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	for _, vt := range types {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.VarintType)
		m = protowire.AppendVarint(m, str(vt[0]))
		m = protowire.AppendTag(m, 2, protowire.VarintType)
		m = protowire.AppendVarint(m, str(vt[1]))
		msg(1, m)
	}
	funcs := map[string]uint64{}
	var nextLoc uint64
	for _, s := range samples {
		var locs [][]uint64 // function ids per location, innermost first
		for i, f := range s.Stack {
			id, ok := funcs[f]
			if !ok {
				id = uint64(len(funcs) + 1)
				funcs[f] = id
				var m []byte
				m = protowire.AppendTag(m, 1, protowire.VarintType)
				m = protowire.AppendVarint(m, id)
				m = protowire.AppendTag(m, 2, protowire.VarintType)
				m = protowire.AppendVarint(m, str(f))
				msg(5, m)
			}
			if i == 1 {
				locs[0] = append(locs[0], id)
				continue
			}
			locs = append(locs, []uint64{id})
		}
		var ids []byte
		for _, l := range locs {
			nextLoc++
			var m []byte
			m = protowire.AppendTag(m, 1, protowire.VarintType)
			m = protowire.AppendVarint(m, nextLoc)
			for _, f := range l {
				var line []byte
				line = protowire.AppendTag(line, 1, protowire.VarintType)
				line = protowire.AppendVarint(line, f)
				line = protowire.AppendTag(line, 2, protowire.VarintType)
				line = protowire.AppendVarint(line, 42)
				m = protowire.AppendTag(m, 4, protowire.BytesType)
				m = protowire.AppendBytes(m, line)
			}
			msg(4, m)
			ids = protowire.AppendVarint(ids, nextLoc)
		}
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.BytesType) // packed location ids
		m = protowire.AppendBytes(m, ids)
		for _, v := range s.Values { // values unpacked: both encodings must be read
			m = protowire.AppendTag(m, 2, protowire.VarintType)
			m = protowire.AppendVarint(m, uint64(v))
		}
		msg(2, m)
	}
	// The string table last: it may come anywhere.
	for _, s := range strs {
		msg(6, []byte(s))
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

func TestParseProfileAndShares(t *testing.T) {
	decode := []string{"github.com/valyala/fastjson.(*Parser).Parse", "github.com/cdcflow/cdcflow/codecs/debezium.(*Decoder).Decode", "main.main"}
	gc := []string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}
	table := []string{"github.com/syndtr/goleveldb/leveldb.(*DB).Write", "github.com/lovoo/goka.(*cbContext).SetValue"}
	b := encodeProfile(t, [][2]string{{"samples", "count"}, {"cpu", "nanoseconds"}}, []Sample{
		{Stack: decode, Values: []int64{5, 50e6}},
		{Stack: gc, Values: []int64{3, 30e6}},
		{Stack: table, Values: []int64{2, 20e6}},
	})
	p, err := ParseProfile(b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.SampleTypes, ",") != "samples/count,cpu/nanoseconds" || p.ValueIndex() != 1 {
		t.Fatalf("sample types %v, index %d", p.SampleTypes, p.ValueIndex())
	}
	if len(p.Samples) != 3 || strings.Join(p.Samples[0].Stack, ",") != strings.Join(decode, ",") {
		t.Fatalf("samples %+v", p.Samples)
	}
	shares, total := p.Shares(p.ValueIndex())
	if total != 100e6 {
		t.Fatalf("total %d", total)
	}
	for bucket, want := range map[string]float64{BucketDecode: 0.5, BucketGC: 0.3, BucketTable: 0.2} {
		if math.Abs(shares[bucket]-want) > 1e-9 {
			t.Errorf("%s: %v, want %v", bucket, shares[bucket], want)
		}
	}
}

func TestParseARealHeapProfile(t *testing.T) {
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	sink := make([][]byte, 0, 100)
	for range 100 {
		sink = append(sink, make([]byte, 1024))
	}
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup("allocs").WriteTo(&buf, 0); err != nil {
		t.Fatal(err)
	}
	p, err := ParseProfile(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if i := p.ValueIndex(); i < 0 || p.SampleTypes[i] != "alloc_space/bytes" {
		t.Fatalf("sample types %v", p.SampleTypes)
	}
	found := false
	for _, s := range p.Samples {
		for _, f := range s.Stack {
			found = found || strings.Contains(f, "TestParseARealHeapProfile")
		}
	}
	if !found {
		t.Errorf("no sample allocated in the test among %d samples", len(p.Samples))
	}
	shares, total := p.Shares(p.ValueIndex())
	if total < 100*1024 {
		t.Errorf("total %d bytes allocated, want at least %d", total, 100*1024)
	}
	if shares[BucketGC] != 0 {
		t.Errorf("allocations counted as GC: %v", shares)
	}
	_ = sink
}
