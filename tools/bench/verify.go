package bench

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/processors/analytics"
	"github.com/cdcflow/cdcflow/processors/inventory"
	"github.com/cdcflow/cdcflow/processors/search"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
	anviews "github.com/cdcflow/cdcflow/views/analytics"
)

// readTable reads a group table's changelog topic to its end and returns
// the newest value of every key (a deleted key is absent).
func (p *probe) readTable(ctx context.Context, topic string) (map[string][]byte, error) {
	counts, err := p.partitionCounts(topic)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return nil, fmt.Errorf("table reader: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out := map[string][]byte{}
	var n int64
	for n < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %d of %d records of %s: %w", n, total, topic, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return nil, fmt.Errorf("read %s: %v", topic, errs[0].Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if r.Value == nil {
				delete(out, string(r.Key))
				return
			}
			out[string(r.Key)] = r.Value
		})
	}
	return out, nil
}

// verifyTable compares the service's converged group table, read from its
// changelog in Kafka, with the oracle: every live product's available
// stock (inventory), every live document's name, price and stock
// (search), the aggregates as the report view reads them (analytics).
// Unlike the sink checks it needs no sink, and it reads what every
// instance of the group wrote together.
func verifyTable(ctx context.Context, p *probe, service, group string, changes []shopsim.Change) string {
	table, err := p.readTable(ctx, string(goka.GroupTable(goka.Group(group))))
	if err != nil {
		return "table read failed: " + err.Error()
	}
	switch service {
	case "inventory-service":
		return verifyInventoryTable(table, oracle.ExpectInventory(changes))
	case "search-indexer":
		return verifySearchTable(table, oracle.ExpectSearch(changes))
	case "analytics-service":
		return verifyAnalyticsTable(table, oracle.ExpectAnalytics(changes))
	}
	return "-"
}

func verifyInventoryTable(table map[string][]byte, want map[int64]oracle.InventoryItem) string {
	got := map[int64]int64{}
	for k, v := range table {
		id, ok := inventory.ParseProductKey(k)
		if !ok {
			continue
		}
		x, err := inventory.TableCodec{}.Decode(v)
		if err != nil {
			return fmt.Sprintf("MISMATCH: %s does not decode: %v", k, err)
		}
		if pr, ok := x.(*inventory.Product); ok && pr.Live {
			got[id] = pr.Available()
		}
	}
	bad := 0
	for id, w := range want {
		if s, ok := got[id]; !ok || s != w.Stock {
			bad++
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Sprintf("MISMATCH: %d of %d products' stock in the group table differ from the oracle", bad, len(want))
	}
	return fmt.Sprintf("%d products' stock in the group table = oracle", len(want))
}

func verifySearchTable(table map[string][]byte, want map[int64]oracle.SearchDoc) string {
	bad, live := 0, map[int64]bool{}
	for k, v := range table {
		id, ok := search.ParseKey(k)
		if !ok {
			continue
		}
		d, err := search.DecodeDoc(v)
		if err != nil {
			return fmt.Sprintf("MISMATCH: %s does not decode: %v", k, err)
		}
		if !d.Live {
			continue
		}
		live[id] = true
		if w, ok := want[id]; !ok || w.Name != d.Name || w.PriceCents != d.PriceCents || w.Stock != d.Stock {
			bad++
		}
	}
	for id := range want {
		if !live[id] {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Sprintf("MISMATCH: %d of %d documents in the group table differ from the oracle", bad, len(want))
	}
	return fmt.Sprintf("%d documents in the group table = oracle", len(want))
}

func verifyAnalyticsTable(table map[string][]byte, want oracle.Analytics) string {
	figs := analytics.NewFigures()
	for k, v := range table {
		x, err := analytics.TableCodec{}.Decode(v)
		if err != nil {
			return fmt.Sprintf("MISMATCH: %s does not decode: %v", k, err)
		}
		figs.Add(x, +1)
	}
	s := anviews.SnapshotOf(figs)
	var diff []string
	days := map[string]oracle.DaySales{}
	for _, d := range s.Days {
		days[d.Day] = oracle.DaySales{TotalCents: d.TotalCents, OrderCount: d.OrderCount}
	}
	if !maps.Equal(days, want.DailySales) {
		diff = append(diff, "daily sales")
	}
	products := map[int64]oracle.ProductSales{}
	for _, p := range s.Products {
		if p.QuantitySold != 0 || p.RevenueCents != 0 {
			products[p.ProductID] = oracle.ProductSales{QuantitySold: p.QuantitySold, RevenueCents: p.RevenueCents}
		}
	}
	wantProducts := maps.Clone(want.ProductSales)
	maps.DeleteFunc(wantProducts, func(_ int64, p oracle.ProductSales) bool { return p == oracle.ProductSales{} })
	if !maps.Equal(products, wantProducts) {
		diff = append(diff, "product sales")
	}
	customers := map[int64]oracle.CustomerMetrics{}
	for _, c := range s.Customers {
		customers[c.CustomerID] = oracle.CustomerMetrics{OrderCount: c.OrderCount, TotalSpentCents: c.TotalSpentCents}
	}
	if !maps.Equal(customers, want.CustomerMetrics) {
		diff = append(diff, "customer metrics")
	}
	statuses := map[string]int64{}
	for _, st := range s.Statuses {
		statuses[st.Status] = st.Count
	}
	if !maps.Equal(statuses, want.OrderStatus) {
		diff = append(diff, "order status")
	}
	windows := map[int64]oracle.Window{}
	for _, w := range s.Windows {
		if !w.IsZero() {
			windows[w.Start] = oracle.Window{Orders: w.Orders, RevenueCents: w.RevenueCents, ItemsSold: w.ItemsSold}
		}
	}
	if !maps.Equal(windows, want.Windows) {
		diff = append(diff, "windows")
	}
	if len(diff) > 0 {
		return "MISMATCH: the group table's " + strings.Join(diff, ", ") + " differ from the oracle"
	}
	return fmt.Sprintf("%d days, %d products, %d customers, %d windows in the group table = oracle",
		len(days), len(products), len(customers), len(windows))
}
