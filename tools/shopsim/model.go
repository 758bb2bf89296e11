// Package shopsim simulates the PostgreSQL shop behind the CDC pipeline and
// computes, independently of the stream processors, what they must end up
// with.
//
// The simulator (Shop) keeps an in-memory copy of the products, orders and
// order_items tables (CONTRACT §1) and produces transactions in commit
// order, as the shop's scripts would run them, each row change as a Change
// with full before images (REPLICA IDENTITY FULL). It places their changes
// in a write-ahead log as a PostgreSQL server with concurrent sessions
// would (wal.go): several transactions open at once write at the WAL's end
// as they go, so a transaction that commits later often carries lower LSNs
// than one committed before it, while each row's changes stay in LSN order.
// Long product descriptions are TOASTed: an update that leaves one alone
// carries the unavailable-value placeholder. Delivery (Encode, WithReplays,
// ByTopic) turns that log into the Kafka records a Debezium connector would
// write, in commit order, including the re-sends of a connector restart.
// The oracle (ExpectInventory, ExpectAnalytics, ExpectSearch) replays the
// commit-ordered changes and derives the end state each service promises in
// CONTRACT §2.
package shopsim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// Change is one row change of the shop database. Before and After hold a
// *debezium.Product, *debezium.Order or *debezium.OrderItem matching Table
// (copies owned by the Change; treat them as read-only): After for r, c and
// u; Before for u and d (full rows, REPLICA IDENTITY FULL); nil otherwise.
// After always holds the true row, also for a column the record renders as
// the placeholder.
//
// Src is what the connector reports:
//   - Src.LSN is where the change was written in the WAL: unique, increasing
//     within a transaction and along the changes of one row, but not across
//     transactions (a later-committed transaction may have written before
//     an earlier one committed). The snapshot rows all share the snapshot's
//     consistent-point LSN.
//   - Src.LastCommitLSN is the commit LSN of the transaction streamed just
//     before this change's (source.sequence's first element): increasing in
//     commit order, 0 (null) in the snapshot and the first streamed
//     transaction.
//   - Src.TsMs is the commit time of the transaction and Src.TxID its id
//     (assigned at its first write, so not in commit order), both shared by
//     all its changes; Src.EventTsMs, the connector's processing time, is a
//     little later; Src.Snapshot marks the snapshot rows.
//   - Src.Unavailable names the TOASTed columns an update left unchanged
//     (a long description), which the record renders as the placeholder.
type Change struct {
	Table  string
	Op     debezium.Op
	ID     int64
	Before any
	After  any
	Src    dbzenc.Source

	// commitLSN is the LSN of the transaction's commit record (not in any
	// record; for the tests).
	commitLSN uint64
}

// Weights are the relative frequencies of the kinds of transactions Next
// produces. A zero Weights means DefaultWeights. A kind that cannot apply
// at the moment (no open order, no product without lines...) falls back to
// an order placement, or to a new product when the catalogue is empty.
type Weights struct {
	NewProduct          int // insert a product
	ProductInsertUpdate int // insert a product and update it in the same transaction
	PlaceOrder          int // insert order (total 0, pending), 1-4 lines, update the total
	StatusChange        int // pending→processing→shipped→delivered, or →cancelled
	EditQuantity        int // update a line's quantity and the order's total
	MoveLine            int // update a line's product_id (and price) and the order's total
	DeleteLine          int // delete a line and update the order's total
	AddGiftLine         int // add a line with product_id NULL to an open order
	DeleteOrder         int // delete an order's lines, then the order
	Restock             int // set stock_quantity of a product running low (available < 12) to its count plus a delivery
	PriceChange         int // change a product's price; 7 in 10 edits write stock_quantity back as the available count
	EditProduct         int // change a product's name and/or description; stock_quantity as for PriceChange
	DeleteProduct       int // delete a product that no live line references
	DeleteSoldProduct   int // delete a product that live lines still reference
}

// DefaultWeights returns the mix used when Config.Weights is zero.
func DefaultWeights() Weights {
	return Weights{
		NewProduct:          2,
		ProductInsertUpdate: 1,
		PlaceOrder:          30,
		StatusChange:        18,
		EditQuantity:        6,
		MoveLine:            4,
		DeleteLine:          4,
		AddGiftLine:         1,
		DeleteOrder:         3,
		Restock:             6,
		PriceChange:         5,
		EditProduct:         4,
		DeleteProduct:       1,
		DeleteSoldProduct:   1,
	}
}

func (w Weights) list() []int {
	return []int{
		w.NewProduct, w.ProductInsertUpdate, w.PlaceOrder, w.StatusChange,
		w.EditQuantity, w.MoveLine, w.DeleteLine, w.AddGiftLine, w.DeleteOrder,
		w.Restock, w.PriceChange, w.EditProduct, w.DeleteProduct, w.DeleteSoldProduct,
	}
}

// txKind indexes Weights.list.
type txKind int

const (
	kNewProduct txKind = iota
	kProductInsertUpdate
	kPlaceOrder
	kStatusChange
	kEditQuantity
	kMoveLine
	kDeleteLine
	kAddGiftLine
	kDeleteOrder
	kRestock
	kPriceChange
	kEditProduct
	kDeleteProduct
	kDeleteSoldProduct
)

// Config configures a Shop.
type Config struct {
	// Seed makes the shop deterministic: the same Config gives the same
	// changes (in Live mode, apart from the timestamps).
	Seed uint64
	// Products is the size of the initial catalogue beyond the five seed
	// products; it is part of the snapshot.
	Products int
	// Customers is the size of the customer pool (default 1000); customers
	// are drawn from a Zipf distribution, so some order again and again.
	Customers int
	// Weights is the transaction mix; zero means DefaultWeights.
	Weights Weights
	// Start is the snapshot time; transactions follow it. Zero means
	// 2025-01-15T21:00:00Z (the wall clock in Live mode).
	Start time.Time
	// ShortPause and LongPause are the probabilities that the shop is idle
	// for minutes (default 0.06) or hours (default 0.01) before a
	// transaction, so that the traffic spans several UTC days. 0 means the
	// default, a negative value never. Otherwise transactions are a few
	// hundred milliseconds to a few seconds apart.
	ShortPause, LongPause float64
	// Live stamps transactions with the wall clock (Clock) instead of the
	// simulated one: for Run in the local all-in-one binary.
	Live bool
	// Clock is the wall clock of Live mode; nil means time.Now.
	Clock func() time.Time
	// Window is how many transactions may be open at once in the simulated
	// server, each writing its changes to the shared WAL as it goes (wal.go,
	// MeasureInterleaving): 0 means DefaultWindow, 1 (or less) one at a
	// time, so that LSNs increase in commit order. It changes LSNs and
	// transaction ids only, never rows or timestamps; the model runs up to
	// Window-1 transactions ahead of what Next has returned.
	Window int
	// LongDescriptions is the probability that a new product gets a
	// description longer than the TOAST threshold (about 2 kB), stored out
	// of line: an update that leaves it alone then carries the placeholder.
	// 0 means the default, 0.15; a negative value never.
	LongDescriptions float64
}

// defaultStart is the default simulated snapshot time.
func defaultStart() time.Time { return time.Date(2025, 1, 15, 21, 0, 0, 0, time.UTC) }

const (
	usPerMs  = int64(1000)
	usPerSec = int64(1_000_000)
	usPerDay = 86_400 * usPerSec
)

// Order statuses.
const (
	StatusPending    = "pending"
	StatusProcessing = "processing"
	StatusShipped    = "shipped"
	StatusDelivered  = "delivered"
	StatusCancelled  = "cancelled"
)

// Shop is the simulated shop database and its traffic generator. It is not
// safe for concurrent use.
type Shop struct {
	cfg     Config
	weights []int
	rng     *rand.Rand
	zipf    *rand.Zipf
	custMap []int // Zipf rank -> customer id - 1

	products map[int64]*debezium.Product
	orders   map[int64]*debezium.Order
	items    map[int64]*debezium.OrderItem

	liveProducts []int64           // ascending
	liveOrders   []int64           // ascending
	lines        map[int64][]int64 // order id -> its item ids, in insertion order
	productLines map[int64]int     // product id -> number of live lines referencing it
	avail        map[int64]int64   // product id -> available stock (CONTRACT §2 accounting), steers choices only

	nextProduct, nextOrder, nextItem int64

	aux      *rand.Rand // long descriptions: apart from rng, so that the rest of the model draws the same with or without them
	wal      walLayout
	txid     int64 // the snapshot's transaction id
	xidGap   int64 // other sessions' transaction ids before the current transaction's
	lastUs   int64 // commit time of the last transaction, µs
	nowUs    int64 // start time of the current transaction (now()), µs
	commitUs int64 // commit time of the current transaction, µs
	cur      []Change

	snapshot      []Change
	snapshotTaken bool
}

// New builds a shop holding the seed rows and the initial catalogue.
func New(cfg Config) *Shop {
	if cfg.Customers <= 0 {
		cfg.Customers = 1000
	}
	if cfg.Weights == (Weights{}) {
		cfg.Weights = DefaultWeights()
	}
	if cfg.ShortPause == 0 {
		cfg.ShortPause = 0.06
	}
	if cfg.LongPause == 0 {
		cfg.LongPause = 0.01
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	cfg.Window = max(cfg.Window, 1)
	if cfg.LongDescriptions == 0 {
		cfg.LongDescriptions = 0.15
	}
	if cfg.Start.IsZero() {
		if cfg.Live {
			cfg.Start = cfg.Clock()
		} else {
			cfg.Start = defaultStart()
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed_5409_c0ff_ee11))
	s := &Shop{
		cfg:          cfg,
		weights:      cfg.Weights.list(),
		rng:          rng,
		zipf:         rand.NewZipf(rng, 1.15, 3, uint64(cfg.Customers-1)),
		custMap:      rng.Perm(cfg.Customers),
		products:     map[int64]*debezium.Product{},
		orders:       map[int64]*debezium.Order{},
		items:        map[int64]*debezium.OrderItem{},
		lines:        map[int64][]int64{},
		productLines: map[int64]int{},
		avail:        map[int64]int64{},
		nextProduct:  1,
		nextOrder:    1,
		nextItem:     1,
		aux:          rand.New(rand.NewPCG(cfg.Seed^0x7045_7ab1_e5c0_de00, cfg.Seed)),
		wal: walLayout{
			rng:    rand.New(rand.NewPCG(cfg.Seed^0xa1_0c47_e5ee_d5, cfg.Seed+1)),
			window: cfg.Window,
			lsn:    0x1000000,
		},
		txid:   500,
		lastUs: cfg.Start.UnixMicro(),
	}
	s.buildSnapshot()
	return s
}

// buildSnapshot inserts the seed shop and the initial catalogue and records
// them as snapshot reads (op r) sharing the snapshot's time and txId.
func (s *Shop) buildSnapshot() {
	start := s.lastUs
	s.nowUs = start
	seedAt := start - 10*usPerDay
	seed := []struct {
		name, desc string
		price      int64
		stock      int64
	}{
		{"Laptop", "High-performance laptop", 99999, 50},
		{"Mouse", "Wireless mouse", 2999, 200},
		{"Keyboard", "Mechanical keyboard", 7999, 150},
		{"Monitor", "27-inch 4K monitor", 29999, 75},
		{"Headphones", "Noise-cancelling headphones", 14999, 100},
	}
	for _, p := range seed {
		s.addProduct(debezium.Product{Name: p.name, Description: p.desc, PriceCents: p.price,
			StockQuantity: p.stock, CreatedAt: seedAt, UpdatedAt: seedAt})
	}
	for range s.cfg.Products {
		p := s.randomProduct()
		at := start - int64(1+s.rng.IntN(9*86_400))*usPerSec
		p.CreatedAt, p.UpdatedAt = at, at
		s.addProduct(p)
	}
	// Three orders, four lines, consistent totals; customer 1 ordered twice.
	seedOrders := []struct {
		customer int64
		status   string
		ago      int64 // µs before the snapshot
		lines    [][2]int64
	}{
		{1, StatusDelivered, 2*usPerDay + 3_600*usPerSec, [][2]int64{{1, 1}, {2, 2}}},
		{2, StatusShipped, usPerDay + 5*3_600*usPerSec, [][2]int64{{3, 1}}},
		{1, StatusPending, 2*3_600*usPerSec + 17*60*usPerSec, [][2]int64{{5, 1}}},
	}
	for _, so := range seedOrders {
		at := start - so.ago
		o := debezium.Order{ID: s.nextOrder, CustomerID: so.customer, Status: so.status, CreatedAt: at, UpdatedAt: at}
		s.nextOrder++
		for _, l := range so.lines {
			o.TotalCents += s.products[l[0]].PriceCents * l[1]
		}
		s.orders[o.ID] = &o
		s.liveOrders = append(s.liveOrders, o.ID)
		for _, l := range so.lines {
			it := debezium.OrderItem{ID: s.nextItem, OrderID: o.ID, ProductID: l[0], Quantity: l[1],
				PriceCents: s.products[l[0]].PriceCents, CreatedAt: at}
			s.nextItem++
			s.items[it.ID] = &it
			s.lines[o.ID] = append(s.lines[o.ID], it.ID)
			s.productLines[it.ProductID]++
			// The snapshot's stock_quantity already counts these lines.
		}
	}
	// The snapshot is read as of the replication slot's consistent point:
	// every row carries that LSN, no last commit, and the snapshot's
	// transaction id. Streaming continues from that point.
	s.wal.lsn += align8(uint64(64 + s.wal.rng.IntN(4096)))
	src := dbzenc.Source{TxID: s.txid, TsMs: start / usPerMs, Snapshot: true, LSN: s.wal.lsn}
	s.wal.lsn += 8
	s.wal.lastXid = s.txid
	read := func(table string, id int64, row any) {
		src.EventTsMs = src.TsMs + int64(len(s.snapshot)/10+3)
		s.snapshot = append(s.snapshot, Change{Table: table, Op: debezium.OpRead, ID: id, After: row, Src: src})
	}
	for _, id := range s.liveProducts {
		p := *s.products[id]
		read(debezium.TableProducts, id, &p)
	}
	for _, id := range s.liveOrders {
		o := *s.orders[id]
		read(debezium.TableOrders, id, &o)
	}
	for id := int64(1); id < s.nextItem; id++ {
		it := *s.items[id]
		read(debezium.TableOrderItems, id, &it)
	}
}

// addProduct stores a new product row without emitting a change.
func (s *Shop) addProduct(p debezium.Product) int64 {
	p.ID = s.nextProduct
	s.nextProduct++
	s.products[p.ID] = &p
	s.liveProducts = append(s.liveProducts, p.ID)
	s.avail[p.ID] = p.StockQuantity
	return p.ID
}

// Snapshot returns the snapshot reads (op r) of the seed rows and the
// initial catalogue: products, then orders, then order_items, with one
// snapshot time, txId and LSN (the consistent point, below every streamed
// change's). Each call returns fresh copies.
func (s *Shop) Snapshot() []Change {
	s.snapshotTaken = true
	out := make([]Change, len(s.snapshot))
	for i, c := range s.snapshot {
		out[i] = c
		out[i].After = cloneRow(c.After)
	}
	return out
}

// Generate returns the snapshot followed by transactions, until it holds
// at least n changes. It ends on a transaction boundary.
func (s *Shop) Generate(n int) []Change {
	out := s.Snapshot()
	for len(out) < n {
		out = append(out, s.Next()...)
	}
	return out
}

// Next returns the shop's next transaction in commit order, its changes in
// the order it wrote them, with their final WAL positions. To place them it
// keeps the following Window-1 transactions open, generated ahead.
func (s *Shop) Next() []Change {
	for {
		for len(s.wal.open) < s.wal.window {
			changes := s.runTx()
			s.wal.admit(changes, s.xidGap)
		}
		if tx, done := s.wal.step(); done && len(tx) > 0 {
			return tx
		}
	}
}

// runTx runs one transaction of the model and returns its changes, without
// WAL positions.
func (s *Shop) runTx() []Change {
	force := s.beginTx()
	kind := kPlaceOrder
	if !force || s.cfg.Weights.PlaceOrder <= 0 {
		kind = s.pickKind()
	}
	if !s.run(kind) && !s.run(kPlaceOrder) {
		s.run(kNewProduct)
	}
	return s.commit()
}

// Run emits the snapshot (unless Snapshot was already called) and then one
// transaction at a time, at about rate changes per second (a token bucket
// with a one-second burst; rate <= 0 means as fast as possible), until ctx
// is done or emit fails. It returns emit's error or ctx.Err(). Use it with
// Config.Live to stamp the changes with the wall clock.
func (s *Shop) Run(ctx context.Context, rate float64, emit func([]Change) error) error {
	if !s.snapshotTaken {
		if err := emit(s.Snapshot()); err != nil {
			return err
		}
	}
	next := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if rate > 0 {
			if wait := time.Until(next); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
		}
		tx := s.Next()
		if err := emit(tx); err != nil {
			return err
		}
		if rate > 0 {
			now := time.Now()
			if floor := now.Add(-time.Second); next.Before(floor) {
				next = floor
			}
			next = next.Add(time.Duration(float64(len(tx)) / rate * float64(time.Second)))
		}
	}
}

func (s *Shop) pickKind() txKind {
	total := 0
	for _, w := range s.weights {
		total += max(w, 0)
	}
	if total == 0 {
		return kPlaceOrder
	}
	n := s.rng.IntN(total)
	for i, w := range s.weights {
		w = max(w, 0)
		if n < w {
			return txKind(i)
		}
		n -= w
	}
	return kPlaceOrder
}

func (s *Shop) run(k txKind) bool {
	switch k {
	case kNewProduct:
		return s.newProduct(false)
	case kProductInsertUpdate:
		return s.newProduct(true)
	case kPlaceOrder:
		return s.placeOrder()
	case kStatusChange:
		return s.statusChange()
	case kEditQuantity:
		return s.editQuantity()
	case kMoveLine:
		return s.moveLine()
	case kDeleteLine:
		return s.deleteLine()
	case kAddGiftLine:
		return s.addGiftLine()
	case kDeleteOrder:
		return s.deleteOrder()
	case kRestock:
		return s.restock()
	case kPriceChange:
		return s.priceChange()
	case kEditProduct:
		return s.editProduct()
	case kDeleteProduct:
		return s.deleteProduct(false)
	case kDeleteSoldProduct:
		return s.deleteProduct(true)
	}
	return false
}

// ---- clock and transactions ----

// beginTx starts a transaction: its start time (now() in the rows), its
// commit time and how many other sessions' transactions took an id before
// it (the WAL layout assigns the id at the first write). It reports whether
// the transaction must be an order placement straddling midnight UTC.
func (s *Shop) beginTx() (straddle bool) {
	s.xidGap = 1 + int64(s.rng.IntN(3)) // other sessions' transactions in between
	s.cur = nil
	if s.cfg.Live {
		now := max(s.cfg.Clock().UnixMicro(), s.lastUs)
		s.nowUs, s.commitUs = now, now
		return false
	}
	start := s.lastUs + s.gapUs()
	commit := start + 2_000 + int64(s.rng.IntN(150_000))
	if midnight := (s.lastUs/usPerDay + 1) * usPerDay; commit >= midnight {
		// The clock passes midnight UTC: an order placed just before it
		// commits just after it, so its created_at day is not its ts day.
		st := max(midnight-int64(50_000+s.rng.IntN(400_000)), s.lastUs+1)
		if st < midnight {
			start, commit = st, midnight+int64(50_000+s.rng.IntN(400_000))
			straddle = true
		}
	}
	s.nowUs, s.commitUs = start, commit
	return straddle
}

// gapUs is the idle time before a transaction.
func (s *Shop) gapUs() int64 {
	r := s.rng.Float64()
	long, short := max(s.cfg.LongPause, 0), max(s.cfg.ShortPause, 0)
	switch {
	case r < long:
		return int64(3_600+s.rng.IntN(7*3_600)) * usPerSec
	case r < long+short:
		return int64(60+s.rng.IntN(20*60)) * usPerSec
	default:
		return int64(200_000 + s.rng.IntN(3_800_000))
	}
}

// commit stamps the current transaction's changes with its commit time
// (their WAL positions come from the layout).
func (s *Shop) commit() []Change {
	s.lastUs = s.commitUs
	ts := s.commitUs / usPerMs
	lag := int64(1 + s.rng.IntN(40)) // the connector reads the WAL a little later
	for i := range s.cur {
		s.cur[i].Src.TsMs = ts
		s.cur[i].Src.EventTsMs = ts + lag + int64(i/20)
	}
	out := s.cur
	s.cur = nil
	return out
}

func (s *Shop) emit(table string, op debezium.Op, id int64, before, after any) {
	s.cur = append(s.cur, Change{Table: table, Op: op, ID: id, Before: before, After: after})
}

// ---- row operations: keep the tables and indexes, emit the change ----

func (s *Shop) insertProduct(p debezium.Product) int64 {
	p.CreatedAt, p.UpdatedAt = s.nowUs, s.nowUs
	id := s.addProduct(p)
	after := *s.products[id]
	s.emit(debezium.TableProducts, debezium.OpCreate, id, nil, &after)
	return id
}

func (s *Shop) updateProduct(id int64, f func(*debezium.Product)) {
	p := s.products[id]
	before := *p
	f(p)
	p.UpdatedAt = s.nowUs
	after := *p
	s.avail[id] = after.StockQuantity
	s.emit(debezium.TableProducts, debezium.OpUpdate, id, &before, &after)
	if after.Description == before.Description && len(after.Description) > toastThreshold {
		// The description stays in the TOAST table: logical decoding sends
		// no value for it, and the connector the placeholder.
		s.cur[len(s.cur)-1].Src.Unavailable = []string{"description"}
	}
}

func (s *Shop) removeProduct(id int64) {
	before := *s.products[id]
	delete(s.products, id)
	delete(s.avail, id)
	s.liveProducts = removeID(s.liveProducts, id)
	s.emit(debezium.TableProducts, debezium.OpDelete, id, &before, nil)
}

func (s *Shop) insertOrder(o debezium.Order) int64 {
	o.ID = s.nextOrder
	s.nextOrder++
	o.CreatedAt, o.UpdatedAt = s.nowUs, s.nowUs
	s.orders[o.ID] = &o
	s.liveOrders = append(s.liveOrders, o.ID)
	after := o
	s.emit(debezium.TableOrders, debezium.OpCreate, o.ID, nil, &after)
	return o.ID
}

func (s *Shop) updateOrder(id int64, f func(*debezium.Order)) {
	o := s.orders[id]
	before := *o
	f(o)
	o.UpdatedAt = s.nowUs
	after := *o
	s.emit(debezium.TableOrders, debezium.OpUpdate, id, &before, &after)
}

// updateOrderTotal sets the order's total to the sum of its lines, as the
// shop's scripts do after every change of its lines.
func (s *Shop) updateOrderTotal(id int64) {
	var sum int64
	for _, iid := range s.lines[id] {
		it := s.items[iid]
		sum += it.Quantity * it.PriceCents
	}
	s.updateOrder(id, func(o *debezium.Order) { o.TotalCents = sum })
}

func (s *Shop) removeOrder(id int64) {
	before := *s.orders[id]
	delete(s.orders, id)
	delete(s.lines, id)
	s.liveOrders = removeID(s.liveOrders, id)
	s.emit(debezium.TableOrders, debezium.OpDelete, id, &before, nil)
}

// adjust moves the model's available stock of a live product.
func (s *Shop) adjust(productID, delta int64) {
	if _, ok := s.products[productID]; ok {
		s.avail[productID] += delta
	}
}

func (s *Shop) insertItem(it debezium.OrderItem) int64 {
	it.ID = s.nextItem
	s.nextItem++
	it.CreatedAt = s.nowUs
	s.items[it.ID] = &it
	s.lines[it.OrderID] = append(s.lines[it.OrderID], it.ID)
	if it.ProductID != 0 {
		s.productLines[it.ProductID]++
		s.adjust(it.ProductID, -it.Quantity)
	}
	after := it
	s.emit(debezium.TableOrderItems, debezium.OpCreate, it.ID, nil, &after)
	return it.ID
}

func (s *Shop) updateItem(id int64, f func(*debezium.OrderItem)) {
	it := s.items[id]
	before := *it
	f(it)
	after := *it
	if before.ProductID != 0 {
		s.productLines[before.ProductID]--
		s.adjust(before.ProductID, before.Quantity)
	}
	if after.ProductID != 0 {
		s.productLines[after.ProductID]++
		s.adjust(after.ProductID, -after.Quantity)
	}
	s.emit(debezium.TableOrderItems, debezium.OpUpdate, id, &before, &after)
}

func (s *Shop) removeItem(id int64) {
	before := *s.items[id]
	delete(s.items, id)
	s.lines[before.OrderID] = removeID(s.lines[before.OrderID], id)
	if before.ProductID != 0 {
		s.productLines[before.ProductID]--
		s.adjust(before.ProductID, before.Quantity)
	}
	s.emit(debezium.TableOrderItems, debezium.OpDelete, id, &before, nil)
}

// ---- the shop's transactions ----

func (s *Shop) newProduct(thenUpdate bool) bool {
	p := s.randomProduct()
	if !thenUpdate {
		s.insertProduct(p)
		return true
	}
	// The admin script inserts the product with no stock, then receives
	// the goods (and sometimes fixes the price) before committing.
	p.StockQuantity = 0
	id := s.insertProduct(p)
	stock := int64(20 + s.rng.IntN(300))
	fixPrice := s.rng.IntN(3) == 0
	s.updateProduct(id, func(p *debezium.Product) {
		p.StockQuantity = stock
		if fixPrice {
			p.PriceCents = s.newPrice(p.PriceCents)
		}
	})
	return true
}

func (s *Shop) placeOrder() bool {
	if len(s.liveProducts) == 0 {
		return false
	}
	n := []int{1, 1, 1, 1, 2, 2, 2, 3, 3, 4}[s.rng.IntN(10)]
	n = min(n, len(s.liveProducts))
	type line struct{ product, qty int64 }
	var picked []line
	for len(picked) < n {
		qty := int64([]int{1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 4, 5}[s.rng.IntN(12)])
		var pid int64
		for try := 0; try < 8; try++ { // prefer products in stock
			pid = s.popularProduct()
			if s.avail[pid] >= qty {
				break
			}
		}
		if slices.ContainsFunc(picked, func(l line) bool { return l.product == pid }) {
			if len(picked) > 0 && s.rng.IntN(2) == 0 {
				break
			}
			continue
		}
		picked = append(picked, line{pid, qty})
	}
	oid := s.insertOrder(debezium.Order{CustomerID: s.customer(), Status: StatusPending})
	var ids []int64
	for _, l := range picked {
		ids = append(ids, s.insertItem(debezium.OrderItem{OrderID: oid, ProductID: l.product,
			Quantity: l.qty, PriceCents: s.products[l.product].PriceCents}))
	}
	if s.rng.IntN(7) == 0 {
		// The customer changes their mind before checkout: an insert and an
		// update of the same line in one transaction.
		id := ids[s.rng.IntN(len(ids))]
		more := int64(1 + s.rng.IntN(2))
		s.updateItem(id, func(it *debezium.OrderItem) { it.Quantity += more })
	}
	s.updateOrderTotal(oid)
	return true
}

// popularProduct picks a product to sell: most sales go to the oldest few
// products of the catalogue (the best sellers), so their stock runs low
// and gets restocked.
func (s *Shop) popularProduct() int64 {
	if s.rng.IntN(3) != 0 {
		return s.liveProducts[s.rng.IntN(min(6, len(s.liveProducts)))]
	}
	return s.liveProducts[s.rng.IntN(len(s.liveProducts))]
}

// recentOrders returns up to limit of the newest live orders satisfying ok.
func (s *Shop) recentOrders(limit int, ok func(*debezium.Order) bool) []int64 {
	var out []int64
	for i := len(s.liveOrders) - 1; i >= 0 && len(out) < limit && len(s.liveOrders)-i <= 400; i-- {
		if id := s.liveOrders[i]; ok(s.orders[id]) {
			out = append(out, id)
		}
	}
	return out
}

func isOpen(o *debezium.Order) bool {
	return o.Status == StatusPending || o.Status == StatusProcessing
}

func (s *Shop) statusChange() bool {
	cand := s.recentOrders(60, func(o *debezium.Order) bool {
		return o.Status != StatusDelivered && o.Status != StatusCancelled
	})
	if len(cand) == 0 {
		return false
	}
	id := cand[s.rng.IntN(len(cand))]
	next := ""
	switch r := s.rng.IntN(10); s.orders[id].Status {
	case StatusPending:
		next = StatusProcessing
		if r < 2 {
			next = StatusCancelled
		}
	case StatusProcessing:
		next = StatusShipped
		if r < 1 {
			next = StatusCancelled
		}
	case StatusShipped:
		next = StatusDelivered
	default:
		return false
	}
	s.updateOrder(id, func(o *debezium.Order) { o.Status = next })
	return true
}

// openLine picks a line of an open order.
func (s *Shop) openLine(minLines int) (orderID, itemID int64, ok bool) {
	cand := s.recentOrders(40, func(o *debezium.Order) bool {
		return isOpen(o) && len(s.lines[o.ID]) >= minLines
	})
	if len(cand) == 0 {
		return 0, 0, false
	}
	orderID = cand[s.rng.IntN(len(cand))]
	ls := s.lines[orderID]
	return orderID, ls[s.rng.IntN(len(ls))], true
}

func (s *Shop) editQuantity() bool {
	oid, iid, ok := s.openLine(1)
	if !ok {
		return false
	}
	old := s.items[iid].Quantity
	q := int64(1 + s.rng.IntN(5))
	if q == old {
		q = old%5 + 1
	}
	s.updateItem(iid, func(it *debezium.OrderItem) { it.Quantity = q })
	s.updateOrderTotal(oid)
	return true
}

func (s *Shop) moveLine() bool {
	oid, iid, ok := s.openLine(1)
	if !ok {
		return false
	}
	it := s.items[iid]
	var target int64
	for try := 0; try < 8; try++ {
		p := s.liveProducts[s.rng.IntN(len(s.liveProducts))]
		if p != it.ProductID && !s.orderHasProduct(oid, p) {
			target = p
			break
		}
	}
	if target == 0 {
		return false
	}
	price := s.products[target].PriceCents
	s.updateItem(iid, func(it *debezium.OrderItem) { it.ProductID, it.PriceCents = target, price })
	s.updateOrderTotal(oid)
	return true
}

func (s *Shop) orderHasProduct(orderID, productID int64) bool {
	for _, iid := range s.lines[orderID] {
		if s.items[iid].ProductID == productID {
			return true
		}
	}
	return false
}

func (s *Shop) deleteLine() bool {
	minLines := 2
	if s.rng.IntN(5) == 0 {
		minLines = 1 // sometimes the last line goes, leaving an empty order
	}
	oid, iid, ok := s.openLine(minLines)
	if !ok {
		return false
	}
	s.removeItem(iid)
	s.updateOrderTotal(oid)
	return true
}

func (s *Shop) addGiftLine() bool {
	cand := s.recentOrders(40, isOpen)
	if len(cand) == 0 {
		return false
	}
	oid := cand[s.rng.IntN(len(cand))]
	s.insertItem(debezium.OrderItem{OrderID: oid, Quantity: 1, PriceCents: giftPrices[s.rng.IntN(len(giftPrices))]})
	s.updateOrderTotal(oid)
	return true
}

func (s *Shop) deleteOrder() bool {
	if len(s.liveOrders) == 0 {
		return false
	}
	var id int64
	if cand := s.recentOrders(20, func(o *debezium.Order) bool { return o.Status == StatusCancelled }); len(cand) > 0 && s.rng.IntN(2) == 0 {
		id = cand[s.rng.IntN(len(cand))]
	} else {
		id = s.liveOrders[s.rng.IntN(len(s.liveOrders))]
	}
	for _, iid := range slices.Clone(s.lines[id]) {
		s.removeItem(iid)
	}
	s.removeOrder(id)
	return true
}

func (s *Shop) restock() bool {
	if len(s.liveProducts) == 0 {
		return false
	}
	// The warehouse counts the shelf (the available stock) and adds the
	// delivery: the new stock_quantity already counts every sale so far.
	// Deliveries arrive for what runs low (below the reorder point of 12):
	// usually the lowest, sometimes another one.
	var low []int64
	for _, p := range s.liveProducts {
		if s.avail[p] < 12 {
			low = append(low, p)
		}
	}
	if len(low) == 0 {
		return false
	}
	id := low[s.rng.IntN(len(low))]
	if s.rng.IntN(2) == 0 {
		for _, p := range low {
			if s.avail[p] < s.avail[id] {
				id = p
			}
		}
	}
	stock := max(s.avail[id], 0) + int64(20+s.rng.IntN(280))
	s.updateProduct(id, func(p *debezium.Product) { p.StockQuantity = stock })
	return true
}

func (s *Shop) priceChange() bool {
	if len(s.liveProducts) == 0 {
		return false
	}
	id := s.liveProducts[s.rng.IntN(len(s.liveProducts))]
	stock, form := s.formStock(id)
	s.updateProduct(id, func(p *debezium.Product) {
		p.PriceCents = s.newPrice(p.PriceCents)
		if form {
			p.StockQuantity = stock
		}
	})
	return true
}

// formStock decides how an edit of a product writes stock_quantity. Most
// edits go through the admin form, which writes back every field, the
// stock as the shop's current available count (form true); the others
// are targeted UPDATEs that leave the column as it was, so the new
// version carries the stock_quantity of the last write to it.
func (s *Shop) formStock(id int64) (stock int64, form bool) {
	return max(s.avail[id], 0), s.rng.IntN(10) < 7
}

// newPrice is old changed by -30%..+30%, ending in .99, never old itself.
func (s *Shop) newPrice(old int64) int64 {
	p := old * int64(70+s.rng.IntN(61)) / 100
	p = p/100*100 + 99
	if p == old {
		p += 100
	}
	return p
}

func (s *Shop) editProduct() bool {
	if len(s.liveProducts) == 0 {
		return false
	}
	id := s.liveProducts[s.rng.IntN(len(s.liveProducts))]
	fresh := s.randomProduct()
	what := s.rng.IntN(3)
	stock, form := s.formStock(id)
	s.updateProduct(id, func(p *debezium.Product) {
		if form {
			p.StockQuantity = stock
		}
		if what != 1 {
			p.Name = fresh.Name
		}
		if what != 0 {
			p.Description = fresh.Description
		}
	})
	return true
}

func (s *Shop) deleteProduct(withLines bool) bool {
	if len(s.liveProducts) <= 5 {
		return false // keep a catalogue to sell from
	}
	var cand []int64
	for _, id := range s.liveProducts {
		if (s.productLines[id] > 0) == withLines {
			cand = append(cand, id)
		}
	}
	if len(cand) == 0 {
		return false
	}
	// No foreign key: the lines keep their (now dangling) product_id.
	s.removeProduct(cand[s.rng.IntN(len(cand))])
	return true
}

// ---- random content ----

func (s *Shop) pick(words []string) string { return words[s.rng.IntN(len(words))] }

func (s *Shop) customer() int64 {
	return int64(s.custMap[s.zipf.Uint64()]) + 1
}

func (s *Shop) randomProduct() debezium.Product {
	adj, noun := s.pick(nameAdjectives), s.pick(nameNouns)
	parts := []string{adj}
	if m := s.pick(nameMaterials); m != "" {
		parts = append(parts, m)
	}
	parts = append(parts, noun)
	if sfx := s.pick(nameSuffixes); sfx != "" {
		parts = append(parts, sfx)
	}
	desc := ""
	if s.rng.IntN(10) != 0 { // else NULL
		f1, f2 := s.pick(descFeatures), s.pick(descFeatures)
		desc = s.pick(descOpeners) + " " + strings.ToLower(s.pick(nameAdjectives)) + " " +
			strings.ToLower(noun) + " with " + f1 + " and " + f2 + s.pick(descClosers)
	}
	if desc != "" && s.aux.Float64() < s.cfg.LongDescriptions {
		desc = s.longDescription(desc, noun)
	}
	return debezium.Product{
		Name:          strings.Join(parts, " "),
		Description:   desc,
		PriceCents:    s.randomPrice(),
		StockQuantity: int64(5 + s.rng.IntN(196)),
	}
}

// longDescription extends a description past the TOAST threshold with a
// catalogue text of 2 to 4 kB (drawn from s.aux).
func (s *Shop) longDescription(desc, noun string) string {
	var b strings.Builder
	b.WriteString(desc)
	target := toastThreshold + 64 + s.aux.IntN(2048)
	pick := func(words []string) string { return words[s.aux.IntN(len(words))] }
	for b.Len() < target {
		switch s.aux.IntN(3) {
		case 0:
			fmt.Fprintf(&b, " This %s comes with %s, %s and %s%s", strings.ToLower(noun),
				pick(descFeatures), pick(descFeatures), pick(descFeatures), pick(descClosers))
		case 1:
			fmt.Fprintf(&b, " %s %s design: %s%s", pick(descOpeners), strings.ToLower(pick(nameAdjectives)),
				pick(descFeatures), pick(descClosers))
		default:
			fmt.Fprintf(&b, " Made of %s; model %d-%c, %s%s", strings.ToLower(pick(nameMaterials[4:])),
				100+s.aux.IntN(900), 'A'+rune(s.aux.IntN(26)), pick(descFeatures), pick(descClosers))
		}
	}
	return b.String()
}

// randomPrice is log-uniform between about $5 and $1500, with the usual
// endings.
func (s *Shop) randomPrice() int64 {
	dollars := int64(math.Exp(math.Log(5) + s.rng.Float64()*(math.Log(1500)-math.Log(5))))
	return dollars*100 + []int64{99, 99, 99, 49, 95, 0}[s.rng.IntN(6)]
}

// ---- helpers ----

func removeID(ids []int64, id int64) []int64 {
	if i, ok := slices.BinarySearch(ids, id); ok && ids[i] == id {
		return slices.Delete(ids, i, i+1)
	}
	if i := slices.Index(ids, id); i >= 0 {
		return slices.Delete(ids, i, i+1)
	}
	return ids
}

// cloneRow copies a row pointer (nil stays nil).
func cloneRow(r any) any {
	switch v := r.(type) {
	case *debezium.Product:
		if v == nil {
			return nil
		}
		c := *v
		return &c
	case *debezium.Order:
		if v == nil {
			return nil
		}
		c := *v
		return &c
	case *debezium.OrderItem:
		if v == nil {
			return nil
		}
		c := *v
		return &c
	}
	return nil
}
