package shopsim

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, Products: 15}
	a := New(cfg).Generate(4000)
	b := New(cfg).Generate(4000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two shops with the same config generated different changes")
	}
	c := New(Config{Seed: 43, Products: 15}).Generate(4000)
	if reflect.DeepEqual(a, c) {
		t.Fatal("seeds 42 and 43 generated the same changes")
	}
}

// rowID returns the id inside a typed row image.
func rowID(t *testing.T, table string, row any) int64 {
	t.Helper()
	switch v := row.(type) {
	case *debezium.Product:
		if table == debezium.TableProducts && v != nil {
			return v.ID
		}
	case *debezium.Order:
		if table == debezium.TableOrders && v != nil {
			return v.ID
		}
	case *debezium.OrderItem:
		if table == debezium.TableOrderItems && v != nil {
			return v.ID
		}
	}
	t.Fatalf("row image %T (%v) does not belong to table %s", row, row, table)
	return 0
}

// stats counts what the generated log exercised.
type stats struct {
	ops              map[string]int // "table op"
	insertUpdateSame int            // a row inserted and updated in one transaction
	straddles        int            // an order created before midnight UTC, committed after
	soldDeleted      int            // products deleted while live lines reference them
	danglingEdits    int            // item changes on lines whose product is gone
	nullProduct      int            // lines inserted with product_id NULL
	moves            int            // item updates changing product_id
	nonASCII         int            // product versions with a non-ASCII name or description
	emptyDesc        int            // product versions with a NULL description
	toasted          int            // updates leaving a TOASTed description unchanged
	days             map[string]bool
	windows          map[int64]bool // five-minute windows of order creation times
}

// checkLog replays a generated log like a database would and fails on any
// broken invariant.
func checkLog(t *testing.T, changes []Change) stats {
	t.Helper()
	st := stats{ops: map[string]int{}, days: map[string]bool{}, windows: map[int64]bool{}}
	live := map[string]map[int64]any{
		debezium.TableProducts: {}, debezium.TableOrders: {}, debezium.TableOrderItems: {},
	}
	used := map[string]map[int64]bool{
		debezium.TableProducts: {}, debezium.TableOrders: {}, debezium.TableOrderItems: {},
	}
	linesOf := map[int64]map[int64]bool{} // order id -> its live line ids
	txOrders := map[int64]bool{}          // orders whose row or lines the transaction changed
	checkTotals := func(at int, orders map[int64]bool) {
		for id := range orders {
			r, ok := live[debezium.TableOrders][id]
			if !ok {
				if len(linesOf[id]) > 0 {
					t.Fatalf("after the transaction ending at change %d: order %d is gone but has lines", at, id)
				}
				continue
			}
			var sum int64
			for iid := range linesOf[id] {
				it := live[debezium.TableOrderItems][iid].(*debezium.OrderItem)
				sum += it.Quantity * it.PriceCents
			}
			if o := r.(*debezium.Order); o.TotalCents != sum {
				t.Fatalf("after the transaction ending at change %d: order %d total %d, its lines sum to %d", at, id, o.TotalCents, sum)
			}
		}
	}
	allOrders := func() map[int64]bool {
		m := map[int64]bool{}
		for id := range live[debezium.TableOrders] {
			m[id] = true
		}
		return m
	}

	checkPositions(t, changes)
	var prevTs int64
	inSnapshot := true
	touched := map[string]bool{} // "table id" inserted in the current transaction
	for i, c := range changes {
		if c.Src.EventTsMs < c.Src.TsMs {
			t.Fatalf("change %d: source %+v: event time before the commit", i, c.Src)
		}
		if c.Src.TsMs < prevTs {
			t.Fatalf("change %d: ts_ms %d goes back from %d", i, c.Src.TsMs, prevTs)
		}
		newTx := i == 0 || c.Src.TxID != changes[i-1].Src.TxID
		if !newTx && c.Src.TsMs != changes[i-1].Src.TsMs {
			t.Fatalf("change %d: ts_ms %d differs within transaction %d (%d)", i, c.Src.TsMs, c.Src.TxID, changes[i-1].Src.TsMs)
		}
		if newTx && i > 0 {
			touched = map[string]bool{}
		}
		prevTs = c.Src.TsMs
		if c.Op == debezium.OpRead {
			if !inSnapshot || !c.Src.Snapshot {
				t.Fatalf("change %d: a snapshot read outside the snapshot (or not flagged)", i)
			}
		} else {
			inSnapshot = false
			if c.Src.Snapshot {
				t.Fatalf("change %d: streaming change flagged as snapshot", i)
			}
		}
		if len(c.Src.Unavailable) > 0 {
			st.toasted++
		}
		st.ops[c.Table+" "+c.Op.String()]++
		tab, ok := live[c.Table]
		if !ok {
			t.Fatalf("change %d: unknown table %q", i, c.Table)
		}
		key := fmt.Sprint(c.Table, " ", c.ID)
		switch c.Op {
		case debezium.OpRead, debezium.OpCreate:
			if c.Before != nil {
				t.Fatalf("change %d: %c with a before image", i, c.Op)
			}
			if rowID(t, c.Table, c.After) != c.ID {
				t.Fatalf("change %d: row id differs from change id %d", i, c.ID)
			}
			if used[c.Table][c.ID] {
				t.Fatalf("change %d: %s id %d inserted twice", i, c.Table, c.ID)
			}
			used[c.Table][c.ID] = true
			tab[c.ID] = c.After
			if c.Op == debezium.OpCreate {
				touched[key] = true
			}
		case debezium.OpUpdate, debezium.OpDelete:
			cur, ok := tab[c.ID]
			if !ok {
				t.Fatalf("change %d: %c of %s %d, which does not exist", i, c.Op, c.Table, c.ID)
			}
			if !reflect.DeepEqual(cur, c.Before) {
				t.Fatalf("change %d: before image %+v differs from the row's last after image %+v", i, c.Before, cur)
			}
			if c.Op == debezium.OpUpdate {
				if rowID(t, c.Table, c.After) != c.ID {
					t.Fatalf("change %d: row id differs from change id %d", i, c.ID)
				}
				if touched[key] {
					st.insertUpdateSame++
				}
				tab[c.ID] = c.After
			} else {
				if c.After != nil {
					t.Fatalf("change %d: delete with an after image", i)
				}
				delete(tab, c.ID)
			}
		default:
			t.Fatalf("change %d: unexpected op %c", i, c.Op)
		}

		// What was exercised.
		switch row := c.After.(type) {
		case *debezium.Product:
			if row.Description == "" {
				st.emptyDesc++
			}
			if !isASCII(row.Name) || !isASCII(row.Description) {
				st.nonASCII++
			}
		case *debezium.Order:
			if c.Op == debezium.OpCreate {
				day := time.UnixMicro(row.CreatedAt).UTC().Format(time.DateOnly)
				st.days[day] = true
				st.windows[row.CreatedAt/300e6] = true
				if day != time.UnixMilli(c.Src.TsMs).UTC().Format(time.DateOnly) {
					st.straddles++
				}
			}
		case *debezium.OrderItem:
			if c.Op == debezium.OpCreate && row.ProductID == 0 {
				st.nullProduct++
			}
			if before, ok := c.Before.(*debezium.OrderItem); ok && before.ProductID != row.ProductID {
				st.moves++
			}
		}
		if c.Table == debezium.TableProducts && c.Op == debezium.OpDelete {
			for _, r := range live[debezium.TableOrderItems] {
				if r.(*debezium.OrderItem).ProductID == c.ID {
					st.soldDeleted++
					break
				}
			}
		}
		if c.Table == debezium.TableOrderItems && c.Op != debezium.OpRead {
			var it *debezium.OrderItem
			if c.Before != nil {
				it = c.Before.(*debezium.OrderItem)
			} else {
				it = c.After.(*debezium.OrderItem)
			}
			if _, ok := live[debezium.TableProducts][it.ProductID]; it.ProductID != 0 && !ok && used[debezium.TableProducts][it.ProductID] {
				st.danglingEdits++
			}
		}

		if c.Table == debezium.TableOrders {
			txOrders[c.ID] = true
		}
		if c.Table == debezium.TableOrderItems {
			for _, r := range []any{c.Before, c.After} {
				if it, ok := r.(*debezium.OrderItem); ok {
					txOrders[it.OrderID] = true
					delete(linesOf[it.OrderID], it.ID)
				}
			}
			if it, ok := c.After.(*debezium.OrderItem); ok {
				if linesOf[it.OrderID] == nil {
					linesOf[it.OrderID] = map[int64]bool{}
				}
				linesOf[it.OrderID][it.ID] = true
			}
		}
		if i == len(changes)-1 || changes[i+1].Src.TxID != c.Src.TxID {
			checkTotals(i, txOrders)
			txOrders = map[int64]bool{}
		}
	}
	checkTotals(len(changes)-1, allOrders())
	for _, r := range live[debezium.TableOrderItems] {
		if it := r.(*debezium.OrderItem); live[debezium.TableOrders][it.OrderID] == nil {
			t.Fatalf("line %d belongs to order %d, which does not exist", it.ID, it.OrderID)
		}
	}
	return st
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func TestGeneratedLogInvariants(t *testing.T) {
	changes := New(Config{Seed: 7, Products: 20}).Generate(30000)
	st := checkLog(t, changes)

	for _, k := range []string{
		"products r", "orders r", "order_items r",
		"products c", "products u", "products d",
		"orders c", "orders u", "orders d",
		"order_items c", "order_items u", "order_items d",
	} {
		if st.ops[k] == 0 {
			t.Errorf("no %q change in 30000", k)
		}
	}
	checks := []struct {
		what string
		n    int
	}{
		{"insert and update of one row in a transaction", st.insertUpdateSame},
		{"order placed before midnight UTC and committed after", st.straddles},
		{"delete of a product that live lines reference", st.soldDeleted},
		{"change of a line whose product was deleted", st.danglingEdits},
		{"line with product_id NULL", st.nullProduct},
		{"line moved between products", st.moves},
		{"product with non-ASCII text", st.nonASCII},
		{"product with NULL description", st.emptyDesc},
		{"update leaving a TOASTed description unchanged", st.toasted},
	}
	for _, c := range checks {
		if c.n == 0 {
			t.Errorf("never generated: %s", c.what)
		}
	}
	if len(st.days) < 3 {
		t.Errorf("orders created on %d UTC days, want several", len(st.days))
	}
	if w := len(st.windows); w < 50 {
		t.Errorf("only %d five-minute windows", w)
	}
	t.Logf("ops %v; days %d; straddles %d; insert+update %d; sold deleted %d; dangling %d; null product %d; moves %d; unchanged TOAST %d",
		st.ops, len(st.days), st.straddles, st.insertUpdateSame, st.soldDeleted, st.danglingEdits, st.nullProduct, st.moves, st.toasted)
}

func TestSeedSnapshot(t *testing.T) {
	s := New(Config{Seed: 1})
	snap := s.Snapshot()
	if len(snap) != 5+3+4 {
		t.Fatalf("snapshot has %d changes, want 12", len(snap))
	}
	want := []struct {
		name  string
		price int64
		stock int64
	}{{"Laptop", 99999, 50}, {"Mouse", 2999, 200}, {"Keyboard", 7999, 150}, {"Monitor", 29999, 75}, {"Headphones", 14999, 100}}
	for i, w := range want {
		p := snap[i].After.(*debezium.Product)
		if p.ID != int64(i+1) || p.Name != w.name || p.PriceCents != w.price || p.StockQuantity != w.stock || p.Description == "" {
			t.Errorf("seed product %d = %+v, want %+v", i+1, p, w)
		}
	}
	for _, c := range snap {
		if c.Src.TsMs != snap[0].Src.TsMs || c.Src.TxID != snap[0].Src.TxID || c.Src.LSN != snap[0].Src.LSN || c.Src.LSN == 0 ||
			c.Src.LastCommitLSN != 0 || !c.Src.Snapshot || c.Op != debezium.OpRead {
			t.Errorf("snapshot change %+v does not share the snapshot position", c)
		}
	}
	checkLog(t, snap)
	// Snapshot returns copies.
	snap[0].After.(*debezium.Product).Name = "changed"
	if s.Snapshot()[0].After.(*debezium.Product).Name != "Laptop" {
		t.Error("Snapshot returned shared rows")
	}
}

func TestWeightsRestrictTheMix(t *testing.T) {
	s := New(Config{Seed: 3, Weights: Weights{PriceChange: 1}})
	s.Snapshot()
	for range 200 {
		tx := s.Next()
		if len(tx) != 1 || tx[0].Table != debezium.TableProducts || tx[0].Op != debezium.OpUpdate {
			t.Fatalf("price-change-only shop produced %+v", tx)
		}
		if b, a := tx[0].Before.(*debezium.Product), tx[0].After.(*debezium.Product); a.PriceCents == b.PriceCents || a.PriceCents <= 0 {
			t.Fatalf("price change %d -> %d", b.PriceCents, a.PriceCents)
		}
	}
}

func TestLiveRun(t *testing.T) {
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := New(Config{Seed: 9, Live: true, Clock: func() time.Time {
		clock = clock.Add(1500 * time.Millisecond)
		return clock
	}})
	var batches [][]Change
	stop := errors.New("enough")
	err := s.Run(context.Background(), 0, func(tx []Change) error {
		batches = append(batches, tx)
		if len(batches) == 6 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Run returned %v, want the emit error", err)
	}
	if batches[0][0].Op != debezium.OpRead {
		t.Fatal("Run did not start with the snapshot")
	}
	var all []Change
	for i, tx := range batches {
		all = append(all, tx...)
		if i == 0 {
			continue
		}
		// Each transaction reads the clock once, after the previous one.
		want := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i+1) * 1500 * time.Millisecond).UnixMilli()
		if tx[0].Src.TsMs != want {
			t.Errorf("transaction %d ts_ms %d, want the wall clock %d", i, tx[0].Src.TsMs, want)
		}
	}
	checkLog(t, all)
}

func TestRunPaces(t *testing.T) {
	s := New(Config{Seed: 5, Live: true})
	s.Snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	n := 0
	err := s.Run(ctx, 40, func(tx []Change) error { n += len(tx); return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run returned %v, want the context's error", err)
	}
	// 40 changes/s for 0.5 s is 20, plus at most one transaction of burst.
	if n == 0 || n > 20+25 {
		t.Fatalf("emitted %d changes in 0.5 s at 40/s", n)
	}
}
