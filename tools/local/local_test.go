package local

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLocalSystemAnswersEveryRoute starts the whole local system on free
// ports and checks what a newcomer is told to try: readiness, metrics, the
// Laptop's stock, a search for "laptop" finding product 1 and a summary
// with orders; once with the JsonConverter's records (-format json), once
// with the AvroConverter's (-format avro: every service read its schemas
// from the registry cdc-local started).
func TestLocalSystemAnswersEveryRoute(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	for _, format := range []string{"json", "avro", "jsonschema", "protobuf"} {
		t.Run(format, func(t *testing.T) { localSystemAnswersEveryRoute(t, format) })
	}
}

func localSystemAnswersEveryRoute(t *testing.T, format string) {
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), Rate: 200, Seed: 1, Products: 20,
			FlushInterval: time.Second, Progress: time.Second, Bucket: "analytics", Format: format,
			Getenv: func(string) (string, bool) { return "", false },
			Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready:  func(a string) { addr <- a },
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("local system stopped with an error: %v", err)
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("local system did not start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("not up within 60 s")
	}

	deadline := time.Now().Add(90 * time.Second)
	check := func(name string, ok func() bool) {
		t.Helper()
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not true before the deadline", name)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	get := func(path string, v any) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		if v != nil {
			_ = json.NewDecoder(resp.Body).Decode(v)
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
		}
		return resp.StatusCode
	}
	check("/readyz answers 200", func() bool { return get("/readyz", nil) == 200 })
	check("/v1/inventory/1 is the Laptop", func() bool {
		var s struct {
			ProductID int64  `json:"product_id"`
			Name      string `json:"name"`
		}
		return get("/v1/inventory/1", &s) == 200 && s.ProductID == 1 && s.Name == "Laptop"
	})
	check(`search for "laptop" finds product 1`, func() bool {
		var r struct {
			Results []struct {
				ProductID int64 `json:"product_id"`
			} `json:"results"`
		}
		if get("/v1/search?q=laptop", &r) != 200 {
			return false
		}
		for _, x := range r.Results {
			if x.ProductID == 1 {
				return true
			}
		}
		return false
	})
	check("the summary shows orders", func() bool {
		var s struct {
			Metrics struct {
				TotalOrders int `json:"total_orders"`
			} `json:"metrics"`
		}
		return get("/v1/reports/summary", &s) == 200 && s.Metrics.TotalOrders > 0
	})
	check("/metrics counts processed CDC records", func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `cdc_messages_total{op="c",outcome="processed",service="inventory-service"`)
	})
	// Each service looked its schemas up in the registry (Avro), or never
	// asked one (JSON).
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, svc := range []string{"inventory-service", "analytics-service", "search-indexer"} {
		m := regexp.MustCompile(`(?m)^schema_registry_cached_schemas\{service="` + svc + `"\} ([0-9.e+]+)$`).FindStringSubmatch(string(b))
		cached := 0.0
		if m != nil {
			cached, _ = strconv.ParseFloat(m[1], 64)
		}
		if format != "json" && cached < 2 || format == "json" && cached != 0 {
			t.Errorf("format %s: %s has %v schemas cached", format, svc, cached)
		}
	}
}

func TestFormatChecked(t *testing.T) {
	err := Run(context.Background(), Options{Format: "thrift"})
	if err == nil || !strings.Contains(err.Error(), `converter "thrift"`) {
		t.Fatalf("Run with format thrift: %v", err)
	}
}
