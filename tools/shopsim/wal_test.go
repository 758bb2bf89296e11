package shopsim

import (
	"cmp"
	"slices"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// checkPositions checks the WAL positions of a log that starts with the
// shop's snapshot (or its first streamed transaction), as a PostgreSQL
// server and the connector would have produced them:
//   - the snapshot rows share one LSN, no last commit, and precede every
//     streamed change;
//   - each transaction's changes are contiguous, share a txId, and their
//     LSNs increase, all below the transaction's commit LSN;
//   - LastCommitLSN is the commit LSN of the transaction streamed just
//     before (0 for the first), so the stream is in commit order;
//   - the changes of one row increase in LSN, and a transaction writes a row
//     only after the commit of the earlier transaction that wrote it (row
//     locks);
//   - transaction ids increase in the order of the transactions' first
//     writes (PostgreSQL assigns them then).
func checkPositions(t *testing.T, changes []Change) {
	t.Helper()
	type last struct {
		lsn, commit uint64
		tx          int64
	}
	rows := map[rowKey]last{}
	seenTx := map[int64]bool{}
	type first struct {
		lsn uint64
		tx  int64
	}
	var firsts []first
	var snapshotLSN, prevCommit uint64
	for i, c := range changes {
		newTx := i == 0 || c.Src.TxID != changes[i-1].Src.TxID
		if c.Op == debezium.OpRead {
			if snapshotLSN == 0 {
				snapshotLSN = c.Src.LSN
			}
			if c.Src.LSN != snapshotLSN || c.Src.LSN == 0 || c.Src.LastCommitLSN != 0 || c.commitLSN != 0 {
				t.Fatalf("change %d: snapshot row at %+v (commit %d), not at the snapshot's LSN %d without a last commit", i, c.Src, c.commitLSN, snapshotLSN)
			}
		} else {
			if c.Src.LSN <= snapshotLSN || c.Src.LSN >= c.commitLSN {
				t.Fatalf("change %d: LSN %d not between the snapshot's %d and its commit %d", i, c.Src.LSN, snapshotLSN, c.commitLSN)
			}
			if newTx {
				if c.Src.LastCommitLSN != prevCommit {
					t.Fatalf("change %d: last commit LSN %d, but the transaction streamed before committed at %d", i, c.Src.LastCommitLSN, prevCommit)
				}
				if c.commitLSN <= prevCommit {
					t.Fatalf("change %d: commit LSN %d not after the previous commit %d", i, c.commitLSN, prevCommit)
				}
				prevCommit = c.commitLSN
				firsts = append(firsts, first{c.Src.LSN, c.Src.TxID})
			} else {
				p := changes[i-1]
				if c.Src.LSN <= p.Src.LSN || c.Src.LastCommitLSN != p.Src.LastCommitLSN || c.commitLSN != p.commitLSN {
					t.Fatalf("change %d: %+v (commit %d) does not follow %+v (commit %d) in its transaction", i, c.Src, c.commitLSN, p.Src, p.commitLSN)
				}
			}
		}
		if newTx {
			if seenTx[c.Src.TxID] {
				t.Fatalf("change %d: transaction %d is not contiguous, or its id is reused", i, c.Src.TxID)
			}
			seenTx[c.Src.TxID] = true
		}
		k := rowKey{c.Table, c.ID}
		if l, ok := rows[k]; ok {
			if c.Src.LSN <= l.lsn && c.Op != debezium.OpRead {
				t.Fatalf("change %d: %s %d written at %d, not after its previous change at %d", i, c.Table, c.ID, c.Src.LSN, l.lsn)
			}
			if l.tx != c.Src.TxID && c.Src.LSN <= l.commit {
				t.Fatalf("change %d: %s %d written at %d, before the commit (%d) of the transaction that wrote it before", i, c.Table, c.ID, c.Src.LSN, l.commit)
			}
		}
		rows[k] = last{c.Src.LSN, c.commitLSN, c.Src.TxID}
	}
	slices.SortFunc(firsts, func(a, b first) int { return cmp.Compare(a.lsn, b.lsn) })
	for i := 1; i < len(firsts); i++ {
		if firsts[i].tx <= firsts[i-1].tx {
			t.Fatalf("transaction %d wrote first at %d, after transaction %d (at %d): ids not in the order of first writes",
				firsts[i].tx, firsts[i].lsn, firsts[i-1].tx, firsts[i-1].lsn)
		}
	}
}

// TestInterleaving: at the default window, many transactions committed
// later carry LSNs below those of earlier-committed ones, as on a busy
// PostgreSQL server, while the positions stay those a server would write.
func TestInterleaving(t *testing.T) {
	changes := New(Config{Seed: 7, Products: 20}).Generate(30000)
	checkPositions(t, changes)
	st := MeasureInterleaving(changes)
	t.Logf("default window %d: %d of %d streamed transactions (%.1f%%) carry an LSN below one of an earlier-committed transaction; %d began writing before an earlier-committed one",
		DefaultWindow, st.LowerLSN, st.Transactions, 100*st.Share(), st.Overtaken)
	if st.Transactions < 5000 || st.Share() < 0.15 || st.Overtaken == 0 {
		t.Fatalf("interleaving %+v (share %.3f): want tens of percent of transactions with lower LSNs", st, st.Share())
	}

	// The contract's case: an order line written before an
	// earlier-committing UPDATE of its product committed (the line's
	// transaction commits after the update, with a lower LSN).
	type update struct {
		lsn, commit uint64
		tx          int64
	}
	lastUpdate := map[int64]update{} // product id → its latest update in commit order
	lineFirst, productBetweenLines := 0, 0
	for i, c := range changes {
		switch {
		case c.Table == debezium.TableProducts && c.Op == debezium.OpUpdate:
			lastUpdate[c.ID] = update{c.Src.LSN, c.commitLSN, c.Src.TxID}
		case c.Table == debezium.TableOrderItems && c.Op == debezium.OpCreate:
			it := c.After.(*debezium.OrderItem)
			if u, ok := lastUpdate[it.ProductID]; ok && u.tx != c.Src.TxID && c.Src.LSN < u.lsn {
				lineFirst++
			}
		}
		// A product UPDATE written between two changes of an order
		// transaction streamed after it.
		if i > 0 && c.Src.TxID == changes[i-1].Src.TxID && c.Table == debezium.TableOrderItems {
			for _, u := range lastUpdate {
				if u.tx != c.Src.TxID && u.lsn > changes[i-1].Src.LSN && u.lsn < c.Src.LSN {
					productBetweenLines++
					break
				}
			}
		}
	}
	t.Logf("order lines written below an earlier-committed update of their product: %d; product updates written inside a later order transaction: %d", lineFirst, productBetweenLines)
	if lineFirst == 0 || productBetweenLines == 0 {
		t.Fatal("the simulated server never interleaved an order with a product update")
	}

	// A window of 1 runs one transaction at a time: LSNs in commit order,
	// and the same rows and timestamps.
	serial := New(Config{Seed: 7, Products: 20, Window: 1}).Generate(30000)
	checkPositions(t, serial)
	if st := MeasureInterleaving(serial); st.LowerLSN != 0 || st.Overtaken != 0 {
		t.Fatalf("window 1: %+v", st)
	}
	if len(serial) != len(changes) {
		t.Fatalf("window 1 generated %d changes, window %d %d", len(serial), DefaultWindow, len(changes))
	}
	for i := range serial {
		a, b := serial[i], changes[i]
		if a.Table != b.Table || a.Op != b.Op || a.ID != b.ID || a.Src.TsMs != b.Src.TsMs {
			t.Fatalf("change %d differs with the window: %+v / %+v", i, a, b)
		}
	}
	for i := 1; i < len(serial); i++ {
		if serial[i].Src.LSN <= serial[i-1].Src.LSN && serial[i].Op != debezium.OpRead {
			t.Fatalf("window 1: change %d at %d after %d", i, serial[i].Src.LSN, serial[i-1].Src.LSN)
		}
	}
}

// TestUnchangedToast: exactly the updates that leave a description longer
// than the TOAST threshold unchanged name it unavailable.
func TestUnchangedToast(t *testing.T) {
	changes := New(Config{Seed: 11, Products: 30}).Generate(20000)
	long, unavailable := 0, 0
	for i, c := range changes {
		p, ok := c.After.(*debezium.Product)
		if ok && len(p.Description) > toastThreshold {
			long++
		}
		want := false
		if b, isProduct := c.Before.(*debezium.Product); isProduct && ok && c.Op == debezium.OpUpdate {
			want = b.Description == p.Description && len(p.Description) > toastThreshold
		}
		got := len(c.Src.Unavailable) > 0
		if got != want || got && (len(c.Src.Unavailable) != 1 || c.Src.Unavailable[0] != "description") {
			t.Fatalf("change %d (%s %s %d): unavailable %v, want description unavailable %v", i, c.Table, c.Op, c.ID, c.Src.Unavailable, want)
		}
		if got {
			unavailable++
		}
	}
	t.Logf("%d product versions with a TOASTed description, %d updates leaving one unchanged", long, unavailable)
	if unavailable < 10 {
		t.Fatalf("only %d updates left a TOASTed description unchanged", unavailable)
	}
}
