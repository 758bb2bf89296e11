// Package analytics builds the analytics reports of the contract (§3) from
// the analytics group table, and serves them over HTTP:
// GET /v1/reports/{daily_sales|product_sales|customer_metrics|order_status|summary}
// and GET /v1/reports/windows?date=YYYY-MM-DD. The S3 sink writes the same
// documents.
//
// The table holds orders and lines; a Fold wrapped around the storage of a
// Goka view of it keeps each partition's figures as the changelog brings
// the entities, and sums the partitions when a report is read.
package analytics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/codecs/money"
	"github.com/cdcflow/cdcflow/processors/analytics"
)

// Source is where the reports come from (satisfied by *Fold).
type Source interface {
	// Snapshot returns the figures as they are now.
	Snapshot() (*Snapshot, error)
}

// Names of the periodic reports.
const (
	DailySales      = "daily_sales"
	ProductSales    = "product_sales"
	CustomerMetrics = "customer_metrics"
	OrderStatus     = "order_status"
	Summary         = "summary"
)

// ReportNames returns the names of the periodic reports, in the order the
// S3 sink writes them.
func ReportNames() []string {
	return []string{DailySales, ProductSales, CustomerMetrics, OrderStatus, Summary}
}

// TopN is the length of the product and customer rankings.
const TopN = 100

// TimeLayout renders generated_at: ISO-8601 UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// ErrUnknownReport is returned for a report name not in ReportNames.
var ErrUnknownReport = errors.New("unknown report")

// DayFigures is the sales of one UTC day.
type DayFigures struct {
	Day        string // "2025-01-15"
	TotalCents int64
	OrderCount int64
}

// ProductFigures is one product's sales over the live lines.
type ProductFigures struct {
	ProductID    int64
	QuantitySold int64
	RevenueCents int64
	LiveLines    int64
}

// CustomerFigures is one customer's figures over their live orders.
type CustomerFigures struct {
	CustomerID      int64
	OrderCount      int64
	TotalSpentCents int64
}

// StatusFigures is the number of live orders in one status.
type StatusFigures struct {
	Status string
	Count  int64
}

// WindowFigures is one 5-minute window of order creation time.
type WindowFigures struct {
	Start        int64 // Unix seconds
	Orders       int64
	RevenueCents int64
	ItemsSold    int64
}

// IsZero reports whether nothing live counts in the window.
func (w WindowFigures) IsZero() bool { return w.Orders == 0 && w.RevenueCents == 0 && w.ItemsSold == 0 }

// Snapshot is the figures of the table read at one moment. Days,
// products, customers and statuses hold only non-zero figures; Windows
// holds every window the table knows, including those whose orders are all
// gone (so a sink can overwrite what it wrote before).
type Snapshot struct {
	Days      []DayFigures      // by day
	Products  []ProductFigures  // by revenue desc, then id asc
	Customers []CustomerFigures // by total spent desc, then id asc
	Statuses  []StatusFigures   // by status
	Windows   []WindowFigures   // by start
}

// SnapshotOf returns the snapshot of a table's figures.
func SnapshotOf(f *analytics.Figures) *Snapshot {
	s := &Snapshot{
		Days:      make([]DayFigures, 0, len(f.Days)),
		Products:  make([]ProductFigures, 0, len(f.Products)),
		Customers: make([]CustomerFigures, 0, len(f.Customers)),
		Statuses:  make([]StatusFigures, 0, len(f.Statuses)),
		Windows:   make([]WindowFigures, 0, len(f.Windows)),
	}
	for day, x := range f.Days {
		s.Days = append(s.Days, DayFigures{day, x.Cents, x.Orders})
	}
	for id, x := range f.Products {
		s.Products = append(s.Products, ProductFigures{id, x.Quantity, x.RevenueCents, x.Lines})
	}
	for id, x := range f.Customers {
		s.Customers = append(s.Customers, CustomerFigures{id, x.Orders, x.Cents})
	}
	for status, n := range f.Statuses {
		s.Statuses = append(s.Statuses, StatusFigures{status, int64(n)})
	}
	for start, x := range f.Windows {
		s.Windows = append(s.Windows, WindowFigures{start, x.Orders, x.Cents, x.Items})
	}
	s.sort()
	return s
}

func (s *Snapshot) sort() {
	sort.Slice(s.Days, func(i, j int) bool { return s.Days[i].Day < s.Days[j].Day })
	sort.Slice(s.Products, func(i, j int) bool {
		x, y := s.Products[i], s.Products[j]
		if x.RevenueCents != y.RevenueCents {
			return x.RevenueCents > y.RevenueCents
		}
		return x.ProductID < y.ProductID
	})
	sort.Slice(s.Customers, func(i, j int) bool {
		x, y := s.Customers[i], s.Customers[j]
		if x.TotalSpentCents != y.TotalSpentCents {
			return x.TotalSpentCents > y.TotalSpentCents
		}
		return x.CustomerID < y.CustomerID
	})
	sort.Slice(s.Statuses, func(i, j int) bool { return s.Statuses[i].Status < s.Statuses[j].Status })
	sort.Slice(s.Windows, func(i, j int) bool { return s.Windows[i].Start < s.Windows[j].Start })
}

// Object is a JSON object whose members keep their order (Python's dicts
// do: the rankings come out best first).
type Object []Member

// Member is one key and value of an Object.
type Member struct {
	Key   string
	Value any
}

// MarshalJSON implements json.Marshaler.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, fmt.Errorf("object key %q: %w", m.Key, err)
		}
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, fmt.Errorf("object member %q: %w", m.Key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Report is a periodic report other than the summary.
type Report struct {
	ReportType  string `json:"report_type"`
	GeneratedAt string `json:"generated_at"`
	Data        Object `json:"data"`
}

// SummaryReport is the summary report.
type SummaryReport struct {
	ReportType  string         `json:"report_type"`
	GeneratedAt string         `json:"generated_at"`
	Metrics     SummaryMetrics `json:"metrics"`
}

// SummaryMetrics are the figures of the summary.
type SummaryMetrics struct {
	TotalOrders          int64       `json:"total_orders"`
	TotalRevenue         json.Number `json:"total_revenue"`
	UniqueCustomers      int64       `json:"unique_customers"`
	UniqueProductsSold   int64       `json:"unique_products_sold"`
	OrderStatusBreakdown Object      `json:"order_status_breakdown"`
}

// DaySales is a day of the daily_sales report.
type DaySales struct {
	TotalAmount json.Number `json:"total_amount"`
	OrderCount  int64       `json:"order_count"`
}

// ProductSalesEntry is a product of the product_sales report.
type ProductSalesEntry struct {
	QuantitySold int64       `json:"quantity_sold"`
	TotalRevenue json.Number `json:"total_revenue"`
}

// CustomerEntry is a customer of the customer_metrics report.
type CustomerEntry struct {
	OrderCount int64       `json:"order_count"`
	TotalSpent json.Number `json:"total_spent"`
}

// WindowReport is the document of one window.
type WindowReport struct {
	WindowStart string      `json:"window_start"`
	WindowEnd   string      `json:"window_end"`
	Orders      int64       `json:"orders"`
	Revenue     json.Number `json:"revenue"`
	ItemsSold   int64       `json:"items_sold"`
}

func stamp(now time.Time) string { return now.UTC().Format(TimeLayout) }

// DailySalesReport is the daily_sales report.
func (s *Snapshot) DailySalesReport(now time.Time) Report {
	data := make(Object, 0, len(s.Days))
	for _, d := range s.Days {
		data = append(data, Member{d.Day, DaySales{money.Number(d.TotalCents), d.OrderCount}})
	}
	return Report{DailySales, stamp(now), data}
}

// ProductSalesReport is the product_sales report: the top TopN products by
// revenue.
func (s *Snapshot) ProductSalesReport(now time.Time) Report {
	top := s.Products[:min(len(s.Products), TopN)]
	data := make(Object, 0, len(top))
	for _, p := range top {
		data = append(data, Member{strconv.FormatInt(p.ProductID, 10),
			ProductSalesEntry{p.QuantitySold, money.Number(p.RevenueCents)}})
	}
	return Report{ProductSales, stamp(now), data}
}

// CustomerMetricsReport is the customer_metrics report: the top TopN
// customers by total spent.
func (s *Snapshot) CustomerMetricsReport(now time.Time) Report {
	top := s.Customers[:min(len(s.Customers), TopN)]
	data := make(Object, 0, len(top))
	for _, c := range top {
		data = append(data, Member{strconv.FormatInt(c.CustomerID, 10),
			CustomerEntry{c.OrderCount, money.Number(c.TotalSpentCents)}})
	}
	return Report{CustomerMetrics, stamp(now), data}
}

// OrderStatusReport is the order_status report.
func (s *Snapshot) OrderStatusReport(now time.Time) Report {
	return Report{OrderStatus, stamp(now), s.statusObject()}
}

func (s *Snapshot) statusObject() Object {
	data := make(Object, 0, len(s.Statuses))
	for _, st := range s.Statuses {
		data = append(data, Member{st.Status, st.Count})
	}
	return data
}

// SummaryReport is the summary report: total_orders is the number of live
// orders (the sum over statuses), total_revenue the sum of their totals
// (over days), unique_customers the customers with a live order,
// unique_products_sold the products with a live line.
func (s *Snapshot) SummaryReport(now time.Time) SummaryReport {
	m := SummaryMetrics{OrderStatusBreakdown: s.statusObject()}
	for _, st := range s.Statuses {
		m.TotalOrders += st.Count
	}
	var revenue int64
	for _, d := range s.Days {
		revenue += d.TotalCents
	}
	m.TotalRevenue = money.Number(revenue)
	for _, c := range s.Customers {
		if c.OrderCount > 0 {
			m.UniqueCustomers++
		}
	}
	for _, p := range s.Products {
		if p.LiveLines > 0 {
			m.UniqueProductsSold++
		}
	}
	return SummaryReport{Summary, stamp(now), m}
}

// Report returns the named report (one of ReportNames), or
// ErrUnknownReport.
func (s *Snapshot) Report(name string, now time.Time) (any, error) {
	switch name {
	case DailySales:
		return s.DailySalesReport(now), nil
	case ProductSales:
		return s.ProductSalesReport(now), nil
	case CustomerMetrics:
		return s.CustomerMetricsReport(now), nil
	case OrderStatus:
		return s.OrderStatusReport(now), nil
	case Summary:
		return s.SummaryReport(now), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownReport, name)
}

// Document renders a window.
func (w WindowFigures) Document() WindowReport {
	start := time.Unix(w.Start, 0).UTC()
	return WindowReport{
		WindowStart: start.Format(time.RFC3339),
		WindowEnd:   start.Add(analytics.WindowSeconds * time.Second).Format(time.RFC3339),
		Orders:      w.Orders,
		Revenue:     money.Number(w.RevenueCents),
		ItemsSold:   w.ItemsSold,
	}
}

// Day is the UTC day ("2025-01-15") of the window's start.
func (w WindowFigures) Day() string { return time.Unix(w.Start, 0).UTC().Format(analytics.DayLayout) }

// WindowsOn returns the non-empty windows starting on a UTC day, in order.
func (s *Snapshot) WindowsOn(day string) []WindowReport {
	out := []WindowReport{}
	for _, w := range s.Windows {
		if !w.IsZero() && w.Day() == day {
			out = append(out, w.Document())
		}
	}
	return out
}

// ParseDay checks a "YYYY-MM-DD" day.
func ParseDay(s string) (string, error) {
	t, err := time.Parse(analytics.DayLayout, strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("date must be YYYY-MM-DD: %w", err)
	}
	return t.Format(analytics.DayLayout), nil
}
