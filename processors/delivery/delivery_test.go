package delivery

import (
	"reflect"
	"testing"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/codecs/state"
)

func TestAppliedWithLSN(t *testing.T) {
	var a Applied
	steps := []struct {
		lsn  uint64
		want bool
	}{{100, true}, {100, false}, {90, false}, {101, true}, {100, false}, {200, true}}
	for _, s := range steps {
		if got := a.Admit(debezium.Position{LSN: s.lsn, TsMs: 1}, 7); got != s.want {
			t.Fatalf("Admit(lsn %d) = %v, want %v", s.lsn, got, s.want)
		}
	}
}

func TestAppliedTimestampOnly(t *testing.T) {
	var a Applied
	ts := func(ms int64) debezium.Position { return debezium.Position{TsMs: ms} }
	steps := []struct {
		pos  debezium.Position
		fp   uint64
		want bool
	}{
		{ts(10), 1, true},  // insert
		{ts(10), 2, true},  // update in the same transaction: arrival order
		{ts(10), 1, false}, // redelivered insert
		{ts(10), 2, false}, // redelivered update
		{ts(9), 3, false},  // older
		{ts(11), 1, true},  // a later identical row is a new change
		{ts(10), 2, false},
	}
	for i, s := range steps {
		if got := a.Admit(s.pos, s.fp); got != s.want {
			t.Fatalf("step %d: Admit(%v, %d) = %v, want %v", i, s.pos, s.fp, got, s.want)
		}
	}
}

func TestMarksPerPartition(t *testing.T) {
	var m Marks
	o := func(p int32, off int64, seq uint32) Origin { return Origin{Partition: p, Offset: off, Seq: seq} }
	steps := []struct {
		o    Origin
		want bool
	}{
		{o(0, 5, 0), true}, {o(0, 5, 1), true}, {o(0, 5, 1), false}, {o(0, 5, 0), false},
		{o(1, 2, 0), true}, {o(0, 4, 9), false}, {o(1, 3, 0), true}, {o(0, 6, 0), true},
	}
	for i, s := range steps {
		if got := m.Admit(s.o); got != s.want {
			t.Fatalf("step %d: Admit(%+v) = %v, want %v", i, s.o, got, s.want)
		}
	}
	if len(m) != 2 {
		t.Fatalf("marks %v, want one per partition", m)
	}
}

func TestEncodingsRoundTrip(t *testing.T) {
	a := Applied{Pos: debezium.Position{LSN: 1 << 40, TsMs: 1736931600000}, Prints: []uint64{1, 1 << 63}}
	m := Marks{{Partition: 3, Offset: 1 << 33, Seq: 2}, {Partition: 0, Offset: 0, Seq: 0}}
	o := Outbox{{Partition: 1, Offset: 99, Outs: []Out{{Key: "p/1", Value: []byte{1, 2}}, {Topic: "alerts", Key: "1", Value: nil}}}}
	w := state.NewWriter(nil)
	a.MarshalState(w)
	m.MarshalState(w)
	o.MarshalState(w)
	r := state.NewReader(w.Bytes())
	var a2 Applied
	var m2 Marks
	var o2 Outbox
	if err := a2.UnmarshalState(r); err != nil {
		t.Fatal(err)
	}
	if err := m2.UnmarshalState(r); err != nil {
		t.Fatal(err)
	}
	if err := o2.UnmarshalState(r); err != nil {
		t.Fatal(err)
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, a2) || !reflect.DeepEqual(m, m2) || !reflect.DeepEqual(o, o2) {
		t.Fatalf("round trip differs:\n%+v %+v %+v\n%+v %+v %+v", a, m, o, a2, m2, o2)
	}
	// Truncated encodings fail instead of panicking.
	for n := 0; n < len(w.Bytes()); n++ {
		r := state.NewReader(w.Bytes()[:n])
		var a3 Applied
		var m3 Marks
		var o3 Outbox
		_ = a3.UnmarshalState(r)
		_ = m3.UnmarshalState(r)
		_ = o3.UnmarshalState(r)
		if r.Done() == nil {
			t.Fatalf("truncated at %d decoded without error", n)
		}
	}
}

func TestOutboxKeepsNewest(t *testing.T) {
	var o Outbox
	for i := int64(0); i < 6; i++ {
		o.Record(Sent{Partition: 0, Offset: i}, 4)
	}
	if len(o) != 4 || o[0].Offset != 2 || o[3].Offset != 5 {
		t.Fatalf("outbox %+v", o)
	}
	if _, ok := o.Find(0, 1); ok {
		t.Fatal("evicted entry found")
	}
	if _, ok := o.Find(0, 5); !ok {
		t.Fatal("newest entry missing")
	}
}

// fakeContext records emits; only what Emitter and Replay use is implemented.
type gokaContext = goka.Context

type fakeContext struct {
	gokaContext
	partition int32
	offset    int64
	loops     []Out
	emits     []Out
}

func (f *fakeContext) Partition() int32 { return f.partition }
func (f *fakeContext) Offset() int64    { return f.offset }
func (f *fakeContext) Loopback(key string, v interface{}, _ ...goka.ContextOption) {
	f.loops = append(f.loops, Out{Key: key, Value: v.([]byte)})
}
func (f *fakeContext) Emit(topic goka.Stream, key string, v interface{}, _ ...goka.ContextOption) {
	f.emits = append(f.emits, Out{Topic: string(topic), Key: key, Value: v.([]byte)})
}

func TestReplayReEmitsIdentically(t *testing.T) {
	first := &fakeContext{partition: 2, offset: 41}
	em := NewEmitter(first)
	if o := em.Origin(); o != (Origin{Partition: 2, Offset: 41, Seq: 0}) {
		t.Fatalf("origin %+v", o)
	}
	em.Loopback("p/1", []byte("a"))
	if o := em.Origin(); o.Seq != 1 {
		t.Fatalf("second origin %+v", o)
	}
	em.Emit("alerts", "1", []byte("b"))
	var box Outbox
	em.Record(&box, 4)

	again := &fakeContext{partition: 2, offset: 41}
	if !Replay(again, box) {
		t.Fatal("replay did not find the message")
	}
	if !reflect.DeepEqual(again.loops, first.loops) || !reflect.DeepEqual(again.emits, first.emits) {
		t.Fatalf("replay differs: %+v %+v vs %+v %+v", again.loops, again.emits, first.loops, first.emits)
	}
	if Replay(&fakeContext{partition: 2, offset: 42}, box) {
		t.Fatal("replayed a message that emitted nothing")
	}
}
