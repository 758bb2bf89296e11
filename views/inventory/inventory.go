// Package inventory answers stock queries from a Goka view of the inventory
// group table: GET /v1/inventory/{product_id} and GET /v1/inventory?below=N.
package inventory

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/codecs/money"
	"github.com/cdcflow/cdcflow/processors/inventory"
	"github.com/cdcflow/cdcflow/views/httpapi"
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

// Below returns the live products whose stock is below n, lowest first.
func Below(t Table, n int64) ([]Stock, error) {
	it, err := t.Iterator()
	if err != nil {
		return nil, fmt.Errorf("inventory view: iterate: %w", err)
	}
	defer it.Release()
	var out []Stock
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
		if s, ok := FromState(id, v.(*inventory.Product)); ok && s.StockQuantity < n {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].StockQuantity != out[j].StockQuantity {
			return out[i].StockQuantity < out[j].StockQuantity
		}
		return out[i].ProductID < out[j].ProductID
	})
	return out, it.Err()
}

// Routes registers the inventory queries on srv.
func Routes(srv *httpapi.Server, t Table) {
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
			httpapi.Error(w, http.StatusBadRequest, "query parameter below=N is required")
			return
		}
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil {
			httpapi.Error(w, http.StatusBadRequest, "below must be an integer")
			return
		}
		list, err := Below(t, n)
		if err != nil {
			httpapi.Error(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		if list == nil {
			list = []Stock{}
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"products": list, "total": len(list), "below": n})
	})
}
