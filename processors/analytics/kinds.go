package analytics

import (
	"strings"

	"github.com/cdcflow/cdcflow/codecs/state"
	"github.com/cdcflow/cdcflow/processors/delivery"
)

// kinds are the kinds of entity of the group table, the one place that
// lists them. The tags are those of the first release, whose values start
// with the tag alone (layout version 1). Tags 3 to 7 were the aggregates
// of the first release (days, products, customers, statuses, windows),
// which the reports now fold from the orders and lines (Figures): they are
// retired, and their keys (retiredPrefixes) are deleted when a delta of the
// first release reaches them.
var kinds = []state.Kind{
	{Tag: 1, Name: "order", Version: 2, New: func() state.Value { return new(Order) }},
	{Tag: 2, Name: "line", Version: 1, New: func() state.Value { return new(Line) }},
}

// retiredPrefixes are the key prefixes of the first release's aggregates:
// d/<day>, p/<product>, c/<customer>, s/<status>, w/<window>.
var retiredPrefixes = []string{"d/", "p/", "c/", "s/", "w/"}

// tableKinds encodes the values of every kind.
var tableKinds = state.NewTable("analytics", kinds...)

// IsEntityKey reports whether a table key is an order's or a line's: the
// keys whose values count in the Figures. Other keys (the first release's
// aggregates) are skipped by whoever folds the table.
func IsEntityKey(key string) bool {
	return strings.HasPrefix(key, OrderPrefix) || strings.HasPrefix(key, LinePrefix)
}

func isRetiredKey(key string) bool {
	for _, p := range retiredPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Box implements delivery.Entity: an order sends nothing.
func (o *Order) Box() *delivery.Outbox { return nil }

// Box implements delivery.Entity.
func (l *Line) Box() *delivery.Outbox { return &l.Outbox }
