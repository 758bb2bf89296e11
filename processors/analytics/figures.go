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
	Statuses  map[string]int64        // live orders by status
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
		Statuses:  map[string]int64{},
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
	day := Day(o.CreatedAt)
	addSales(f.Days, day, Sales{sign, sign * o.TotalCents})
	addSales(f.Customers, o.CustomerID, Sales{sign, sign * o.TotalCents})
	if n := f.Statuses[o.Status] + sign; n != 0 {
		f.Statuses[o.Status] = n
	} else {
		delete(f.Statuses, o.Status)
	}
	w := WindowStart(o.CreatedAt)
	ws := f.Windows[w]
	ws.Orders += sign
	ws.Cents += sign * o.TotalCents
	ws.Items += sign * o.ItemsQty
	f.Windows[w] = ws
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
	p := f.Products[l.ProductID]
	p.Quantity += sign * l.Quantity
	p.RevenueCents += sign * l.Quantity * l.PriceCents
	p.Lines += sign
	if p == (ProductTotals{}) {
		delete(f.Products, l.ProductID)
	} else {
		f.Products[l.ProductID] = p
	}
}

func addSales[K comparable](m map[K]Sales, k K, d Sales) {
	s := m[k]
	s.Orders += d.Orders
	s.Cents += d.Cents
	if s == (Sales{}) {
		delete(m, k)
	} else {
		m[k] = s
	}
}

// Merge adds g's figures to f.
func (f *Figures) Merge(g *Figures) {
	for k, s := range g.Days {
		addSales(f.Days, k, s)
	}
	for k, s := range g.Customers {
		addSales(f.Customers, k, s)
	}
	for k, n := range g.Statuses {
		if n += f.Statuses[k]; n != 0 {
			f.Statuses[k] = n
		} else {
			delete(f.Statuses, k)
		}
	}
	for k, w := range g.Windows {
		ws := f.Windows[k]
		ws.Orders += w.Orders
		ws.Cents += w.Cents
		ws.Items += w.Items
		f.Windows[k] = ws
	}
	for k, p := range g.Products {
		q := f.Products[k]
		q.Quantity += p.Quantity
		q.RevenueCents += p.RevenueCents
		q.Lines += p.Lines
		if q == (ProductTotals{}) {
			delete(f.Products, k)
		} else {
			f.Products[k] = q
		}
	}
}
