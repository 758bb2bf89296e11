package shopsim

import (
	"math/rand/v2"
	"slices"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// This file places the model's transactions in a write-ahead log the way a
// PostgreSQL server with concurrent sessions would.
//
// The model (model.go) runs the shop's transactions one after the other in
// commit order, which is the order logical decoding streams them in and
// the order the oracle replays. On a real server several sessions have a
// transaction open at once, each writing its rows at the WAL's current end
// as it goes: their changes interleave, a transaction that began later may
// commit earlier, and a transaction that commits later often wrote some of
// its changes before an earlier one committed, so it carries lower LSNs
// (CONTRACT §1, "Commit order"). source.lsn orders the changes of one row
// and of one transaction, never those of different transactions.
//
// walLayout keeps the next Window transactions of the commit order at hand
// and advances them one WAL record at a time: at each step one of the
// running transactions, picked at random, writes its next change, or the
// oldest one (the next to commit) commits once it has written everything.
// A transaction begins (may write) some commits before its own, its lead:
// one per statement after its first, plus 0 or 1, at most Window-1. So a
// multi-statement transaction (an order and its lines) is open while short
// ones (a product UPDATE) begin, write and commit before it.
//
// Row locks are respected: a transaction does not write a row that an
// earlier-committing open transaction also writes until that transaction
// has committed (had it written the row first, the earlier one would have
// waited for it and committed after it), so the changes of one row are in
// LSN order and in commit order. Different rows do not wait for each other:
// an order line may be written while an earlier-committing UPDATE of its
// product is still open (the line's KEY SHARE lock does not conflict with
// that UPDATE's FOR NO KEY UPDATE lock, and the shop has no foreign keys
// anyway), which is the contract's example (a line at 0/15336A8 committed
// after a product update at 0/15337A0), and a product UPDATE interleaves
// with the lines of open orders.
//
// The layout changes only positions and transaction ids, never values or
// timestamps: rows and commit times are those of the serial model.

// DefaultWindow is the most transactions open at once when Config.Window
// is 0.
const DefaultWindow = 4

// rowKey names one row of one table.
type rowKey struct {
	table string
	id    int64
}

// walTx is a transaction of the model being laid out in the WAL.
type walTx struct {
	changes []Change
	rows    map[rowKey]bool // every row the transaction writes
	written int             // changes already given a WAL position
	xidGap  int64           // other sessions' transaction ids assigned before this one's
	xid     int64           // assigned at the first write, as PostgreSQL does
	// lead is how many commits before its own the transaction begins: a
	// session running several statements is open longer than a one-statement
	// UPDATE, so it starts earlier and is overtaken by shorter ones.
	lead int
}

// walLayout is the shared WAL and the transactions open in it.
type walLayout struct {
	rng        *rand.Rand
	window     int
	lsn        uint64 // end of the WAL: where the next record goes
	lastXid    int64
	lastCommit uint64   // commit LSN of the last streamed transaction, 0 before the first
	open       []*walTx // generated, not committed, in commit order (those within their lead of the first have begun)
	cand       []int    // scratch: open transactions that can write
}

func newWALTx(changes []Change, xidGap int64) *walTx {
	tx := &walTx{changes: changes, rows: make(map[rowKey]bool, len(changes)), xidGap: xidGap}
	for _, c := range changes {
		tx.rows[rowKey{c.Table, c.ID}] = true
	}
	return tx
}

// admit adds the next transaction of the commit order to the open ones.
// Its lead is one commit per statement after its first, plus 0 or 1, at
// most window-1: a one-statement UPDATE begins at most one commit before
// its own, an order with its lines up to window-1 commits before.
func (w *walLayout) admit(changes []Change, xidGap int64) {
	t := newWALTx(changes, xidGap)
	t.lead = min(max(len(changes)-1, 0)+w.rng.IntN(2), w.window-1)
	w.open = append(w.open, t)
}

// step writes one WAL record: the next change of an open transaction, or
// the commit of the oldest one, which it then returns (done true) with
// every position final.
func (w *walLayout) step() (tx []Change, done bool) {
	// The running transactions that can go on: the oldest (it can always
	// write or commit), and those that have begun (within their lead of
	// the oldest), have a statement left and are not waiting for a row
	// lock. Each session is as likely to issue the next statement.
	w.cand = w.cand[:0]
	for j, t := range w.open {
		if j == 0 || j <= t.lead && t.written < len(t.changes) && !w.blocked(j) {
			w.cand = append(w.cand, j)
		}
	}
	j := w.cand[w.rng.IntN(len(w.cand))]
	t := w.open[j]
	if t.written == len(t.changes) {
		return w.commit(), true
	}
	w.write(t)
	return nil, false
}

// blocked reports whether the next change of open transaction j writes a
// row that an earlier-committing open transaction also writes.
func (w *walLayout) blocked(j int) bool {
	c := &w.open[j].changes[w.open[j].written]
	k := rowKey{c.Table, c.ID}
	for _, t := range w.open[:j] {
		if t.rows[k] {
			return true
		}
	}
	return false
}

// write gives the next change of t its WAL position.
func (w *walLayout) write(t *walTx) {
	if t.written == 0 {
		w.lastXid += t.xidGap
		t.xid = w.lastXid
	}
	c := &t.changes[t.written]
	w.noise()
	c.Src.LSN = w.lsn
	w.lsn += w.recordBytes(c)
	t.written++
}

// commit writes the commit record of the oldest open transaction and
// returns its changes, now stamped with their transaction id and the commit
// LSN of the transaction streamed before (source.sequence's first element).
func (w *walLayout) commit() []Change {
	t := w.open[0]
	w.open[0] = nil
	w.open = slices.Delete(w.open, 0, 1)
	if len(t.changes) == 0 {
		return t.changes // nothing to decode: not streamed
	}
	w.noise()
	commitLSN := w.lsn
	w.lsn += align8(40 + uint64(w.rng.IntN(16))) // xl_xact_commit with its header
	for i := range t.changes {
		t.changes[i].Src.TxID = t.xid
		t.changes[i].Src.LastCommitLSN = w.lastCommit
		t.changes[i].commitLSN = commitLSN
	}
	w.lastCommit = commitLSN
	return t.changes
}

// noise now and then lets other activity (other tables, vacuum, full-page
// images after a checkpoint) write to the WAL before the next record.
func (w *walLayout) noise() {
	if w.rng.IntN(16) == 0 {
		w.lsn += align8(uint64(64 + w.rng.IntN(4000)))
	}
}

// toastThreshold is the length above which the simulation stores a text
// value out of line in the TOAST table (PostgreSQL's TOAST_TUPLE_THRESHOLD,
// about 2 kB, taken per value and ignoring compression, as with STORAGE
// EXTERNAL).
const toastThreshold = 2032

// recordBytes is the size of the heap record of a change, roughly as
// PostgreSQL writes it: the record and block headers, the new tuple (an
// 18-byte pointer for a TOASTed value left unchanged), the old tuple under
// REPLICA IDENTITY FULL (TOASTed values flattened into it), and the TOAST
// chunks of a new out-of-line value, written just before the heap record.
func (w *walLayout) recordBytes(c *Change) uint64 {
	n := 24 + 26 + w.rng.IntN(24)
	n += tupleBytes(c.After, len(c.Src.Unavailable) > 0)
	n += tupleBytes(c.Before, false)
	if p, ok := c.After.(*debezium.Product); ok && p != nil && len(p.Description) > toastThreshold && len(c.Src.Unavailable) == 0 {
		chunks := (len(p.Description) + 1995) / 1996
		n += len(p.Description) + chunks*(24+26+24+12)
	}
	return align8(uint64(n))
}

// tupleBytes approximates the heap tuple of a row (0 for none).
func tupleBytes(row any, toastPointer bool) int {
	const header = 24
	switch r := row.(type) {
	case *debezium.Product:
		if r == nil {
			return 0
		}
		desc := len(r.Description)
		if toastPointer || desc > toastThreshold {
			desc = 18
		}
		return header + 4 + len(r.Name) + 1 + desc + 1 + 10 + 4 + 8 + 8
	case *debezium.Order:
		if r == nil {
			return 0
		}
		return header + 4 + 4 + 10 + len(r.Status) + 1 + 8 + 8
	case *debezium.OrderItem:
		if r == nil {
			return 0
		}
		return header + 4 + 4 + 4 + 4 + 10 + 8
	}
	return 0
}

func align8(n uint64) uint64 { return (n + 7) &^ 7 }

// Interleaving measures how a log's streamed transactions interleave in the
// WAL.
type Interleaving struct {
	// Transactions is the number of streamed transactions with LSNs (the
	// snapshot and changes without an LSN are not counted).
	Transactions int
	// LowerLSN is how many of them carry an LSN lower than the highest LSN
	// of a transaction committed (streamed) before them: they wrote a
	// change before an earlier-committing transaction finished writing.
	LowerLSN int
	// Overtaken is how many of them began writing before an
	// earlier-committing transaction did (their lowest LSN is below the
	// lowest LSN of a transaction streamed before them): the begin order
	// differs from the commit order.
	Overtaken int
}

// Share is LowerLSN / Transactions (0 for none).
func (s Interleaving) Share() float64 {
	if s.Transactions == 0 {
		return 0
	}
	return float64(s.LowerLSN) / float64(s.Transactions)
}

// MeasureInterleaving walks a commit-ordered log (the changes of each
// transaction together, as Generate and Next return them) and counts the
// transactions that a commit order by LSN would misplace.
func MeasureInterleaving(changes []Change) Interleaving {
	var st Interleaving
	var maxBefore uint64 // highest LSN of the transactions streamed so far
	var maxFirst uint64  // highest first LSN of the transactions streamed so far
	for i := 0; i < len(changes); {
		j := i + 1
		for j < len(changes) && changes[j].Src.TxID == changes[i].Src.TxID {
			j++
		}
		tx := changes[i:j]
		i = j
		if tx[0].Op == debezium.OpRead || tx[0].Src.Snapshot {
			continue
		}
		lo, hi := ^uint64(0), uint64(0)
		for _, c := range tx {
			if c.Src.LSN == 0 {
				continue
			}
			lo, hi = min(lo, c.Src.LSN), max(hi, c.Src.LSN)
		}
		if hi == 0 {
			continue
		}
		st.Transactions++
		if lo < maxBefore {
			st.LowerLSN++
		}
		if lo < maxFirst {
			st.Overtaken++
		}
		maxBefore, maxFirst = max(maxBefore, hi), max(maxFirst, lo)
	}
	return st
}
