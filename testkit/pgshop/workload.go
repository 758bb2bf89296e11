package pgshop

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Config sizes a run. Zero fields take the defaults in brackets.
type Config struct {
	Seed uint64
	// Sessions is the number of concurrent connections of the workload [6].
	Sessions int
	// Changes is the number of row changes the workload commits (cascades
	// add a few more) [4000].
	Changes int
	// SnapshotProducts and SnapshotOrders are written before the slot is
	// created, so they reach the stream as snapshot rows [60, 15].
	SnapshotProducts, SnapshotOrders int
	// StreamProducts is the rest of the initial catalogue, inserted in the
	// stream before the workload starts [70].
	StreamProducts int
	// Customers is the number of distinct customer ids [400].
	Customers int
	// MaxPause is the longest random pause between the statements of a
	// transaction, so that concurrent transactions interleave [4ms].
	MaxPause time.Duration
	// Clock is the simulated creation time of the first order; each order
	// is created about 150 s after the previous one [2025-01-15 21:00 UTC].
	Clock time.Time
}

func (c Config) withDefaults() Config {
	if c.Sessions <= 0 {
		c.Sessions = 6
	}
	if c.Changes <= 0 {
		c.Changes = 4000
	}
	if c.SnapshotProducts == 0 {
		c.SnapshotProducts = 60
	}
	if c.SnapshotOrders == 0 {
		c.SnapshotOrders = 15
	}
	if c.StreamProducts == 0 {
		c.StreamProducts = 70
	}
	if c.Customers <= 0 {
		c.Customers = 400
	}
	if c.MaxPause <= 0 {
		c.MaxPause = 4 * time.Millisecond
	}
	if c.Clock.IsZero() {
		c.Clock = time.Date(2025, 1, 15, 21, 0, 0, 0, time.UTC)
	}
	return c
}

// WorkloadStats are what the workload did.
type WorkloadStats struct {
	Committed map[string]int // transactions committed, by kind
	Retries   int            // transactions retried after a deadlock, serialization or foreign-key failure
	Skipped   int            // transactions that found nothing to do and rolled back
	Changes   int            // row changes committed (as counted by the statements)
	Elapsed   time.Duration
}

// shop is the state the sessions share: ids they may pick (possibly stale:
// the SQL decides).
type shop struct {
	cfg      Config
	mu       sync.Mutex
	products []int64
	orders   []int64
	sold     []int64 // products of the latest order lines written, newest last
	orderSeq atomic.Int64
	changes  atomic.Int64
	retries  atomic.Int64
	skipped  atomic.Int64
	kinds    map[string]int
}

func (s *shop) addProduct(id int64) {
	s.mu.Lock()
	s.products = append(s.products, id)
	s.mu.Unlock()
}

// noteSold records the product of an order line just written (the
// replenishment system hears of a sale as it is placed).
func (s *shop) noteSold(id int64) {
	s.mu.Lock()
	s.sold = append(s.sold, id)
	if len(s.sold) > 32 {
		s.sold = s.sold[len(s.sold)-16:]
	}
	s.mu.Unlock()
}

// recentlySold returns one of the products sold most recently.
func (s *session) recentlySold() (int64, bool) {
	s.shop.mu.Lock()
	defer s.shop.mu.Unlock()
	n := len(s.shop.sold)
	if n == 0 {
		return 0, false
	}
	return s.shop.sold[n-1-s.rng.IntN(min(4, n))], true
}

func (s *shop) removeProduct(id int64) {
	s.mu.Lock()
	s.products = removeID(s.products, id)
	s.mu.Unlock()
}

func (s *shop) addOrder(id int64) {
	s.mu.Lock()
	s.orders = append(s.orders, id)
	s.mu.Unlock()
}

func (s *shop) removeOrder(id int64) {
	s.mu.Lock()
	s.orders = removeID(s.orders, id)
	s.mu.Unlock()
}

func removeID(ids []int64, id int64) []int64 {
	for i, x := range ids {
		if x == id {
			return append(ids[:i], ids[i+1:]...)
		}
	}
	return ids
}

// session is one connection of the workload.
type session struct {
	shop *shop
	conn *pgx.Conn
	rng  *rand.Rand
}

func (s *session) pause() {
	if d := s.shop.cfg.MaxPause; d > 0 {
		time.Sleep(time.Duration(s.rng.Int64N(int64(d) + 1)))
	}
}

func (s *session) pickProduct() (int64, bool) {
	s.shop.mu.Lock()
	defer s.shop.mu.Unlock()
	if len(s.shop.products) == 0 {
		return 0, false
	}
	// A few products sell, and are restocked and repriced, much more than
	// the rest.
	if s.rng.IntN(5) < 2 {
		return s.shop.products[s.rng.IntN(min(8, len(s.shop.products)))], true
	}
	return s.shop.products[s.rng.IntN(len(s.shop.products))], true
}

// pickOrder prefers recent orders, which are still open.
func (s *session) pickOrder() (int64, bool) {
	s.shop.mu.Lock()
	defer s.shop.mu.Unlock()
	n := len(s.shop.orders)
	if n == 0 {
		return 0, false
	}
	if s.rng.IntN(5) != 0 {
		return s.shop.orders[n-1-s.rng.IntN(min(60, n))], true
	}
	return s.shop.orders[s.rng.IntN(n)], true
}

// errSkip rolls a transaction back that found nothing to do.
var errSkip = errors.New("nothing to do")

// retryable reports whether a failed transaction should run again: a
// deadlock, a serialization failure, or a foreign key that a concurrent
// delete removed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40P01", "40001", "23503":
			return true
		}
	}
	return false
}

// txn runs f in a transaction until it commits, retrying retryable
// failures; f returns the number of rows it changed.
func (s *session) txn(ctx context.Context, kind string, f func(tx pgx.Tx) (int, error)) error {
	for attempt := 0; ; attempt++ {
		tx, err := s.conn.Begin(ctx)
		if err != nil {
			return err
		}
		n, err := f(tx)
		if err == nil {
			s.pause() // the application's own work before it commits
			err = tx.Commit(ctx)
		} else {
			tx.Rollback(ctx)
		}
		switch {
		case err == nil:
			s.shop.changes.Add(int64(n))
			s.shop.mu.Lock()
			s.shop.kinds[kind]++
			s.shop.mu.Unlock()
			return nil
		case errors.Is(err, errSkip):
			s.shop.skipped.Add(1)
			return nil
		case retryable(err) && attempt < 50 && ctx.Err() == nil:
			s.shop.retries.Add(1)
			continue
		default:
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
}

func exec1(ctx context.Context, tx pgx.Tx, sql string, args ...any) (int, error) {
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// ---- catalogue text ----

var (
	adjectives = []string{"Wireless", "Ergonomic", "Compact", "Rugged", "Premium", "Smart", "Portable", "Vintage",
		"Classic", "Ultra", "Silent", "Solar", "Modular", "Foldable", "Heated", "Crème", "Nordic", "Café"}
	materials = []string{"Bamboo", "Steel", "Aluminium", "Leather", "Carbon", "Oak", "Ceramic", "Glass", "Cotton", "Titanium", "Wool"}
	nouns     = []string{"Laptop", "Mouse", "Keyboard", "Monitor", "Headphones", "Speaker", "Lamp", "Chair", "Desk",
		"Backpack", "Kettle", "Camera", "Charger", "Blender", "Router", "Tablet", "Watch", "Drone", "Tent", "Bottle"}
	features = []string{"noise cancelling", "fast charging", "water resistant seals", "a USB-C port", "Wi-Fi 6E",
		"eco_friendly packaging", "a crème finish", "café-grade brewing", "naïve simplicity", "Größe M fit",
		"a two-year warranty", "low latency", "fair-trade materials", "hand-stitched seams", "a detachable strap",
		"overheat protection", "whisper-quiet motors", "magnetic mounts", "recycled aluminium", "over 40 hours of battery"}
	openers = []string{"Built for everyday use", "Designed in Łódź", "Our best-selling", "A customer favourite",
		"Made to last", "Tested in the field", "Lightweight and sturdy", "New for this season"}
	closers = []string{"Ships in recyclable packaging.", "Backed by our support team.", "Déjà vu for your desk.",
		"Très pratique.", "Fits in any bag.", "Cleans in seconds."}
)

func (s *session) pick(words []string) string { return words[s.rng.IntN(len(words))] }

func (s *session) productName() string {
	name := s.pick(adjectives) + " " + s.pick(nouns)
	if s.rng.IntN(2) == 0 {
		name = s.pick(adjectives) + " " + s.pick(materials) + " " + s.pick(nouns)
	}
	return fmt.Sprintf("%s %c-%d", name, 'A'+rune(s.rng.IntN(26)), 100+s.rng.IntN(900))
}

// description returns a short description, a long one (3-6 KB, TOASTed
// out of line), or rarely none (NULL).
func (s *session) description(name string) *string {
	switch n := s.rng.IntN(100); {
	case n < 3:
		return nil
	case n < 45:
		return ptr(s.longDescription(name))
	default:
		d := fmt.Sprintf("%s %s with %s and %s. %s", s.pick(openers), strings.ToLower(name), s.pick(features), s.pick(features), s.pick(closers))
		return &d
	}
}

func (s *session) longDescription(name string) string {
	target := 3000 + s.rng.IntN(3000)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the %s.", s.pick(openers), name)
	for b.Len() < target {
		fmt.Fprintf(&b, " The %s %s comes with %s, %s and %s.", strings.ToLower(s.pick(adjectives)), strings.ToLower(s.pick(nouns)),
			s.pick(features), s.pick(features), s.pick(features))
		if s.rng.IntN(5) == 0 {
			fmt.Fprintf(&b, " Model %d.", s.rng.IntN(10000))
		}
	}
	b.WriteString(" " + s.pick(closers))
	return b.String()
}

func ptr[T any](v T) *T { return &v }

func (s *session) price() string {
	cents := int64(199 + s.rng.IntN(150000))
	cents = cents/100*100 + []int64{99, 49, 0, 95}[s.rng.IntN(4)]
	return FormatDecimal(cents, 2)
}

// ---- the transactions ----

func (s *session) insertProduct(ctx context.Context, tx pgx.Tx) (int64, error) {
	name := s.productName()
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO products (name, description, price, stock_quantity) VALUES ($1, $2, $3::numeric, $4) RETURNING id`,
		name, s.description(name), s.price(), 20+s.rng.IntN(400)).Scan(&id)
	return id, err
}

func (s *session) newProduct(ctx context.Context) error {
	var id int64
	err := s.txn(ctx, "new product", func(tx pgx.Tx) (int, error) {
		var err error
		if id, err = s.insertProduct(ctx, tx); err != nil {
			return 0, err
		}
		if s.rng.IntN(3) != 0 {
			return 1, nil
		}
		// Inserted and corrected in the same transaction.
		s.pause()
		n, err := exec1(ctx, tx, `UPDATE products SET stock_quantity = $2, price = $3::numeric WHERE id = $1`, id, 10+s.rng.IntN(300), s.price())
		return 1 + n, err
	})
	if err == nil {
		s.shop.addProduct(id)
	}
	return err
}

func (s *session) orderTime() string {
	seq := s.shop.orderSeq.Add(1) - 1
	at := s.shop.cfg.Clock.Add(time.Duration(seq)*150*time.Second + time.Duration(s.rng.Int64N(int64(120*time.Second/time.Microsecond)))*time.Microsecond)
	return at.Format("2006-01-02 15:04:05.999999")
}

const orderTotal = `UPDATE orders SET total_amount = (SELECT COALESCE(SUM(quantity * price), 0) FROM order_items WHERE order_id = $1) WHERE id = $1`

func (s *session) placeOrder(ctx context.Context) error {
	var oid int64
	err := s.txn(ctx, "place order", func(tx pgx.Tx) (int, error) {
		created := s.orderTime()
		if err := tx.QueryRow(ctx, `INSERT INTO orders (customer_id, total_amount, status, created_at, updated_at)
			VALUES ($1, 0, 'pending', $2::timestamp, $2::timestamp) RETURNING id`, 1+s.rng.IntN(s.shop.cfg.Customers), created).Scan(&oid); err != nil {
			return 0, err
		}
		n := 1
		lines := 1 + s.rng.IntN(4)
		used := map[int64]bool{}
		for range lines {
			s.pause()
			pid, ok := s.pickProduct()
			if !ok || used[pid] {
				continue
			}
			used[pid] = true
			var price string
			if err := tx.QueryRow(ctx, `SELECT price::text FROM products WHERE id = $1`, pid).Scan(&price); errors.Is(err, pgx.ErrNoRows) {
				continue
			} else if err != nil {
				return 0, err
			}
			k, err := exec1(ctx, tx, `INSERT INTO order_items (order_id, product_id, quantity, price, created_at) VALUES ($1, $2, $3, $4::numeric, $5::timestamp)`,
				oid, pid, 1+s.rng.IntN(4), price, created)
			if err != nil {
				return 0, err
			}
			s.shop.noteSold(pid)
			n += k
		}
		s.pause()
		k, err := exec1(ctx, tx, orderTotal, oid)
		return n + k, err
	})
	if err == nil {
		s.shop.addOrder(oid)
	}
	return err
}

// lockOrder locks an order and returns its status.
func lockOrder(ctx context.Context, tx pgx.Tx, oid int64) (string, error) {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1 FOR UPDATE`, oid).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errSkip
	}
	return status, err
}

func (s *session) statusChange(ctx context.Context) error {
	oid, ok := s.pickOrder()
	if !ok {
		return nil
	}
	return s.txn(ctx, "status change", func(tx pgx.Tx) (int, error) {
		status, err := lockOrder(ctx, tx, oid)
		if err != nil {
			return 0, err
		}
		var next string
		switch status {
		case "pending":
			next = "processing"
			if s.rng.IntN(7) == 0 {
				next = "cancelled"
			}
		case "processing":
			next = "shipped"
			if s.rng.IntN(10) == 0 {
				next = "cancelled"
			}
		case "shipped":
			next = "delivered"
		default:
			return 0, errSkip
		}
		s.pause()
		return exec1(ctx, tx, `UPDATE orders SET status = $2 WHERE id = $1`, oid, next)
	})
}

// openLine locks an open order and returns one of its lines.
func (s *session) openLine(ctx context.Context, tx pgx.Tx, oid int64) (lineID, productID int64, qty int, err error) {
	status, err := lockOrder(ctx, tx, oid)
	if err != nil {
		return 0, 0, 0, err
	}
	if status != "pending" && status != "processing" {
		return 0, 0, 0, errSkip
	}
	rows, err := tx.Query(ctx, `SELECT id, COALESCE(product_id, 0), quantity FROM order_items WHERE order_id = $1 ORDER BY id`, oid)
	if err != nil {
		return 0, 0, 0, err
	}
	type line struct {
		id, pid int64
		qty     int
	}
	var lines []line
	for rows.Next() {
		var l line
		if err := rows.Scan(&l.id, &l.pid, &l.qty); err != nil {
			rows.Close()
			return 0, 0, 0, err
		}
		lines = append(lines, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, 0, err
	}
	if len(lines) == 0 {
		return 0, 0, 0, errSkip
	}
	l := lines[s.rng.IntN(len(lines))]
	return l.id, l.pid, l.qty, nil
}

func (s *session) editQuantity(ctx context.Context) error {
	oid, ok := s.pickOrder()
	if !ok {
		return nil
	}
	return s.txn(ctx, "edit quantity", func(tx pgx.Tx) (int, error) {
		lid, _, qty, err := s.openLine(ctx, tx, oid)
		if err != nil {
			return 0, err
		}
		s.pause()
		nq := 1 + s.rng.IntN(5)
		if nq == qty {
			nq = qty%5 + 1
		}
		n, err := exec1(ctx, tx, `UPDATE order_items SET quantity = $2 WHERE id = $1`, lid, nq)
		if err != nil {
			return 0, err
		}
		s.pause()
		k, err := exec1(ctx, tx, orderTotal, oid)
		return n + k, err
	})
}

func (s *session) moveLine(ctx context.Context) error {
	oid, ok := s.pickOrder()
	if !ok {
		return nil
	}
	return s.txn(ctx, "move line", func(tx pgx.Tx) (int, error) {
		lid, pid, _, err := s.openLine(ctx, tx, oid)
		if err != nil {
			return 0, err
		}
		np, ok := s.pickProduct()
		if !ok || np == pid {
			return 0, errSkip
		}
		var price string
		if err := tx.QueryRow(ctx, `SELECT price::text FROM products WHERE id = $1`, np).Scan(&price); errors.Is(err, pgx.ErrNoRows) {
			return 0, errSkip
		} else if err != nil {
			return 0, err
		}
		s.pause()
		n, err := exec1(ctx, tx, `UPDATE order_items SET product_id = $2, price = $3::numeric WHERE id = $1`, lid, np, price)
		if err != nil {
			return 0, err
		}
		s.pause()
		k, err := exec1(ctx, tx, orderTotal, oid)
		return n + k, err
	})
}

func (s *session) deleteLine(ctx context.Context) error {
	oid, ok := s.pickOrder()
	if !ok {
		return nil
	}
	return s.txn(ctx, "delete line", func(tx pgx.Tx) (int, error) {
		lid, _, _, err := s.openLine(ctx, tx, oid)
		if err != nil {
			return 0, err
		}
		s.pause()
		n, err := exec1(ctx, tx, `DELETE FROM order_items WHERE id = $1`, lid)
		if err != nil {
			return 0, err
		}
		s.pause()
		k, err := exec1(ctx, tx, orderTotal, oid)
		return n + k, err
	})
}

func (s *session) deleteOrder(ctx context.Context) error {
	oid, ok := s.pickOrder()
	if !ok {
		return nil
	}
	err := s.txn(ctx, "delete order", func(tx pgx.Tx) (int, error) {
		if _, err := lockOrder(ctx, tx, oid); err != nil {
			return 0, err
		}
		s.pause()
		n, err := exec1(ctx, tx, `DELETE FROM order_items WHERE order_id = $1`, oid)
		if err != nil {
			return 0, err
		}
		s.pause()
		k, err := exec1(ctx, tx, `DELETE FROM orders WHERE id = $1`, oid)
		return n + k, err
	})
	if err == nil {
		s.shop.removeOrder(oid)
	}
	return err
}

func (s *session) restock(ctx context.Context) error {
	return s.txn(ctx, "restock", func(tx pgx.Tx) (int, error) {
		n := 0
		// A delivery restocks one to three products.
		for i := range 1 + s.rng.IntN(3) {
			if i > 0 {
				s.pause()
			}
			// Replenishment follows the sales: mostly a product that has just
			// sold.
			pid, ok := s.recentlySold()
			if !ok || s.rng.IntN(3) == 0 {
				pid, ok = s.pickProduct()
			}
			if !ok {
				break
			}
			k, err := exec1(ctx, tx, `UPDATE products SET stock_quantity = stock_quantity + $2 WHERE id = $1`, pid, 10+s.rng.IntN(100))
			if err != nil {
				return 0, err
			}
			n += k
		}
		if n == 0 {
			return 0, errSkip
		}
		return n, nil
	})
}

func (s *session) priceChange(ctx context.Context) error {
	pid, ok := s.pickProduct()
	if !ok {
		return nil
	}
	factor := []string{"0.90", "0.95", "1.05", "1.10", "1.25", "0.80"}[s.rng.IntN(6)]
	return s.txn(ctx, "price change", func(tx pgx.Tx) (int, error) {
		n, err := exec1(ctx, tx, `UPDATE products SET price = GREATEST(0.99, ROUND(price * $2::numeric, 2)) WHERE id = $1`, pid, factor)
		if err == nil && n == 0 {
			err = errSkip
		}
		return n, err
	})
}

func (s *session) editProduct(ctx context.Context) error {
	pid, ok := s.pickProduct()
	if !ok {
		return nil
	}
	return s.txn(ctx, "edit product", func(tx pgx.Tx) (int, error) {
		var n int
		var err error
		name := s.productName()
		switch s.rng.IntN(3) {
		case 0: // rename only: a long description stays unchanged TOAST
			n, err = exec1(ctx, tx, `UPDATE products SET name = $2 WHERE id = $1`, pid, name)
		case 1:
			n, err = exec1(ctx, tx, `UPDATE products SET description = $2 WHERE id = $1`, pid, s.description(name))
		default:
			n, err = exec1(ctx, tx, `UPDATE products SET name = $2, description = $3 WHERE id = $1`, pid, name, s.description(name))
		}
		if err == nil && n == 0 {
			err = errSkip
		}
		return n, err
	})
}

func (s *session) deleteProduct(ctx context.Context) error {
	pid, ok := s.pickProduct()
	if !ok {
		return nil
	}
	err := s.txn(ctx, "delete product", func(tx pgx.Tx) (int, error) {
		// ON DELETE SET NULL updates its order lines in the same transaction.
		var lines int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM order_items WHERE product_id = $1`, pid).Scan(&lines); err != nil {
			return 0, err
		}
		s.pause()
		n, err := exec1(ctx, tx, `DELETE FROM products WHERE id = $1`, pid)
		if err == nil && n == 0 {
			err = errSkip
		}
		return n + lines, err
	})
	if err == nil {
		s.shop.removeProduct(pid)
	}
	return err
}

// kinds are the workload's transactions and their weights.
var kinds = []struct {
	weight int
	run    func(*session, context.Context) error
}{
	{30, (*session).placeOrder},
	{18, (*session).statusChange},
	{6, (*session).editQuantity},
	{4, (*session).moveLine},
	{4, (*session).deleteLine},
	{3, (*session).deleteOrder},
	{8, (*session).restock},
	{5, (*session).priceChange},
	{5, (*session).editProduct},
	{2, (*session).newProduct},
	{1, (*session).deleteProduct},
}

func (s *session) step(ctx context.Context) error {
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	n := s.rng.IntN(total)
	for _, k := range kinds {
		if n < k.weight {
			return k.run(s, ctx)
		}
		n -= k.weight
	}
	return nil
}

func newShop(cfg Config) *shop { return &shop{cfg: cfg, kinds: map[string]int{}} }

func (s *shop) session(conn *pgx.Conn, n uint64) *session {
	return &session{shop: s, conn: conn, rng: rand.New(rand.NewPCG(s.cfg.Seed, n*0x9e3779b97f4a7c15+1))}
}

// seed writes products and orders in transactions of ten on one
// connection: before the slot (snapshot rows) or at the start of the
// stream.
func (s *shop) seed(ctx context.Context, conn *pgx.Conn, products, orders int, n uint64) error {
	ss := s.session(conn, n)
	for done := 0; done < products; done += 10 {
		var ids []int64
		err := ss.txn(ctx, "catalogue", func(tx pgx.Tx) (int, error) {
			ids = ids[:0]
			for range min(10, products-done) {
				id, err := ss.insertProduct(ctx, tx)
				if err != nil {
					return 0, err
				}
				ids = append(ids, id)
			}
			return len(ids), nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			s.addProduct(id)
		}
	}
	saved := s.cfg.MaxPause
	s.cfg.MaxPause = 0
	defer func() { s.cfg.MaxPause = saved }()
	for range orders {
		if err := ss.placeOrder(ctx); err != nil {
			return err
		}
		if ss.rng.IntN(2) == 0 {
			if err := ss.statusChange(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// run runs the concurrent workload until it has committed cfg.Changes
// row changes.
func (s *shop) run(ctx context.Context, c *Cluster) error {
	target := int64(s.cfg.Changes)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, s.cfg.Sessions)
	var wg sync.WaitGroup
	for i := range s.cfg.Sessions {
		conn, err := pgx.Connect(ctx, c.DSN(Database))
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close(context.Background())
			ss := s.session(conn, uint64(100+i))
			for s.changes.Load() < target && ctx.Err() == nil {
				if err := ss.step(ctx); err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("session %d: %w", i, err)
						cancel()
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (s *shop) stats(elapsed time.Duration) WorkloadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := map[string]int{}
	for n, v := range s.kinds {
		k[n] = v
	}
	return WorkloadStats{Committed: k, Retries: int(s.retries.Load()), Skipped: int(s.skipped.Load()), Changes: int(s.changes.Load()), Elapsed: elapsed}
}
