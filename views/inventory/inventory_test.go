package inventory

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/processors/inventory"
	"github.com/cdcflow/cdcflow/testkit/gokatest"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// mapTable is a Table over a map.
type mapTable = gokatest.MapTable

func catalogue() mapTable {
	m := mapTable{}
	for i, p := range []struct {
		name  string
		stock int64
	}{{"Laptop", 5}, {"Mouse", 40}, {"Gaming Laptop", 5}, {"Keyboard", 12}, {"Gone", 1}} {
		id := int64(i + 1)
		m[inventory.ProductKey(id)] = &inventory.Product{Live: p.name != "Gone", Name: p.name, BaseStock: p.stock, PriceCents: 100 * id}
	}
	m[inventory.ItemKey(9)] = &inventory.Item{} // not a product: never listed
	return m
}

func ids(s []Stock) []int64 {
	out := make([]int64, 0, len(s))
	for _, x := range s {
		out = append(out, x.ProductID)
	}
	return out
}

func TestListPagesSortsAndFilters(t *testing.T) {
	tab := catalogue()
	for _, c := range []struct {
		q     Query
		want  []int64
		total int
	}{
		{Query{}, []int64{1, 3, 4, 2}, 4}, // stock ascending, ties by id; deleted product 5 left out
		{Query{Desc: true}, []int64{2, 4, 3, 1}, 4},
		{Query{Sort: SortName}, []int64{3, 4, 1, 2}, 4},
		{Query{Sort: SortID, Desc: true}, []int64{4, 3, 2, 1}, 4},
		{Query{Match: "LAPTOP"}, []int64{1, 3}, 2},
		{Query{Limit: 2, Offset: 1}, []int64{3, 4}, 4},
		{Query{Offset: 10}, []int64{}, 4},
	} {
		page, total, err := NewCatalogue(tab, 0).List(c.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(page); !slices.Equal(got, c.want) || total != c.total {
			t.Errorf("List(%+v) = %v of %d, want %v of %d", c.q, got, total, c.want, c.total)
		}
	}
}

func TestListRoute(t *testing.T) {
	srv := httpapi.New(prometheus.NewRegistry())
	Routes(srv, catalogue())
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	var body struct {
		Products []Stock `json:"products"`
		Total    int     `json:"total"`
		Limit    int     `json:"limit"`
	}
	resp, err := http.Get(ts.URL + "/v1/inventory?sort=name&order=desc&limit=2&q=o")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	// "o" matches Mouse, Keyboard, Laptop, Gaming Laptop; by name descending.
	if got := ids(body.Products); !slices.Equal(got, []int64{2, 1}) || body.Total != 4 || body.Limit != 2 {
		t.Errorf("page %v of %d (limit %d)", got, body.Total, body.Limit)
	}
	for _, bad := range []string{"sort=price", "order=up", "limit=0", "offset=-1", "limit=x"} {
		resp, err := http.Get(ts.URL + "/v1/inventory?" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s: %s, want 400", bad, resp.Status)
		}
	}
}

// BenchmarkCatalogue is what each open dashboard asks every second over
// 100,000 products, a page of the catalogue and the low-stock list: with
// every query scanning the view (scan), and answered from a shared scan
// (shared).
func BenchmarkCatalogue(b *testing.B) {
	tab := mapTable{}
	for i := int64(1); i <= 100_000; i++ {
		tab[inventory.ProductKey(i)] = &inventory.Product{Live: true, Name: fmt.Sprintf("Product %d", i), BaseStock: i % 97, PriceCents: 100 + i}
	}
	for _, c := range []struct {
		name   string
		maxAge time.Duration
	}{{"scan", 0}, {"shared", time.Hour}} {
		b.Run(c.name, func(b *testing.B) {
			cat := NewCatalogue(tab, c.maxAge)
			for b.Loop() {
				if _, _, err := cat.List(Query{Limit: 50}); err != nil {
					b.Fatal(err)
				}
				if _, err := cat.Below(10); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
