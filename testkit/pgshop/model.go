package pgshop

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is a column's SQL type as the connector maps it.
type Kind uint8

const (
	KindInt32     Kind = iota // INTEGER, SERIAL: int32
	KindText                  // VARCHAR, TEXT: string
	KindDecimal               // DECIMAL(p,s): org.apache.kafka.connect.data.Decimal
	KindTimestamp             // TIMESTAMP: io.debezium.time.MicroTimestamp
)

// Column is one column of a captured table.
type Column struct {
	Name      string
	Kind      Kind
	Optional  bool // nullable
	Precision int  // DECIMAL only
	Scale     int  // DECIMAL only
	Serial    bool // the SERIAL primary key
}

// Table is one captured table, its columns in their ordinal order.
type Table struct {
	Name    string
	Columns []Column
}

// Col returns the position of a column, or panics.
func (t *Table) Col(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	panic("pgshop: table " + t.Name + " has no column " + name)
}

// The shop's tables (CONTRACT §1), as schema.go creates them.
var (
	Products = &Table{Name: "products", Columns: []Column{
		{Name: "id", Kind: KindInt32, Serial: true},
		{Name: "name", Kind: KindText},
		{Name: "description", Kind: KindText, Optional: true},
		{Name: "price", Kind: KindDecimal, Precision: 10, Scale: 2},
		{Name: "stock_quantity", Kind: KindInt32},
		{Name: "created_at", Kind: KindTimestamp, Optional: true},
		{Name: "updated_at", Kind: KindTimestamp, Optional: true},
	}}
	Orders = &Table{Name: "orders", Columns: []Column{
		{Name: "id", Kind: KindInt32, Serial: true},
		{Name: "customer_id", Kind: KindInt32},
		{Name: "total_amount", Kind: KindDecimal, Precision: 10, Scale: 2},
		{Name: "status", Kind: KindText},
		{Name: "created_at", Kind: KindTimestamp, Optional: true},
		{Name: "updated_at", Kind: KindTimestamp, Optional: true},
	}}
	OrderItems = &Table{Name: "order_items", Columns: []Column{
		{Name: "id", Kind: KindInt32, Serial: true},
		{Name: "order_id", Kind: KindInt32, Optional: true},
		{Name: "product_id", Kind: KindInt32, Optional: true},
		{Name: "quantity", Kind: KindInt32},
		{Name: "price", Kind: KindDecimal, Precision: 10, Scale: 2},
		{Name: "created_at", Kind: KindTimestamp, Optional: true},
	}}
	Tables = []*Table{Products, Orders, OrderItems}
)

// TableNamed returns the shop table of that name, or nil.
func TableNamed(name string) *Table {
	for _, t := range Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Value is one column value: N for integers, DECIMAL (unscaled: cents for
// scale 2) and TIMESTAMP (µs since the epoch, the column read as UTC); S
// for text.
type Value struct {
	Null bool
	N    int64
	S    string
}

// Row is one row image, its values in the table's column order.
type Row []Value

// Equal reports whether two rows hold the same values.
func (r Row) Equal(o Row) bool {
	if len(r) != len(o) {
		return false
	}
	for i := range r {
		if r[i] != o[i] {
			return false
		}
	}
	return true
}

// Int returns column i as an integer (0 for NULL).
func (r Row) Int(i int) int64 { return r[i].N }

// ParseText parses a column value from PostgreSQL's text output (pgoutput
// and ::text), DateStyle ISO.
func ParseText(c Column, s string) (Value, error) {
	switch c.Kind {
	case KindInt32:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return Value{}, fmt.Errorf("column %s: %q: %v", c.Name, s, err)
		}
		return Value{N: n}, nil
	case KindText:
		return Value{S: s}, nil
	case KindDecimal:
		n, err := parseDecimal(s, c.Scale)
		if err != nil {
			return Value{}, fmt.Errorf("column %s: %v", c.Name, err)
		}
		return Value{N: n}, nil
	case KindTimestamp:
		t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, time.UTC)
		if err != nil {
			return Value{}, fmt.Errorf("column %s: %q: %v", c.Name, s, err)
		}
		return Value{N: t.UnixMicro()}, nil
	}
	return Value{}, fmt.Errorf("column %s: unknown kind %d", c.Name, c.Kind)
}

// parseDecimal reads "-12.3" into its unscaled integer at scale (-1230 at
// scale 2), exactly.
func parseDecimal(s string, scale int) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(digits, ".")
	if len(frac) > scale || whole == "" {
		return 0, fmt.Errorf("decimal %q does not fit scale %d", s, scale)
	}
	frac += strings.Repeat("0", scale-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("decimal %q: %v", s, err)
	}
	if neg {
		n = -n
	}
	return n, nil
}

// FormatDecimal renders an unscaled value at scale: 2490, 2 → "24.90".
func FormatDecimal(n int64, scale int) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign, u = "-", uint64(-n)
	}
	s := strconv.FormatUint(u, 10)
	if scale == 0 {
		return sign + s
	}
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	return sign + s[:len(s)-scale] + "." + s[len(s)-scale:]
}

// Op is a change's Debezium operation: 'r', 'c', 'u' or 'd'.
type Op byte

const (
	OpRead   Op = 'r'
	OpCreate Op = 'c'
	OpUpdate Op = 'u'
	OpDelete Op = 'd'
)

// Change is one captured row change.
type Change struct {
	Table  *Table
	Op     Op
	ID     int64
	Before Row // u, d (REPLICA IDENTITY FULL: the whole old row)
	After  Row // r, c, u: the true new row (unchanged TOAST values resolved from Before)
	// Unchanged lists the columns of After that pgoutput sent as
	// unchanged TOAST values ('u'): the connector renders them as the
	// unavailable-value placeholder.
	Unchanged []int
	// LSN is where the change was written (the WALStart of its XLogData
	// message; the consistent point for snapshot rows).
	LSN uint64
	// ReceivedAt is when the capture received it: the connector's
	// processing time (the envelope's ts_ms).
	ReceivedAt time.Time
	Tx         *Tx
}

// Tx is one transaction of the stream (or the snapshot).
type Tx struct {
	Xid        uint32
	Snapshot   bool
	CommitTime time.Time // BEGIN's commit timestamp; the snapshot's time for the snapshot
	CommitLSN  uint64    // the commit record's LSN
	EndLSN     uint64    // the end of the commit record: what Debezium takes as the commit LSN
	// LastCommitLSN is the EndLSN of the transaction streamed before this
	// one (0: none, the first streamed transaction and the snapshot):
	// source.sequence's first element.
	LastCommitLSN uint64
	Changes       []*Change
}

// Capture is everything the slot delivered, in commit (stream) order.
type Capture struct {
	Slot            string
	ConsistentPoint uint64
	Snapshot        *Tx   // the rows read in the slot's exported snapshot (op r); nil when none
	Txs             []*Tx // streamed transactions in commit order, including any without changes
}

// Changes returns every change in commit order, the snapshot first.
func (c *Capture) Changes() []*Change {
	var out []*Change
	if c.Snapshot != nil {
		out = append(out, c.Snapshot.Changes...)
	}
	for _, tx := range c.Txs {
		out = append(out, tx.Changes...)
	}
	return out
}

// Stats are figures of a capture.
type Stats struct {
	Transactions int // streamed transactions with at least one change
	Changes      int // streamed row changes
	Snapshot     int // snapshot rows
	// LateCommitted counts the transactions, in commit order, whose
	// smallest change LSN is below the largest change LSN of a transaction
	// committed before them: where source.lsn alone orders wrong.
	LateCommitted int
	// UnchangedToast counts the updates with an unchanged TOASTed column.
	UnchangedToast int
	// MisorderedPairs counts the pairs of a product version and an order
	// line change of that product that source.lsn orders against the
	// commit order, where it matters to the stock: a line committed after
	// the version it follows but written before it (LSN order would take
	// it as counted in the version), or a line committed before a version
	// but written after it (LSN order would count it twice).
	// MisorderedProducts counts the products with at least one.
	MisorderedPairs, MisorderedProducts int
	// MisorderedFinal counts the products live at the end whose latest
	// version is in such a pair, or followed by a line change written
	// before it: those whose final stock an LSN-only order gets wrong
	// (unless errors cancel out).
	MisorderedFinal int
	ByTableOp       map[string]int // "products/u" → count
}

// Stats computes the capture's figures.
func (c *Capture) Stats() Stats {
	s := Stats{ByTableOp: map[string]int{}}
	if c.Snapshot != nil {
		s.Snapshot = len(c.Snapshot.Changes)
		for _, ch := range c.Snapshot.Changes {
			s.ByTableOp[ch.Table.Name+"/"+string(ch.Op)]++
		}
	}
	s.MisorderedPairs, s.MisorderedProducts, s.MisorderedFinal = c.misordered()
	var maxSoFar uint64
	for _, tx := range c.Txs {
		if len(tx.Changes) == 0 {
			continue
		}
		s.Transactions++
		lo, hi := tx.Changes[0].LSN, tx.Changes[0].LSN
		for _, ch := range tx.Changes {
			s.Changes++
			lo, hi = min(lo, ch.LSN), max(hi, ch.LSN)
			s.ByTableOp[ch.Table.Name+"/"+string(ch.Op)]++
			if len(ch.Unchanged) > 0 {
				s.UnchangedToast++
			}
		}
		if lo < maxSoFar {
			s.LateCommitted++
		}
		maxSoFar = max(maxSoFar, hi)
	}
	return s
}

// FormatLSN renders an LSN as PostgreSQL does: "0/15336A8".
func FormatLSN(lsn uint64) string { return fmt.Sprintf("%X/%X", lsn>>32, uint32(lsn)) }

// misordered counts the product version / line change pairs whose LSN
// order disagrees with their commit order (see Stats).
func (c *Capture) misordered() (pairs, products, final int) {
	type pstate struct {
		version uint64   // LSN of the latest version (commit order)
		since   []uint64 // LSNs of the line changes committed since
		bad     bool     // the latest version is in a misordered pair
		live    bool
	}
	st := map[int64]*pstate{}
	bad := map[int64]bool{}
	get := func(id int64) *pstate {
		if st[id] == nil {
			st[id] = &pstate{}
		}
		return st[id]
	}
	line := func(pid int64, lsn uint64) {
		if pid == 0 {
			return
		}
		p := get(pid)
		if lsn < p.version {
			pairs++
			bad[pid] = true
			p.bad = true
		}
		p.since = append(p.since, lsn)
	}
	for _, ch := range c.Changes() {
		if ch.Tx.Snapshot {
			continue
		}
		switch ch.Table {
		case Products:
			p := get(ch.ID)
			p.bad, p.live = false, ch.Op != OpDelete
			for _, l := range p.since {
				if l > ch.LSN {
					pairs++
					bad[ch.ID] = true
					p.bad = true
				}
			}
			p.version, p.since = ch.LSN, p.since[:0]
		case OrderItems:
			if ch.Before != nil {
				line(ItemOf(ch.Before).ProductID, ch.LSN)
			}
			if ch.After != nil && (ch.Before == nil || ItemOf(ch.After).ProductID != ItemOf(ch.Before).ProductID) {
				line(ItemOf(ch.After).ProductID, ch.LSN)
			}
		}
	}
	for _, p := range st {
		if p.live && p.bad {
			final++
		}
	}
	return pairs, len(bad), final
}
