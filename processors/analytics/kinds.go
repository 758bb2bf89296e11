package analytics

import (
	"strings"

	"github.com/cdcflow/cdcflow/codecs/state"
	"github.com/cdcflow/cdcflow/processors/delivery"
)

// kind is one kind of entity of the group table.
type kind struct {
	prefix string     // of its keys
	state  state.Kind // its encoding: tag, name, layout version, constructor
	// aggregate: it only adds up the deltas it receives (see aggregate).
	aggregate bool
}

// kinds are the kinds of entity of the group table, the one place that
// lists them. The tags are those of the first release, whose values start
// with the tag alone (layout version 1).
var kinds = []kind{
	{OrderPrefix, state.Kind{Tag: 1, Name: "order", Version: 1, New: func() state.Value { return new(Order) }}, false},
	{LinePrefix, state.Kind{Tag: 2, Name: "line", Version: 1, New: func() state.Value { return new(Line) }}, false},
	{DailyPrefix, state.Kind{Tag: 3, Name: "daily", Version: 1, New: func() state.Value { return new(Daily) }}, true},
	{ProductPrefix, state.Kind{Tag: 4, Name: "product", Version: 1, New: func() state.Value { return new(ProductSales) }}, true},
	{CustomerPrefix, state.Kind{Tag: 5, Name: "customer", Version: 1, New: func() state.Value { return new(Customer) }}, true},
	{StatusPrefix, state.Kind{Tag: 6, Name: "status", Version: 1, New: func() state.Value { return new(Status) }}, true},
	{WindowPrefix, state.Kind{Tag: 7, Name: "window", Version: 1, New: func() state.Value { return new(Window) }}, true},
}

// tableKinds encodes the values of every kind.
var tableKinds = func() *state.Table {
	sk := make([]state.Kind, len(kinds))
	for i, k := range kinds {
		sk[i] = k.state
	}
	return state.NewTable("analytics", sk...)
}()

// kindOf returns the kind of a table key and the rest of the key after its
// prefix.
func kindOf(key string) (*kind, string, bool) {
	for i := range kinds {
		if rest, ok := strings.CutPrefix(key, kinds[i].prefix); ok {
			return &kinds[i], rest, true
		}
	}
	return nil, "", false
}

// ParseKey splits a table key into the name of its kind ("order", "line",
// "daily", "product", "customer", "status", "window") and what follows the
// prefix: the order, line, product or customer id, the day
// (DayLayout), the status, or the window start in Unix seconds. It reports
// false for a key of no kind.
func ParseKey(key string) (kindName, rest string, ok bool) {
	k, rest, ok := kindOf(key)
	if !ok {
		return "", "", false
	}
	return k.state.Name, rest, true
}

// AggregatePrefixes are the key prefixes of the aggregates (daily,
// product, customer, status, window), for reading them by key range.
func AggregatePrefixes() []string {
	var out []string
	for _, k := range kinds {
		if k.aggregate {
			out = append(out, k.prefix)
		}
	}
	return out
}

// aggregate is an entity that only receives deltas: Marks alone makes a
// delta count once, and it emits nothing.
type aggregate interface {
	state.Value
	delivery.Entity
	marks() *delivery.Marks
	add(d Delta)
}

// Box implements delivery.Entity.
func (o *Order) Box() *delivery.Outbox { return &o.Outbox }

// Box implements delivery.Entity.
func (l *Line) Box() *delivery.Outbox { return &l.Outbox }

// Box implements delivery.Entity: aggregates emit nothing.
func (d *Daily) Box() *delivery.Outbox { return nil }

// Box implements delivery.Entity: aggregates emit nothing.
func (p *ProductSales) Box() *delivery.Outbox { return nil }

// Box implements delivery.Entity: aggregates emit nothing.
func (c *Customer) Box() *delivery.Outbox { return nil }

// Box implements delivery.Entity: aggregates emit nothing.
func (s *Status) Box() *delivery.Outbox { return nil }

// Box implements delivery.Entity: aggregates emit nothing.
func (w *Window) Box() *delivery.Outbox { return nil }

func (d *Daily) marks() *delivery.Marks        { return &d.Marks }
func (p *ProductSales) marks() *delivery.Marks { return &p.Marks }
func (c *Customer) marks() *delivery.Marks     { return &c.Marks }
func (s *Status) marks() *delivery.Marks       { return &s.Marks }
func (w *Window) marks() *delivery.Marks       { return &w.Marks }
