package search

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/processors/search"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

func newServer(t *testing.T) (*httptest.Server, *Index) {
	t.Helper()
	ix := New(nil)
	srv := httpapi.New(prometheus.NewRegistry())
	Routes(srv, ix)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, ix
}

func get(t *testing.T, ts *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestSearchRoute(t *testing.T) {
	ts, ix := newServer(t)
	ix.Apply(search.Key(1), &search.Doc{Live: true, Rev: 1, Name: "Gaming Laptop", Description: "fast", PriceCents: 129999, Stock: 25})
	ix.Apply(search.Key(2), &search.Doc{Live: true, Rev: 1, Name: "Laptop Bag", Description: "", PriceCents: 1250, Stock: 7})
	ix.Apply(search.Key(3), &search.Doc{Live: true, Rev: 1, Name: "Laptop Stand", Description: "", PriceCents: 1200, Stock: 0})

	code, body := get(t, ts, "/v1/search?q=laptop&min_price=12.50&max_price=1299.99")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	// Money is an exact two-decimal JSON number: check the raw text.
	if !strings.Contains(body, `"price": 1299.99,`) || !strings.Contains(body, `"price": 12.50,`) {
		t.Fatalf("prices not rendered as two-decimal numbers: %s", body)
	}
	var resp struct {
		Results []map[string]json.RawMessage `json:"results"`
		Total   int                          `json:"total"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Total != 2 || len(resp.Results) != 2 {
		t.Fatalf("total %d, %d results: %s", resp.Total, len(resp.Results), body)
	}
	for _, field := range []string{"product_id", "name", "description", "price", "price_cents", "stock_quantity", "score"} {
		if _, ok := resp.Results[0][field]; !ok {
			t.Errorf("result lacks %q: %s", field, body)
		}
	}
	if string(resp.Results[0]["price_cents"]) != "1250" && string(resp.Results[0]["price_cents"]) != "129999" {
		t.Errorf("price_cents %s", resp.Results[0]["price_cents"])
	}

	code, body = get(t, ts, "/v1/search?q=laptop&limit=1")
	if code != http.StatusOK || !strings.Contains(body, `"total": 3`) || strings.Count(body, `"product_id"`) != 1 {
		t.Fatalf("limit=1: %d %s", code, body)
	}
	code, body = get(t, ts, "/v1/search?q=nothing+here")
	if code != http.StatusOK || !strings.Contains(body, `"results": []`) || !strings.Contains(body, `"total": 0`) {
		t.Fatalf("no match: %d %s", code, body)
	}
	code, _ = get(t, ts, "/v1/search?q=laptop&limit=500")
	if code != http.StatusOK {
		t.Fatalf("limit above max should be capped, got %d", code)
	}
	for _, path := range []string{
		"/v1/search", "/v1/search?q=", "/v1/search?q=%20%20",
		"/v1/search?q=x&limit=0", "/v1/search?q=x&limit=ten",
		"/v1/search?q=x&min_price=abc", "/v1/search?q=x&max_price=-1", "/v1/search?q=x&min_price=1.005",
		"/v1/search?q=x&max_price=1e3",
	} {
		if code, body := get(t, ts, path); code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s, want 400", path, code, body)
		}
	}
}

func TestProductRoute(t *testing.T) {
	ts, ix := newServer(t)
	ix.Apply(search.Key(42), &search.Doc{Live: true, Rev: 1, Name: "Crème Brûlée", Description: "Dessert", PriceCents: 650, Stock: 3, CDCTsMs: 1736931600123})
	code, body := get(t, ts, "/v1/products/42")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if p["product_id"] != 42.0 || p["name"] != "Crème Brûlée" || !strings.Contains(body, `"price": 6.50`) ||
		p["price_cents"] != 650.0 || p["stock_quantity"] != 3.0 || p["indexed_at"] != "2025-01-15T09:00:00Z" {
		t.Fatalf("product: %s", body)
	}
	if toks, _ := p["search_tokens"].([]any); len(toks) != 3 || toks[0] != "brûlée" || toks[1] != "crème" || toks[2] != "dessert" {
		t.Fatalf("search_tokens: %v", p["search_tokens"])
	}
	ix.Apply(search.Key(43), &search.Doc{Deleted: true, Rev: 2})
	for path, want := range map[string]int{"/v1/products/43": 404, "/v1/products/7": 404, "/v1/products/abc": 400, "/v1/products/0": 400} {
		if code, _ := get(t, ts, path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
}

func TestParseCents(t *testing.T) {
	ok := map[string]int64{"0": 0, "12": 1200, "12.5": 1250, "12.50": 1250, "12.05": 1205, "0.01": 1, ".5": 50,
		"1299.99": 129999, "12.500": 1250, "007": 700, "999999999999999.99": 99999999999999999}
	for in, want := range ok {
		if got, err := ParseCents(in); err != nil || got != want {
			t.Errorf("ParseCents(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "12.", "-1", "+1", "1,5", "1.2.3", "12.345", "1e3", "abc", " 1", "1 ", "NaN", "1234567890123456"} {
		if got, err := ParseCents(in); err == nil {
			t.Errorf("ParseCents(%q) = %d, want an error", in, got)
		}
	}
}
