package analytics

import (
	"fmt"
	"maps"
	"testing"

	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// TestMatchesTheOracle runs simulated shop traffic, with connector
// re-sends and the two topics interleaved at random, through the processor
// and compares the reports with the oracle's replay in commit order.
func TestMatchesTheOracle(t *testing.T) {
	cases := []struct {
		name  string
		opts  dbzenc.EncodeOptions
		noLSN bool
	}{
		{"envelope", dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope}, false},
		{"envelope-noschema-string-decimals", dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelopeNoSchema, Decimal: dbzenc.DecimalString}, false},
		{"flat-without-lsn", dbzenc.EncodeOptions{Format: dbzenc.FormatFlat}, true},
		{"flat-noschema-numeric-with-sequence", dbzenc.EncodeOptions{Format: dbzenc.FormatFlatNoSchema, Decimal: dbzenc.DecimalNumeric, FlatSequence: true}, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seed := uint64(7 + i)
			changes := shopsim.New(shopsim.Config{Seed: seed, Products: 40, Customers: 60}).Generate(2500)
			if c.noLSN {
				for j := range changes {
					changes[j].Src.LSN = 0
				}
			}
			recs, err := shopsim.Encode(changes, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			recs = shopsim.WithReplays(recs, seed, shopsim.Replay{Every: 80, Back: 30})

			tt, view := testerTable(t)
			for _, r := range recs {
				if r.Topic != string(ordersTopic) && r.Topic != string(itemsTopic) {
					continue // products: not an input of the analytics
				}
				var v interface{}
				if r.Value != nil {
					v = r.Value
				}
				tt.Consume(r.Topic, string(r.Key), v)
			}
			compare(t, snapshot(t, view), oracle.ExpectAnalytics(changes))
		})
	}
}

func compare(t *testing.T, s *Snapshot, want oracle.Analytics) {
	t.Helper()
	days := map[string]oracle.DaySales{}
	for _, d := range s.Days {
		days[d.Day] = oracle.DaySales{TotalCents: d.TotalCents, OrderCount: d.OrderCount}
	}
	if !maps.Equal(days, want.DailySales) {
		t.Errorf("daily sales\n got %v\nwant %v", days, want.DailySales)
	}
	products := map[int64]oracle.ProductSales{}
	for _, p := range s.Products {
		products[p.ProductID] = oracle.ProductSales{QuantitySold: p.QuantitySold, RevenueCents: p.RevenueCents}
	}
	maps.DeleteFunc(want.ProductSales, func(_ int64, p oracle.ProductSales) bool { return p == oracle.ProductSales{} })
	maps.DeleteFunc(products, func(_ int64, p oracle.ProductSales) bool { return p == oracle.ProductSales{} })
	if !maps.Equal(products, want.ProductSales) {
		t.Errorf("product sales\n got %v\nwant %v", products, want.ProductSales)
	}
	customers := map[int64]oracle.CustomerMetrics{}
	for _, c := range s.Customers {
		customers[c.CustomerID] = oracle.CustomerMetrics{OrderCount: c.OrderCount, TotalSpentCents: c.TotalSpentCents}
	}
	if !maps.Equal(customers, want.CustomerMetrics) {
		t.Errorf("customer metrics\n got %v\nwant %v", customers, want.CustomerMetrics)
	}
	statuses := map[string]int64{}
	for _, st := range s.Statuses {
		statuses[st.Status] = st.Count
	}
	if !maps.Equal(statuses, want.OrderStatus) {
		t.Errorf("order status\n got %v\nwant %v", statuses, want.OrderStatus)
	}
	windows := map[int64]oracle.Window{}
	for _, w := range s.Windows {
		if !w.IsZero() {
			windows[w.Start] = oracle.Window{Orders: w.Orders, RevenueCents: w.RevenueCents, ItemsSold: w.ItemsSold}
		}
	}
	if !maps.Equal(windows, want.Windows) {
		t.Errorf("windows\n got %v\nwant %v", windows, want.Windows)
	}

	var top []string
	for _, m := range s.ProductSalesReport(now).Data {
		top = append(top, m.Key)
	}
	var wantTop []string
	for _, p := range want.TopProducts {
		if p.ProductSales != (oracle.ProductSales{}) {
			wantTop = append(wantTop, fmt.Sprint(p.ProductID))
		}
	}
	if fmt.Sprint(top) != fmt.Sprint(wantTop) {
		t.Errorf("top products\n got %v\nwant %v", top, wantTop)
	}
	top = nil
	for _, m := range s.CustomerMetricsReport(now).Data {
		top = append(top, m.Key)
	}
	wantTop = nil
	for _, c := range want.TopCustomers {
		wantTop = append(wantTop, fmt.Sprint(c.CustomerID))
	}
	if fmt.Sprint(top) != fmt.Sprint(wantTop) {
		t.Errorf("top customers\n got %v\nwant %v", top, wantTop)
	}

	sum := s.SummaryReport(now).Metrics
	ws := want.Summary
	if sum.TotalOrders != ws.TotalOrders || string(sum.TotalRevenue) != fmt.Sprintf("%d.%02d", ws.TotalRevenueCents/100, ws.TotalRevenueCents%100) ||
		sum.UniqueCustomers != ws.UniqueCustomers || sum.UniqueProductsSold != ws.UniqueProductsSold {
		t.Errorf("summary %+v, want %+v", sum, ws)
	}
	if len(want.DailySales) == 0 || len(want.Windows) == 0 || ws.TotalOrders == 0 {
		t.Fatal("the simulation produced no live orders: the comparison proves nothing")
	}
}
