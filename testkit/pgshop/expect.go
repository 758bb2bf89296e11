package pgshop

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

// ---- typed rows ----

// ProductRow is a products row.
type ProductRow struct {
	ID              int64
	Name            string
	Description     string // "" when NULL
	DescriptionNull bool
	PriceCents      int64
	StockQuantity   int64
}

// ProductOf reads a products row image.
func ProductOf(r Row) ProductRow {
	return ProductRow{ID: r[0].N, Name: r[1].S, Description: r[2].S, DescriptionNull: r[2].Null, PriceCents: r[3].N, StockQuantity: r[4].N}
}

// ItemRow is an order_items row; 0 stands for a NULL order or product.
type ItemRow struct {
	ID, OrderID, ProductID, Quantity, PriceCents int64
}

// ItemOf reads an order_items row image.
func ItemOf(r Row) ItemRow {
	return ItemRow{ID: r[0].N, OrderID: r[1].N, ProductID: r[2].N, Quantity: r[3].N, PriceCents: r[4].N}
}

// Products returns the final products by id.
func (f *Final) Products() map[int64]ProductRow {
	out := map[int64]ProductRow{}
	for id, r := range f.Rows[Products] {
		out[id] = ProductOf(r)
	}
	return out
}

// ---- inventory: a commit-order replay of the captured changes ----

// Stock is the expected inventory state of one live product.
type Stock struct {
	Product    ProductRow // the latest version
	Available  int64      // its stock_quantity adjusted by the lines committed after it
	LastTsMs   int64      // commit time of the last change that set or adjusted it
	VersionTs  int64      // commit time of the latest version
	Adjusted   bool       // a line change committed after the latest version adjusted it
	AdjustedBy int        // how many
}

// TsMs is the source.ts_ms the connector reports for a transaction.
func (tx *Tx) TsMs() int64 { return tx.CommitTime.UnixMilli() }

// ExpectInventory replays the captured changes in commit order: a product
// version (r, c, u) sets the stock to its stock_quantity, a delete removes
// the product; an order line committed later takes its quantity (insert),
// the difference (update; a change of product_id gives the old quantity
// back to the old product and takes the new one from the new product) or
// gives it back (delete). Snapshot lines (r) are counted in the snapshot's
// product rows already. NULL or deleted products take nothing.
func (c *Capture) ExpectInventory() map[int64]*Stock {
	inv := map[int64]*Stock{}
	apply := func(pid, delta, ts int64) {
		if s := inv[pid]; s != nil && pid != 0 {
			s.Available += delta
			s.LastTsMs = ts
			s.Adjusted = true
			s.AdjustedBy++
		}
	}
	for _, ch := range c.Changes() {
		ts := ch.Tx.TsMs()
		switch ch.Table {
		case Products:
			if ch.Op == OpDelete {
				delete(inv, ch.ID)
				continue
			}
			p := ProductOf(ch.After)
			inv[ch.ID] = &Stock{Product: p, Available: p.StockQuantity, LastTsMs: ts, VersionTs: ts}
		case OrderItems:
			switch ch.Op {
			case OpCreate:
				a := ItemOf(ch.After)
				apply(a.ProductID, -a.Quantity, ts)
			case OpUpdate:
				b, a := ItemOf(ch.Before), ItemOf(ch.After)
				if a.ProductID == b.ProductID {
					apply(a.ProductID, -(a.Quantity - b.Quantity), ts)
				} else {
					apply(b.ProductID, b.Quantity, ts)
					apply(a.ProductID, -a.Quantity, ts)
				}
			case OpDelete:
				b := ItemOf(ch.Before)
				apply(b.ProductID, b.Quantity, ts)
			}
		}
	}
	return inv
}

// CheckInventory compares the replay with the final tables where they can
// tell: the same live products with the same name, description, price and
// stock_quantity, and, for a product no line change touched since its
// latest version, available stock equal to the table's stock_quantity.
// It returns how many products that last check covered.
func CheckInventory(inv map[int64]*Stock, f *Final) (unadjusted int, err error) {
	rows := f.Products()
	if len(rows) != len(inv) {
		return 0, fmt.Errorf("pgshop: inventory replay has %d products, the table %d", len(inv), len(rows))
	}
	for id, p := range rows {
		s := inv[id]
		if s == nil || s.Product != p {
			return 0, fmt.Errorf("pgshop: inventory replay of product %d is %+v, the table holds %+v", id, s, p)
		}
		if !s.Adjusted {
			unadjusted++
			if s.Available != p.StockQuantity {
				return 0, fmt.Errorf("pgshop: product %d: replayed stock %d, table stock_quantity %d, no line since", id, s.Available, p.StockQuantity)
			}
		}
	}
	return unadjusted, nil
}

// ---- analytics: SQL over the final tables ----

// The analytics figures (CONTRACT §2), money in cents. Maps hold only
// non-empty entries.
type (
	DaySales        struct{ TotalCents, OrderCount int64 }
	ProductSales    struct{ QuantitySold, RevenueCents int64 }
	CustomerMetrics struct{ OrderCount, TotalSpentCents int64 }
	Window          struct{ Orders, RevenueCents, ItemsSold int64 }
	RankedProduct   struct {
		ProductID int64
		ProductSales
	}
	RankedCustomer struct {
		CustomerID int64
		CustomerMetrics
	}
	Summary struct {
		TotalOrders, TotalRevenueCents, UniqueCustomers, UniqueProductsSold int64
	}
	Analytics struct {
		DailySales      map[string]DaySales       // by created_at's UTC day
		ProductSales    map[int64]ProductSales    // lines with a product
		CustomerMetrics map[int64]CustomerMetrics // by customer_id
		OrderStatus     map[string]int64
		Windows         map[int64]Window // by window start, Unix seconds
		Summary         Summary
		TopProducts     []RankedProduct  // 100, revenue desc then id
		TopCustomers    []RankedCustomer // 100, spend desc then id
	}
)

// TopN is the length of the top products and customers.
const TopN = 100

// QueryAnalytics computes the analytics figures with SQL over the tables.
func QueryAnalytics(ctx context.Context, conn *pgx.Conn) (Analytics, error) {
	a := Analytics{DailySales: map[string]DaySales{}, ProductSales: map[int64]ProductSales{}, CustomerMetrics: map[int64]CustomerMetrics{},
		OrderStatus: map[string]int64{}, Windows: map[int64]Window{}}
	each := func(sql string, scan func(pgx.Rows) error) error {
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			return fmt.Errorf("pgshop: %s: %w", sql, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	cents := func(expr string) string { return "(" + expr + " * 100)::bigint" }
	const window = "(floor(extract(epoch FROM o.created_at) / 300) * 300)::bigint"
	err := each(`SELECT to_char(created_at, 'YYYY-MM-DD'), `+cents("SUM(total_amount)")+`, COUNT(*) FROM orders GROUP BY 1`, func(r pgx.Rows) error {
		var day string
		var d DaySales
		err := r.Scan(&day, &d.TotalCents, &d.OrderCount)
		a.DailySales[day] = d
		return err
	})
	if err == nil {
		err = each(`SELECT product_id, SUM(quantity)::bigint, `+cents("SUM(quantity * price)")+` FROM order_items WHERE product_id IS NOT NULL GROUP BY 1`, func(r pgx.Rows) error {
			var id int64
			var p ProductSales
			err := r.Scan(&id, &p.QuantitySold, &p.RevenueCents)
			a.ProductSales[id] = p
			return err
		})
	}
	if err == nil {
		err = each(`SELECT customer_id, COUNT(*), `+cents("SUM(total_amount)")+` FROM orders GROUP BY 1`, func(r pgx.Rows) error {
			var id int64
			var m CustomerMetrics
			err := r.Scan(&id, &m.OrderCount, &m.TotalSpentCents)
			a.CustomerMetrics[id] = m
			return err
		})
	}
	if err == nil {
		err = each(`SELECT status, COUNT(*) FROM orders GROUP BY 1`, func(r pgx.Rows) error {
			var s string
			var n int64
			err := r.Scan(&s, &n)
			a.OrderStatus[s] = n
			return err
		})
	}
	if err == nil {
		err = each(`WITH q AS (SELECT order_id, SUM(quantity) AS qty FROM order_items GROUP BY order_id)
			SELECT `+window+`, COUNT(*), `+cents("SUM(o.total_amount)")+`, COALESCE(SUM(q.qty), 0)::bigint
			FROM orders o LEFT JOIN q ON q.order_id = o.id GROUP BY 1`, func(r pgx.Rows) error {
			var start int64
			var w Window
			err := r.Scan(&start, &w.Orders, &w.RevenueCents, &w.ItemsSold)
			a.Windows[start] = w
			return err
		})
	}
	if err == nil {
		err = conn.QueryRow(ctx, `SELECT COUNT(*), COALESCE(`+cents("SUM(total_amount)")+`, 0), COUNT(DISTINCT customer_id),
			(SELECT COUNT(DISTINCT product_id) FROM order_items WHERE product_id IS NOT NULL) FROM orders`).
			Scan(&a.Summary.TotalOrders, &a.Summary.TotalRevenueCents, &a.Summary.UniqueCustomers, &a.Summary.UniqueProductsSold)
	}
	if err == nil {
		err = each(`SELECT product_id, SUM(quantity)::bigint, `+cents("SUM(quantity * price)")+` AS revenue FROM order_items
			WHERE product_id IS NOT NULL GROUP BY 1 ORDER BY revenue DESC, product_id LIMIT 100`, func(r pgx.Rows) error {
			var p RankedProduct
			err := r.Scan(&p.ProductID, &p.QuantitySold, &p.RevenueCents)
			a.TopProducts = append(a.TopProducts, p)
			return err
		})
	}
	if err == nil {
		err = each(`SELECT customer_id, COUNT(*), `+cents("SUM(total_amount)")+` AS spent FROM orders
			GROUP BY 1 ORDER BY spent DESC, customer_id LIMIT 100`, func(r pgx.Rows) error {
			var m RankedCustomer
			err := r.Scan(&m.CustomerID, &m.OrderCount, &m.TotalSpentCents)
			a.TopCustomers = append(a.TopCustomers, m)
			return err
		})
	}
	return a, err
}

// SortedIDs returns the keys of an id map in order.
func SortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
