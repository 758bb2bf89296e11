// Package delivery turns at-least-once delivery into exactly-once effects
// for the processors' keyed state. Three mechanisms cover the three ways a
// change can arrive twice:
//
//   - Applied: Debezium re-sends changes after a connector restart with the
//     same commit positions. An entity remembers the position it absorbed
//     last (and, for changes known only by a shared transaction timestamp,
//     the fingerprints absorbed at that timestamp), so a re-sent change is a
//     no-op.
//   - Marks: an entity that emits deltas to another key tags each delta with
//     its Origin (loop partition, offset, sequence within the callback). The
//     receiver remembers the highest origin per upstream partition; Kafka
//     keeps one producer's messages to one partition in order (idempotent
//     producer), so anything at or below the mark has been applied.
//   - Outbox: Goka writes a callback's table update and its emits
//     independently, so after a crash the table may already hold the new
//     state while an emit was lost. An entity keeps what its last few
//     callbacks emitted, keyed by the triggering message, and re-emits the
//     identical messages when that message is processed again; receivers'
//     Marks drop the copies that had arrived.
package delivery

import (
	"hash/fnv"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/codecs/state"
)

// Applied records which changes of one entity have been absorbed.
type Applied struct {
	Pos    debezium.Position
	Prints []uint64 // fingerprints absorbed at Pos when Pos has no LSN
}

// Admit reports whether a change at pos with fingerprint fp is new, and if
// so records it. With LSNs on both sides a change at or before Pos is a
// duplicate. Without an LSN, changes sharing a timestamp apply in arrival
// order and a duplicate is one whose fingerprint (op and row) was already
// absorbed at that timestamp.
func (a *Applied) Admit(pos debezium.Position, fp uint64) bool {
	if a.Pos.IsZero() {
		a.Pos, a.Prints = pos, a.Prints[:0]
		if pos.LSN == 0 {
			a.Prints = append(a.Prints, fp)
		}
		return true
	}
	switch pos.Compare(a.Pos) {
	case -1:
		return false
	case 0:
		if pos.LSN != 0 && a.Pos.LSN != 0 {
			return false
		}
		for _, p := range a.Prints {
			if p == fp {
				return false
			}
		}
		a.Prints = append(a.Prints, fp)
		return true
	}
	a.Pos, a.Prints = pos, a.Prints[:0]
	if pos.LSN == 0 {
		a.Prints = append(a.Prints, fp)
	}
	return true
}

// MarshalState implements the state encoding.
func (a *Applied) MarshalState(w *state.Writer) {
	MarshalPosition(w, a.Pos)
	w.Uvarint(uint64(len(a.Prints)))
	for _, p := range a.Prints {
		w.Uvarint(p)
	}
}

// UnmarshalState implements the state encoding.
func (a *Applied) UnmarshalState(r *state.Reader) error {
	a.Pos = UnmarshalPosition(r)
	n := r.Len()
	a.Prints = nil
	for i := 0; i < n && r.Err() == nil; i++ {
		a.Prints = append(a.Prints, r.Uvarint())
	}
	return r.Err()
}

// Position flags in the state encoding.
const (
	posSnapshot  = 1 << 0
	posSequenced = 1 << 1
)

// MarshalPosition writes a commit position: a flags byte, the sequence's
// commit LSN when sequenced, the LSN and the commit time.
func MarshalPosition(w *state.Writer, p debezium.Position) {
	var flags byte
	if p.Snapshot {
		flags |= posSnapshot
	}
	if p.Sequenced {
		flags |= posSequenced
	}
	w.Byte(flags)
	if p.Sequenced {
		w.Uvarint(p.Commit)
	}
	w.Uvarint(p.LSN)
	w.Varint(p.TsMs)
}

// UnmarshalPosition reads a commit position.
func UnmarshalPosition(r *state.Reader) debezium.Position {
	flags := r.Byte()
	p := debezium.Position{Snapshot: flags&posSnapshot != 0, Sequenced: flags&posSequenced != 0}
	if p.Sequenced {
		p.Commit = r.Uvarint()
	}
	p.LSN, p.TsMs = r.Uvarint(), r.Varint()
	return p
}

// Fingerprint hashes an operation and an encoded row; it identifies a change
// among those sharing a transaction timestamp.
func Fingerprint(op debezium.Op, row []byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte{byte(op)})
	h.Write(row)
	return h.Sum64()
}

// Origin identifies a message emitted by a callback: the partition and offset
// of the message that triggered the callback and the emit's sequence number
// within it. Callbacks are deterministic, so reprocessing a message yields
// the same origins.
type Origin struct {
	Partition int32
	Offset    int64
	Seq       uint32
}

func (o Origin) after(m Origin) bool {
	if o.Offset != m.Offset {
		return o.Offset > m.Offset
	}
	return o.Seq > m.Seq
}

// MarshalOrigin writes an origin.
func MarshalOrigin(w *state.Writer, o Origin) {
	w.Varint(int64(o.Partition))
	w.Varint(o.Offset)
	w.Uvarint(uint64(o.Seq))
}

// UnmarshalOrigin reads an origin.
func UnmarshalOrigin(r *state.Reader) Origin {
	return Origin{Partition: int32(r.Varint()), Offset: r.Varint(), Seq: uint32(r.Uvarint())}
}

// Marks holds the highest origin applied per upstream partition. Its size is
// bounded by the number of partitions of the loop topic.
type Marks []Origin

// Admit reports whether o is new, and if so records it.
func (m *Marks) Admit(o Origin) bool {
	for i, mk := range *m {
		if mk.Partition == o.Partition {
			if !o.after(mk) {
				return false
			}
			(*m)[i] = o
			return true
		}
	}
	*m = append(*m, o)
	return true
}

// MarshalState implements the state encoding.
func (m Marks) MarshalState(w *state.Writer) {
	w.Uvarint(uint64(len(m)))
	for _, o := range m {
		MarshalOrigin(w, o)
	}
}

// UnmarshalState implements the state encoding.
func (m *Marks) UnmarshalState(r *state.Reader) error {
	n := r.Len()
	*m = (*m)[:0]
	for i := 0; i < n && r.Err() == nil; i++ {
		*m = append(*m, UnmarshalOrigin(r))
	}
	return r.Err()
}

// Out is one message a callback emitted.
type Out struct {
	Topic string // "" for the group's loopback
	Key   string
	Value []byte
}

// Sent is what the callback triggered by one message emitted.
type Sent struct {
	Partition int32
	Offset    int64
	Outs      []Out
}

// Outbox keeps the emits of an entity's most recent callbacks.
type Outbox []Sent

// Find returns what the message at partition/offset emitted, if remembered.
func (o Outbox) Find(partition int32, offset int64) (Sent, bool) {
	for _, s := range o {
		if s.Partition == partition && s.Offset == offset {
			return s, true
		}
	}
	return Sent{}, false
}

// Record remembers s, keeping at most keep entries (the newest).
func (o *Outbox) Record(s Sent, keep int) {
	*o = append(*o, s)
	if over := len(*o) - keep; over > 0 {
		*o = append((*o)[:0], (*o)[over:]...)
	}
}

// MarshalState implements the state encoding.
func (o Outbox) MarshalState(w *state.Writer) {
	w.Uvarint(uint64(len(o)))
	for _, s := range o {
		w.Varint(int64(s.Partition))
		w.Varint(s.Offset)
		w.Uvarint(uint64(len(s.Outs)))
		for _, out := range s.Outs {
			w.String(out.Topic)
			w.String(out.Key)
			w.Blob(out.Value)
		}
	}
}

// UnmarshalState implements the state encoding.
func (o *Outbox) UnmarshalState(r *state.Reader) error {
	n := r.Len()
	*o = (*o)[:0]
	for i := 0; i < n && r.Err() == nil; i++ {
		s := Sent{Partition: int32(r.Varint()), Offset: r.Varint()}
		m := r.Len()
		for j := 0; j < m && r.Err() == nil; j++ {
			s.Outs = append(s.Outs, Out{Topic: r.String(), Key: r.String(), Value: r.Blob()})
		}
		*o = append(*o, s)
	}
	return r.Err()
}

// Heal writes the state the message being processed found back to the
// group table, unchanged, for a message whose effect the state already
// holds (a replay or a duplicate). The local table storage is written
// before the table's changelog in Kafka: a crash in between leaves the
// effect in the local state but not in the changelog, which the views and
// the mirrors read. When the input is redelivered after the crash, writing
// the state again puts it into the changelog. It costs one changelog write
// per duplicate.
func Heal(ctx goka.Context) {
	if v := ctx.Value(); v != nil {
		ctx.SetValue(v)
	}
}

// Replay re-emits what the message being processed in ctx emitted when it was
// processed before, if box remembers it, and reports whether it did. A
// callback that replays must not change its state: the state already holds
// the message's effect.
func Replay(ctx goka.Context, box Outbox) bool {
	s, ok := box.Find(ctx.Partition(), ctx.Offset())
	if !ok {
		return false
	}
	emit(ctx, s.Outs)
	return true
}

// emit sends outs in ctx, in order.
func emit(ctx goka.Context, outs []Out) {
	for _, o := range outs {
		if o.Topic == "" {
			ctx.Loopback(o.Key, o.Value)
		} else {
			ctx.Emit(goka.Stream(o.Topic), o.Key, o.Value)
		}
	}
}
