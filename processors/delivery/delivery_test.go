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

// fakeContext is the part of a goka.Context that Update uses: the message's
// partition and offset, the key's value, and the emits.
type gokaContext = goka.Context

type fakeContext struct {
	gokaContext
	partition int32
	offset    int64
	value     any
	sets      int // SetValue calls
	loops     []Out
	emits     []Out
}

func (f *fakeContext) Partition() int32                                { return f.partition }
func (f *fakeContext) Offset() int64                                   { return f.offset }
func (f *fakeContext) Value() interface{}                              { return f.value }
func (f *fakeContext) SetValue(v interface{}, _ ...goka.ContextOption) { f.value = v; f.sets++ }
func (f *fakeContext) Loopback(key string, v interface{}, _ ...goka.ContextOption) {
	f.loops = append(f.loops, Out{Key: key, Value: v.([]byte)})
}
func (f *fakeContext) Emit(topic goka.Stream, key string, v interface{}, _ ...goka.ContextOption) {
	f.emits = append(f.emits, Out{Topic: string(topic), Key: key, Value: v.([]byte)})
}

// counter is an entity that counts the messages applied to it; a message
// at an offset it has seen is a duplicate.
type counter struct {
	N      int
	Last   int64
	Outbox Outbox
}

func (c *counter) Box() *Outbox { return &c.Outbox }

// rule counts the message at offset and emits a loopback and an output
// message naming the count.
func rule(offset int64) Rule[*counter] {
	return func(c *counter, em *Emitter) bool {
		if offset <= c.Last {
			em.Loopback("dropped", nil) // must not be sent
			return false
		}
		c.N++
		c.Last = offset
		em.Loopback("loop", []byte{byte(c.N), byte(em.Origin().Seq)})
		em.Emit("alerts", "k", []byte{byte(c.N), byte(em.Origin().Seq)})
		return true
	}
}

func TestUpdate(t *testing.T) {
	fresh := func() *counter { return new(counter) }

	first := &fakeContext{partition: 2, offset: 41}
	if got := Update(first, fresh, 4, rule(41)); got != Changed {
		t.Fatalf("first delivery: %v, want Changed", got)
	}
	c := first.value.(*counter)
	if c.N != 1 || first.sets != 1 {
		t.Fatalf("state %+v after %d SetValue calls", c, first.sets)
	}
	wantLoops := []Out{{Key: "loop", Value: []byte{1, 0}}}
	wantEmits := []Out{{Topic: "alerts", Key: "k", Value: []byte{1, 1}}}
	if !reflect.DeepEqual(first.loops, wantLoops) || !reflect.DeepEqual(first.emits, wantEmits) {
		t.Fatalf("sent %+v %+v", first.loops, first.emits)
	}
	if len(c.Outbox) != 1 || c.Outbox[0].Partition != 2 || c.Outbox[0].Offset != 41 {
		t.Fatalf("outbox %+v", c.Outbox)
	}

	// Redelivered after a crash that kept the state: the same messages
	// again, the state written back as it was, the rule not run.
	again := &fakeContext{partition: 2, offset: 41, value: c}
	if got := Update(again, fresh, 4, func(*counter, *Emitter) bool { t.Fatal("rule ran on a replay"); return false }); got != Replayed {
		t.Fatalf("redelivery: %v, want Replayed", got)
	}
	if !reflect.DeepEqual(again.loops, wantLoops) || !reflect.DeepEqual(again.emits, wantEmits) || again.sets != 1 || c.N != 1 {
		t.Fatalf("replay sent %+v %+v, %d SetValue calls, state %+v", again.loops, again.emits, again.sets, c)
	}

	// A duplicate the outbox does not remember: nothing sent, state healed.
	dup := &fakeContext{partition: 2, offset: 40, value: c}
	if got := Update(dup, fresh, 4, rule(40)); got != Duplicate {
		t.Fatalf("duplicate: %v, want Duplicate", got)
	}
	if len(dup.loops)+len(dup.emits) != 0 || dup.sets != 1 || dup.value != c || c.N != 1 {
		t.Fatalf("duplicate sent %+v %+v, %d SetValue calls", dup.loops, dup.emits, dup.sets)
	}

	// A duplicate on a key with no state writes nothing.
	empty := &fakeContext{partition: 0, offset: 0}
	if got := Update(empty, fresh, 4, rule(0)); got != Duplicate || empty.sets != 0 {
		t.Fatalf("duplicate on an empty key: %v, %d SetValue calls", got, empty.sets)
	}

	// The outbox keeps the newest keep callbacks.
	for off := int64(42); off < 48; off++ {
		if got := Update(&fakeContext{partition: 2, offset: off, value: c}, fresh, 4, rule(off)); got != Changed {
			t.Fatalf("offset %d: %v", off, got)
		}
	}
	if len(c.Outbox) != 4 || c.Outbox[0].Offset != 44 {
		t.Fatalf("outbox %+v", c.Outbox)
	}
}

// plain is an entity without an outbox.
type plain struct{ N int }

func (*plain) Box() *Outbox { return nil }

func TestUpdateWithoutOutbox(t *testing.T) {
	ctx := &fakeContext{partition: 1, offset: 5}
	fresh := func() *plain { return new(plain) }
	if got := Update(ctx, fresh, 0, func(p *plain, _ *Emitter) bool { p.N++; return true }); got != Changed || ctx.value.(*plain).N != 1 {
		t.Fatalf("%v %+v", got, ctx.value)
	}
	defer func() {
		if recover() == nil {
			t.Error("an entity without an outbox emitted without a panic")
		}
	}()
	Update(ctx, fresh, 0, func(_ *plain, em *Emitter) bool { em.Loopback("k", nil); return true })
}
