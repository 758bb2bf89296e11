package delivery

import "github.com/lovoo/goka"

// Entity is a table value under the exactly-once rules. Box returns the
// outbox where the entity remembers its recent emits, or nil for an entity
// that emits nothing (its rules may not emit).
type Entity interface {
	Box() *Outbox
}

// Outcome is what Update did with a message.
type Outcome int

// Outcomes of Update.
const (
	// Changed: the rule applied the message; its emits were sent and the
	// state stored.
	Changed Outcome = iota
	// Duplicate: the rule found the message's effect already in the state.
	Duplicate
	// Replayed: the outbox remembered the message; what it emitted the
	// first time was sent again.
	Replayed
)

// Rule is one callback's rule: it applies the message being processed to
// the entity e, sending what it emits through em, and reports whether it
// applied it. A rule that returns false must leave e as it found it; what
// it emitted is dropped.
type Rule[E Entity] func(e E, em *Emitter) (applied bool)

// Update runs rule on the state of the key being processed in ctx, under
// the exactly-once rules every callback of a processor follows:
//
//  1. the state is the key's table value, or fresh() when it has none;
//  2. when the state's outbox remembers the message (it was processed
//     before a crash), what it emitted then is emitted again, the state is
//     written back unchanged (Heal), and rule does not run: the state holds
//     the message's effect already;
//  3. when rule reports a duplicate, nothing is emitted and the state is
//     written back unchanged (Heal);
//  4. otherwise the emits are sent and remembered in the outbox (the newest
//     keep callbacks' worth), and the state is stored.
//
// Callbacks are deterministic, so steps 2 and 3 make a redelivered message
// have its effect once.
func Update[E Entity](ctx goka.Context, fresh func() E, keep int, rule Rule[E]) Outcome {
	e, ok := ctx.Value().(E)
	if !ok {
		e = fresh()
	}
	box := e.Box()
	if box != nil && Replay(ctx, *box) {
		Heal(ctx)
		return Replayed
	}
	em := &Emitter{sent: Sent{Partition: ctx.Partition(), Offset: ctx.Offset()}}
	if !rule(e, em) {
		Heal(ctx)
		return Duplicate
	}
	if len(em.sent.Outs) > 0 {
		if box == nil {
			panic("delivery: a rule of an entity without an outbox emitted")
		}
		em.send(ctx)
		box.Record(em.sent, keep)
	}
	ctx.SetValue(e)
	return Changed
}

// Emitter collects the messages a rule emits; Update sends them once the
// rule has applied its message.
type Emitter struct {
	sent Sent
}

// Origin returns the origin of the next message the rule emits.
func (e *Emitter) Origin() Origin {
	return Origin{Partition: e.sent.Partition, Offset: e.sent.Offset, Seq: uint32(len(e.sent.Outs))}
}

// Loopback sends value to key on the group's loopback topic.
func (e *Emitter) Loopback(key string, value []byte) {
	e.sent.Outs = append(e.sent.Outs, Out{Key: key, Value: value})
}

// Emit sends value to key on an output topic.
func (e *Emitter) Emit(topic goka.Stream, key string, value []byte) {
	e.sent.Outs = append(e.sent.Outs, Out{Topic: string(topic), Key: key, Value: value})
}

// send emits the collected messages in ctx.
func (e *Emitter) send(ctx goka.Context) { emit(ctx, e.sent.Outs) }
