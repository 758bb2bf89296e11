package oracle

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// The oracle: what each service must end up with (CONTRACT §2), computed
// from the commit-ordered changes alone by plain replay. It never looks at
// Kafka records and shares no code with the services. Truncates (op t) are
// ignored, as the services only log and count them; the generator never
// produces them. A change whose row images do not fit its op panics: the
// input is the simulator's own log.

// InventoryItem is the inventory-service's state of one live product.
type InventoryItem struct {
	ProductID   int64
	Name        string
	Description string
	PriceCents  int64
	// Stock is the available stock: the stock_quantity of the product's
	// latest version, adjusted by every order-item change committed after
	// that version.
	Stock int64
	// LastSourceTsMs is the source.ts_ms of the last change that set or
	// adjusted this product's state (a product version or an item change
	// whose delta applied to it).
	LastSourceTsMs int64
}

// ExpectInventory replays the changes in commit order and returns the
// inventory of every live product.
//
// A product version (r, c, u) sets the product's name, description, price
// and stock (to its stock_quantity); a delete removes it. An order item
// insert (c) takes its quantity from its product, a delete (d) gives it
// back, an update takes back the old quantity from the old product and
// takes the new quantity from the new product (so a change of quantity
// only moves the difference, a change of product_id moves the stock
// between products). A delta applies only to a product that is live at
// that point of the replay; a NULL product_id (0) is no product. Snapshot
// reads of order items (r) change nothing: the snapshot's product rows
// already count them.
func ExpectInventory(changes []shopsim.Change) map[int64]InventoryItem {
	inv := map[int64]InventoryItem{}
	apply := func(productID, delta, ts int64) {
		if productID == 0 {
			return
		}
		it, live := inv[productID]
		if !live {
			return
		}
		it.Stock += delta
		it.LastSourceTsMs = ts
		inv[productID] = it
	}
	for i, c := range changes {
		ts := c.Src.TsMs
		switch c.Table {
		case debezium.TableProducts:
			switch c.Op {
			case debezium.OpRead, debezium.OpCreate, debezium.OpUpdate:
				p := productImage(i, c, c.After)
				inv[p.ID] = InventoryItem{
					ProductID:      p.ID,
					Name:           p.Name,
					Description:    p.Description,
					PriceCents:     p.PriceCents,
					Stock:          p.StockQuantity,
					LastSourceTsMs: ts,
				}
			case debezium.OpDelete:
				delete(inv, c.ID)
			}
		case debezium.TableOrderItems:
			switch c.Op {
			case debezium.OpCreate:
				after := itemImage(i, c, c.After)
				apply(after.ProductID, -after.Quantity, ts)
			case debezium.OpUpdate:
				before, after := itemImage(i, c, c.Before), itemImage(i, c, c.After)
				if before.ProductID == after.ProductID {
					apply(after.ProductID, -(after.Quantity - before.Quantity), ts)
				} else {
					apply(before.ProductID, before.Quantity, ts)
					apply(after.ProductID, -after.Quantity, ts)
				}
			case debezium.OpDelete:
				before := itemImage(i, c, c.Before)
				apply(before.ProductID, before.Quantity, ts)
			}
		}
	}
	return inv
}

// DaySales is one UTC day of the daily sales report.
type DaySales struct {
	TotalCents int64 // sum of total_amount of the live orders created that day
	OrderCount int64
}

// ProductSales is one product's sales over the live order lines.
type ProductSales struct {
	QuantitySold int64
	RevenueCents int64 // sum of quantity × line price
}

// CustomerMetrics is one customer's figures over their live orders.
type CustomerMetrics struct {
	OrderCount      int64
	TotalSpentCents int64 // sum of total_amount
}

// Summary is the analytics summary report.
type Summary struct {
	TotalOrders        int64 // live orders
	TotalRevenueCents  int64 // sum of their total_amount
	UniqueCustomers    int64 // customers with a live order
	UniqueProductsSold int64 // products (not NULL) referenced by a live line
	StatusBreakdown    map[string]int64
}

// Window is one 5-minute tumbling window by order creation time.
type Window struct {
	Orders       int64 // live orders created in the window
	RevenueCents int64 // sum of their total_amount
	ItemsSold    int64 // sum of the quantities of their live lines
}

// RankedProduct is an entry of the top products.
type RankedProduct struct {
	ProductID int64
	ProductSales
}

// RankedCustomer is an entry of the top customers.
type RankedCustomer struct {
	CustomerID int64
	CustomerMetrics
}

// Analytics is what the analytics-service reports over the current state
// of all orders and order lines. Maps hold only non-empty entries: a day,
// product, customer, status or window with nothing live is absent (a
// comparison should treat an entry of zeros as absent).
type Analytics struct {
	DailySales      map[string]DaySales       // by created_at UTC day, "2025-01-15"
	ProductSales    map[int64]ProductSales    // by product_id; lines with NULL product_id excluded
	CustomerMetrics map[int64]CustomerMetrics // by customer_id
	OrderStatus     map[string]int64          // live orders per current status
	Summary         Summary
	Windows         map[int64]Window // by window start, Unix seconds (multiple of 300)
	TopProducts     []RankedProduct  // at most 100, revenue desc, then product id asc
	TopCustomers    []RankedCustomer // at most 100, spend desc, then customer id asc
}

// WindowSeconds is the length of the analytics tumbling windows.
const WindowSeconds = 300

// TopN is the length of the top products and top customers lists.
const TopN = 100

// ExpectAnalytics replays the orders and order_items tables in commit order
// to their final state and computes the analytics figures over the live
// rows. Product sales count every live line, whatever its order; the
// windows' items sold count the live lines of the live orders created in
// the window.
func ExpectAnalytics(changes []shopsim.Change) Analytics {
	orders := map[int64]debezium.Order{}
	items := map[int64]debezium.OrderItem{}
	for i, c := range changes {
		switch c.Table {
		case debezium.TableOrders:
			switch c.Op {
			case debezium.OpRead, debezium.OpCreate, debezium.OpUpdate:
				o := orderImage(i, c, c.After)
				orders[o.ID] = *o
			case debezium.OpDelete:
				delete(orders, c.ID)
			}
		case debezium.TableOrderItems:
			switch c.Op {
			case debezium.OpRead, debezium.OpCreate, debezium.OpUpdate:
				it := itemImage(i, c, c.After)
				items[it.ID] = *it
			case debezium.OpDelete:
				delete(items, c.ID)
			}
		}
	}

	a := Analytics{
		DailySales:      map[string]DaySales{},
		ProductSales:    map[int64]ProductSales{},
		CustomerMetrics: map[int64]CustomerMetrics{},
		OrderStatus:     map[string]int64{},
		Windows:         map[int64]Window{},
		Summary:         Summary{StatusBreakdown: map[string]int64{}},
	}
	for _, o := range orders {
		day := time.UnixMicro(o.CreatedAt).UTC().Format("2006-01-02")
		d := a.DailySales[day]
		d.TotalCents += o.TotalCents
		d.OrderCount++
		a.DailySales[day] = d

		cm := a.CustomerMetrics[o.CustomerID]
		cm.OrderCount++
		cm.TotalSpentCents += o.TotalCents
		a.CustomerMetrics[o.CustomerID] = cm

		a.OrderStatus[o.Status]++
		a.Summary.StatusBreakdown[o.Status]++
		a.Summary.TotalOrders++
		a.Summary.TotalRevenueCents += o.TotalCents

		w := a.Windows[windowStart(o.CreatedAt)]
		w.Orders++
		w.RevenueCents += o.TotalCents
		a.Windows[windowStart(o.CreatedAt)] = w
	}
	for _, it := range items {
		if it.ProductID != 0 {
			ps := a.ProductSales[it.ProductID]
			ps.QuantitySold += it.Quantity
			ps.RevenueCents += it.Quantity * it.PriceCents
			a.ProductSales[it.ProductID] = ps
		}
		if o, live := orders[it.OrderID]; live && it.OrderID != 0 {
			w := a.Windows[windowStart(o.CreatedAt)]
			w.ItemsSold += it.Quantity
			a.Windows[windowStart(o.CreatedAt)] = w
		}
	}
	a.Summary.UniqueCustomers = int64(len(a.CustomerMetrics))
	a.Summary.UniqueProductsSold = int64(len(a.ProductSales))

	for id, ps := range a.ProductSales {
		a.TopProducts = append(a.TopProducts, RankedProduct{ProductID: id, ProductSales: ps})
	}
	sort.Slice(a.TopProducts, func(i, j int) bool {
		x, y := a.TopProducts[i], a.TopProducts[j]
		if x.RevenueCents != y.RevenueCents {
			return x.RevenueCents > y.RevenueCents
		}
		return x.ProductID < y.ProductID
	})
	if len(a.TopProducts) > TopN {
		a.TopProducts = a.TopProducts[:TopN]
	}
	for id, cm := range a.CustomerMetrics {
		a.TopCustomers = append(a.TopCustomers, RankedCustomer{CustomerID: id, CustomerMetrics: cm})
	}
	sort.Slice(a.TopCustomers, func(i, j int) bool {
		x, y := a.TopCustomers[i], a.TopCustomers[j]
		if x.TotalSpentCents != y.TotalSpentCents {
			return x.TotalSpentCents > y.TotalSpentCents
		}
		return x.CustomerID < y.CustomerID
	})
	if len(a.TopCustomers) > TopN {
		a.TopCustomers = a.TopCustomers[:TopN]
	}
	return a
}

// windowStart is the start, in Unix seconds, of the 5-minute window of a
// created_at in Unix microseconds.
func windowStart(createdAtUs int64) int64 {
	sec := createdAtUs / 1_000_000
	if createdAtUs < 0 && createdAtUs%1_000_000 != 0 {
		sec-- // floor, not truncation, before 1970
	}
	w := sec / WindowSeconds * WindowSeconds
	if sec < 0 && sec%WindowSeconds != 0 {
		w -= WindowSeconds
	}
	return w
}

// SearchDoc is the search-indexer's document of one live product.
type SearchDoc struct {
	ProductID   int64
	Name        string
	NameLower   string
	Description string
	PriceCents  int64
	Stock       int64    // the row's stock_quantity
	Tokens      []string // sorted, unique
}

// ExpectSearch replays the products table in commit order and returns one
// document per live product.
func ExpectSearch(changes []shopsim.Change) map[int64]SearchDoc {
	products := map[int64]debezium.Product{}
	for i, c := range changes {
		if c.Table != debezium.TableProducts {
			continue
		}
		switch c.Op {
		case debezium.OpRead, debezium.OpCreate, debezium.OpUpdate:
			p := productImage(i, c, c.After)
			products[p.ID] = *p
		case debezium.OpDelete:
			delete(products, c.ID)
		}
	}
	docs := map[int64]SearchDoc{}
	for id, p := range products {
		docs[id] = SearchDoc{
			ProductID:   id,
			Name:        p.Name,
			NameLower:   strings.ToLower(p.Name),
			Description: p.Description,
			PriceCents:  p.PriceCents,
			Stock:       p.StockQuantity,
			Tokens:      tokens(p.Name + " " + p.Description),
		}
	}
	return docs
}

// tokens returns the sorted unique lower-cased runs of word characters of
// text, as Python's re.findall(r"\w+", text.lower()).
//
// A word character is what Python's str-pattern \w matches: a letter
// (Lu, Ll, Lt, Lm, Lo), a digit or other number (Nd, Nl, No), or '_'.
// Combining marks (Mn, Mc, Me) are not, so a decomposed "e\u0301" splits a
// word. Lower-casing is Go's per-rune simple mapping; it differs from
// Python's str.lower only for U+0130 and a word-final capital sigma, which
// the generator never writes.
func tokens(text string) []string {
	set := map[string]bool{}
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			set[string(cur)] = true
			cur = cur[:0]
		}
	}
	for _, r := range text {
		if isWordRune(r) {
			cur = append(cur, unicode.ToLower(r))
		} else {
			flush()
		}
	}
	flush()
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func isWordRune(r rune) bool {
	if r == '_' {
		return true
	}
	return unicode.In(r,
		unicode.Lu, unicode.Ll, unicode.Lt, unicode.Lm, unicode.Lo,
		unicode.Nd, unicode.Nl, unicode.No)
}

// ---- typed row images ----

func productImage(i int, c shopsim.Change, row any) *debezium.Product {
	p, ok := row.(*debezium.Product)
	if !ok || p == nil {
		panic(badImage(i, c))
	}
	return p
}

func orderImage(i int, c shopsim.Change, row any) *debezium.Order {
	o, ok := row.(*debezium.Order)
	if !ok || o == nil {
		panic(badImage(i, c))
	}
	return o
}

func itemImage(i int, c shopsim.Change, row any) *debezium.OrderItem {
	it, ok := row.(*debezium.OrderItem)
	if !ok || it == nil {
		panic(badImage(i, c))
	}
	return it
}

func badImage(i int, c shopsim.Change) string {
	return fmt.Sprintf("shopsim oracle: change %d (%s %c id=%d lsn=%d) lacks the row image its op needs (before %T, after %T)",
		i, c.Table, c.Op, c.ID, c.Src.LSN, c.Before, c.After)
}
