// Package inventory answers stock queries from a Goka view of the inventory
// group table: GET /v1/inventory/{product_id}, GET /v1/inventory?below=N
// and, without below, a page of the catalogue (GET /v1/inventory?q=&sort=&
// order=&limit=&offset=); and the latest low-stock alerts
// (GET /v1/alerts/low-stock).
package inventory

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/codecs/money"
	"github.com/cdcflow/cdcflow/processors/inventory"
	"github.com/cdcflow/cdcflow/views/httpapi"
	"github.com/cdcflow/cdcflow/views/tail"
)

// Table is what the queries need of a Goka view (satisfied by *goka.View).
type Table interface {
	Get(key string) (interface{}, error)
	Iterator() (goka.Iterator, error)
}

// Stock is the API's view of one product.
type Stock struct {
	ProductID     int64       `json:"product_id"`
	Name          string      `json:"name"`
	Description   string      `json:"description"`
	Price         json.Number `json:"price"`
	PriceCents    int64       `json:"price_cents"`
	StockQuantity int64       `json:"stock_quantity"`
	CDCTimestamp  int64       `json:"cdc_timestamp"`
	LastUpdated   string      `json:"last_updated"`
}

// FromState renders a live product's state; false for deleted or unknown.
func FromState(id int64, p *inventory.Product) (Stock, bool) {
	if p == nil || !p.Live {
		return Stock{}, false
	}
	return Stock{
		ProductID: id, Name: p.Name, Description: p.Description,
		Price: money.Number(p.PriceCents), PriceCents: p.PriceCents,
		StockQuantity: p.Available(), CDCTimestamp: p.CDCTsMs,
		LastUpdated: time.UnixMilli(p.CDCTsMs).UTC().Format(time.RFC3339),
	}, true
}

// Get returns a live product's stock.
func Get(t Table, id int64) (Stock, bool, error) {
	v, err := t.Get(inventory.ProductKey(id))
	if err != nil {
		return Stock{}, false, fmt.Errorf("inventory view: get %d: %w", id, err)
	}
	p, _ := v.(*inventory.Product)
	s, ok := FromState(id, p)
	return s, ok, nil
}

// Catalogue answers the catalogue queries (products below a stock, pages
// of the catalogue) from one scan of the view that it shares for maxAge,
// kept sorted by each order asked for: every open dashboard asks for a page
// and the low-stock list each second, and the scan and sort of a large view
// are the costly part (BenchmarkCatalogue).
type Catalogue struct {
	t      Table
	maxAge time.Duration

	mu     sync.Mutex // held while scanning: concurrent askers share one scan
	at     time.Time
	sorted map[string][]Stock // sort order → the live products in it; shared, never modified
}

// NewCatalogue returns a Catalogue of t whose scans serve for maxAge (0:
// every query scans).
func NewCatalogue(t Table, maxAge time.Duration) *Catalogue {
	return &Catalogue{t: t, maxAge: maxAge}
}

// ordered returns the live products in the order by (SortStock, SortName
// or SortID; ties by id), scanning the view when the last scan is older
// than maxAge.
func (c *Catalogue) ordered(by string) ([]Stock, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sorted == nil || time.Since(c.at) >= c.maxAge {
		all, err := live(c.t)
		if err != nil {
			return nil, err
		}
		c.sorted, c.at = map[string][]Stock{SortID: all}, time.Now() // the view iterates by key: not by id
		slices.SortFunc(all, func(a, b Stock) int { return cmp.Compare(a.ProductID, b.ProductID) })
	}
	if s, ok := c.sorted[by]; ok {
		return s, nil
	}
	s := slices.Clone(c.sorted[SortID])
	slices.SortStableFunc(s, func(a, b Stock) int {
		if by == SortName {
			return strings.Compare(a.Name, b.Name)
		}
		return cmp.Compare(a.StockQuantity, b.StockQuantity)
	})
	c.sorted[by] = s
	return s, nil
}

// Below returns the live products whose stock is below n, lowest first.
func (c *Catalogue) Below(n int64) ([]Stock, error) {
	s, err := c.ordered(SortStock)
	if err != nil {
		return nil, err
	}
	i := sort.Search(len(s), func(i int) bool { return s[i].StockQuantity >= n })
	return slices.Clone(s[:i:i]), nil
}

// live scans the view for the live products, in key order; never nil.
func live(t Table) ([]Stock, error) {
	it, err := t.Iterator()
	if err != nil {
		return nil, fmt.Errorf("inventory view: iterate: %w", err)
	}
	defer it.Release()
	out := []Stock{}
	for it.Next() {
		key := it.Key()
		id, ok := inventory.ParseProductKey(key)
		if !ok {
			continue
		}
		v, err := it.Value()
		if err != nil {
			return nil, fmt.Errorf("inventory view: value of %s: %w", key, err)
		}
		if s, ok := FromState(id, v.(*inventory.Product)); ok {
			out = append(out, s)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("inventory view: iterate: %w", err)
	}
	return out, nil
}

// CatalogueMaxAge is how long a scan of the view serves the catalogue
// queries of Routes.
const CatalogueMaxAge = time.Second

// Routes registers the inventory queries on srv. The catalogue queries
// (below=N and pages) answer from a scan at most CatalogueMaxAge old.
func Routes(srv *httpapi.Server, t Table) {
	cat := NewCatalogue(t, CatalogueMaxAge)
	srv.Handle("GET /v1/inventory/{product_id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("product_id"), 10, 64)
		if err != nil || id <= 0 {
			httpapi.Error(w, http.StatusBadRequest, "product_id must be a positive integer")
			return
		}
		s, ok, err := Get(t, id)
		switch {
		case err != nil:
			httpapi.Error(w, http.StatusServiceUnavailable, err.Error())
		case !ok:
			httpapi.Error(w, http.StatusNotFound, fmt.Sprintf("product %d not found", id))
		default:
			httpapi.WriteJSON(w, http.StatusOK, s)
		}
	})
	srv.Handle("GET /v1/inventory", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("below")
		if q == "" {
			listPage(w, r, cat)
			return
		}
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil {
			httpapi.Error(w, http.StatusBadRequest, "below must be an integer")
			return
		}
		list, err := cat.Below(n)
		if err != nil {
			httpapi.Error(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"products": list, "total": len(list), "below": n})
	})
}

// Sort orders of List.
const (
	SortStock = "stock"
	SortName  = "name"
	SortID    = "id"
)

// MaxPage bounds List's limit.
const MaxPage = 500

// Query selects a page of the catalogue.
type Query struct {
	Match  string // case-insensitive part of the name; "" matches every product
	Sort   string // SortStock (default), SortName or SortID
	Desc   bool
	Limit  int // 1..MaxPage; 50 when zero
	Offset int
}

// limit is the page size q asks for, within 1..MaxPage.
func (q Query) limit() int {
	if q.Limit <= 0 {
		return 50
	}
	return min(q.Limit, MaxPage)
}

// List returns the page q selects of the live products and how many match.
// Ties are broken by product id, so pages are stable.
func (c *Catalogue) List(q Query) ([]Stock, int, error) {
	by := q.Sort
	if by == "" {
		by = SortStock
	}
	s, err := c.ordered(by)
	if err != nil {
		return nil, 0, err
	}
	at := func(i int) Stock { // i-th in the order asked for
		if q.Desc {
			return s[len(s)-1-i]
		}
		return s[i]
	}
	offset, limit := max(q.Offset, 0), q.limit()
	page := []Stock{}
	if q.Match == "" {
		for i := offset; i < len(s) && len(page) < limit; i++ {
			page = append(page, at(i))
		}
		return page, len(s), nil
	}
	match, total := strings.ToLower(q.Match), 0
	for i := range s {
		if p := at(i); strings.Contains(strings.ToLower(p.Name), match) {
			if total >= offset && len(page) < limit {
				page = append(page, p)
			}
			total++
		}
	}
	return page, total, nil
}

// listPage answers GET /v1/inventory without below.
func listPage(w http.ResponseWriter, r *http.Request, cat *Catalogue) {
	v := r.URL.Query()
	q := Query{Match: v.Get("q"), Sort: v.Get("sort")}
	switch q.Sort {
	case "", SortStock, SortName, SortID:
	default:
		httpapi.Error(w, http.StatusBadRequest, "sort must be stock, name or id")
		return
	}
	switch v.Get("order") {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		httpapi.Error(w, http.StatusBadRequest, "order must be asc or desc")
		return
	}
	for _, p := range []struct {
		name string
		to   *int
		min  int
	}{{"limit", &q.Limit, 1}, {"offset", &q.Offset, 0}} {
		if s := v.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < p.min {
				httpapi.Error(w, http.StatusBadRequest, fmt.Sprintf("%s must be an integer of at least %d", p.name, p.min))
				return
			}
			*p.to = n
		}
	}
	page, total, err := cat.List(q)
	if err != nil {
		httpapi.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if page == nil {
		page = []Stock{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"products": page, "total": total, "offset": q.Offset, "limit": q.limit()})
}

// AlertsResponse answers GET /v1/alerts/low-stock: the newest low-stock
// alerts on LOW_STOCK_TOPIC (values as emitted, see inventory.Alert),
// newest first.
type AlertsResponse struct {
	Threshold int64             `json:"threshold"` // LOW_STOCK_THRESHOLD
	Topic     string            `json:"topic"`
	Reading   bool              `json:"reading"` // false while the topic cannot be read
	Alerts    []json.RawMessage `json:"alerts"`
}

// AlertRoutes registers GET /v1/alerts/low-stock on srv, answered from
// alerts, a tail of the low-stock topic.
func AlertRoutes(srv *httpapi.Server, alerts *tail.Tail, threshold int64) {
	srv.Handle("GET /v1/alerts/low-stock", func(w http.ResponseWriter, _ *http.Request) {
		resp := AlertsResponse{Threshold: threshold, Topic: alerts.Topic(), Reading: alerts.Running(), Alerts: []json.RawMessage{}}
		for _, r := range alerts.Records() {
			if json.Valid(r.Value) {
				resp.Alerts = append(resp.Alerts, r.Value)
			}
		}
		httpapi.WriteJSON(w, http.StatusOK, resp)
	})
}
