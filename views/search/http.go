package search

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/cdcflow/cdcflow/views/httpapi"
)

// Query limits of GET /v1/search.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// SearchResponse is the body of GET /v1/search.
type SearchResponse struct {
	Results []Result `json:"results"`
	Total   int      `json:"total"`
}

// Routes registers the search queries on srv:
//
//	GET /v1/search?q=<text>&limit=<n>&min_price=<p>&max_price=<p>
//	GET /v1/products/{product_id}
func Routes(srv *httpapi.Server, ix *Index) {
	srv.Handle("GET /v1/search", func(w http.ResponseWriter, r *http.Request) { handleSearch(w, r, ix) })
	srv.Handle("GET /v1/products/{product_id}", func(w http.ResponseWriter, r *http.Request) { handleProduct(w, r, ix) })
}

func handleSearch(w http.ResponseWriter, r *http.Request, ix *Index) {
	params := r.URL.Query()
	q := params.Get("q")
	if strings.TrimSpace(q) == "" {
		httpapi.Error(w, http.StatusBadRequest, "query parameter q is required")
		return
	}
	limit := DefaultLimit
	if s := params.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			httpapi.Error(w, http.StatusBadRequest, "limit must be a positive integer")
			return
		}
		limit = min(n, MaxLimit)
	}
	var bounds [2]*int64
	for i, name := range []string{"min_price", "max_price"} {
		s := params.Get(name)
		if s == "" {
			continue
		}
		c, err := ParseCents(s)
		if err != nil {
			httpapi.Error(w, http.StatusBadRequest, fmt.Sprintf("%s: %v", name, err))
			return
		}
		bounds[i] = &c
	}
	results, total := ix.Search(q, limit, bounds[0], bounds[1])
	if results == nil {
		results = []Result{}
	}
	httpapi.WriteJSON(w, http.StatusOK, SearchResponse{Results: results, Total: total})
}

func handleProduct(w http.ResponseWriter, r *http.Request, ix *Index) {
	id, err := strconv.ParseInt(r.PathValue("product_id"), 10, 64)
	if err != nil || id <= 0 {
		httpapi.Error(w, http.StatusBadRequest, "product_id must be a positive integer")
		return
	}
	p, ok := ix.Get(id)
	if !ok {
		httpapi.Error(w, http.StatusNotFound, fmt.Sprintf("product %d not found", id))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, p)
}

// ParseCents parses a non-negative decimal amount ("12", "12.5", "12.50")
// into integer cents exactly, without floating point. Digits beyond the
// second decimal are accepted only when they are zeros ("12.500").
func ParseCents(s string) (int64, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("%q is not a decimal amount", s)
	}
	if hasDot && frac == "" {
		return 0, fmt.Errorf("%q is not a decimal amount", s)
	}
	if len(whole) > 15 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	var cents int64
	for _, c := range []byte(whole) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a non-negative decimal amount", s)
		}
		cents = cents*10 + int64(c-'0')
	}
	cents *= 100
	for i, c := range []byte(frac) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a non-negative decimal amount", s)
		}
		switch i {
		case 0:
			cents += 10 * int64(c-'0')
		case 1:
			cents += int64(c - '0')
		default:
			if c != '0' {
				return 0, fmt.Errorf("%q has more than two decimals", s)
			}
		}
	}
	return cents, nil
}
