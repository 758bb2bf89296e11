package analytics

// Figures are the sales figures over a set of orders and lines: the sums
// the reports show. They are a function of the entities' current states
// alone (no entity sends them anything), so whoever holds some of the
// table's orders and lines can fold them in any order and add the results:
// a view keeps one Figures per table partition, as the entities arrive in
// the changelog, and sums the partitions when it is read.
//
// A live order counts in its day, customer, status and window (with the
// quantity of its live lines); a live line counts in its product. Entries
// whose figures come back to zero are dropped, except windows: a window
// once known stays, emptied, so that a report written for it earlier is
// overwritten.
type Figures struct {
	Days      map[string]Sales        // by Day
	Customers map[int64]Sales         // by customer id
	Statuses  map[string]Count        // live orders by status
	Windows   map[int64]WindowSales   // by WindowStart
	Products  map[int64]ProductTotals // by product id
}

// Sales are a number of orders and their total.
type Sales struct {
	Orders int64
	Cents  int64
}

// WindowSales are the figures of one 5-minute window.
type WindowSales struct {
	Orders int64
	Cents  int64
	Items  int64 // Σ quantity of the live lines of the window's live orders
}

// ProductTotals are one product's sales over the live lines.
type ProductTotals struct {
	Quantity     int64
	RevenueCents int64 // Σ quantity × line price
	Lines        int64
}

// NewFigures returns empty figures.
func NewFigures() *Figures {
	return &Figures{
		Days:      map[string]Sales{},
		Customers: map[int64]Sales{},
		Statuses:  map[string]Count{},
		Windows:   map[int64]WindowSales{},
		Products:  map[int64]ProductTotals{},
	}
}

// Add adds the contribution of a table value (*Order or *Line), times
// sign (+1 to count it, -1 to withdraw it). Values of other types count
// nothing.
func (f *Figures) Add(v any, sign int64) {
	switch x := v.(type) {
	case *Order:
		f.addOrder(x, sign)
	case *Line:
		f.addLine(x, sign)
	}
}

func (f *Figures) addOrder(o *Order, sign int64) {
	for _, w := range o.LeftWindows {
		f.knowWindow(w) // emptied by a move of created_at
	}
	if !o.Live {
		if o.CreatedAt != 0 {
			f.knowWindow(WindowStart(o.CreatedAt)) // a deleted order leaves its window known
		}
		return
	}
	sales := Sales{sign, sign * o.TotalCents}
	addNonZero(f.Days, Day(o.CreatedAt), sales)
	addNonZero(f.Customers, o.CustomerID, sales)
	addNonZero(f.Statuses, o.Status, Count(sign))
	w := WindowStart(o.CreatedAt)
	f.Windows[w] = f.Windows[w].plus(WindowSales{sign, sign * o.TotalCents, sign * o.ItemsQty})
}

func (f *Figures) knowWindow(w int64) {
	if _, ok := f.Windows[w]; !ok {
		f.Windows[w] = WindowSales{}
	}
}

func (f *Figures) addLine(l *Line, sign int64) {
	if !l.Live || l.ProductID == 0 {
		return // a NULL product counts for no product
	}
	addNonZero(f.Products, l.ProductID, ProductTotals{sign * l.Quantity, sign * l.Quantity * l.PriceCents, sign})
}

// summable are the figure types: added field by field.
type summable[V any] interface {
	comparable
	plus(V) V
}

// addNonZero adds d to m[k] and drops the entry when it comes back to zero.
func addNonZero[K comparable, V summable[V]](m map[K]V, k K, d V) {
	var zero V
	if v := m[k].plus(d); v != zero {
		m[k] = v
	} else {
		delete(m, k)
	}
}

// Count is a number of live orders.
type Count int64

func (c Count) plus(d Count) Count { return c + d }

func (s Sales) plus(d Sales) Sales { return Sales{s.Orders + d.Orders, s.Cents + d.Cents} }

func (w WindowSales) plus(d WindowSales) WindowSales {
	return WindowSales{w.Orders + d.Orders, w.Cents + d.Cents, w.Items + d.Items}
}

func (p ProductTotals) plus(d ProductTotals) ProductTotals {
	return ProductTotals{p.Quantity + d.Quantity, p.RevenueCents + d.RevenueCents, p.Lines + d.Lines}
}

// Merge adds g's figures to f.
func (f *Figures) Merge(g *Figures) {
	for k, s := range g.Days {
		addNonZero(f.Days, k, s)
	}
	for k, s := range g.Customers {
		addNonZero(f.Customers, k, s)
	}
	for k, n := range g.Statuses {
		addNonZero(f.Statuses, k, n)
	}
	for k, w := range g.Windows {
		f.Windows[k] = f.Windows[k].plus(w) // kept when zero: known
	}
	for k, p := range g.Products {
		addNonZero(f.Products, k, p)
	}
}
