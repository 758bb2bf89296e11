package s3report

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cdcflow/cdcflow/processors/analytics"
	"github.com/cdcflow/cdcflow/testkit/testenv"
)

// TestWritesToS3 runs the flusher against an in-memory S3 endpoint
// (gofakes3) through the real AWS SDK client.
func TestWritesToS3(t *testing.T) {
	_, cl := testenv.S3(t, "lake")
	table := shopTable()
	f := newFlusher(t, cl, table, true, nil, nil)
	ctx := context.Background()
	if err := f.Flush(ctx, time.Date(2025, 1, 15, 12, 5, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	table.setWindow(w1010, analytics.WindowSales{Orders: 2, Cents: 2500, Items: 7})
	if err := f.Flush(ctx, time.Date(2025, 1, 15, 12, 10, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}

	var keys []string
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("analytics/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	want := append(append(reportKeys("20250115_120500"), reportKeys("20250115_121000")...), win1005, win1010)
	slices.Sort(want)
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Fatalf("objects\n%v\nwant\n%v", keys, want)
	}

	get := func(key string) map[string]json.RawMessage {
		t.Helper()
		out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s is not a JSON object: %v: %s", key, err, b)
		}
		return m
	}
	sum := get("analytics/summary/20250115_121000.json")
	if string(sum["report_type"]) != `"summary"` ||
		string(sum["metrics"]) != `{"total_orders":2,"total_revenue":19.99,"unique_customers":1,"unique_products_sold":1,"order_status_breakdown":{"pending":2}}` {
		t.Fatalf("summary %s %s", sum["report_type"], sum["metrics"])
	}
	if ps := get("analytics/product_sales/20250115_120500.json"); string(ps["data"]) != `{"3":{"quantity_sold":1,"total_revenue":19.99}}` {
		t.Fatalf("product_sales data %s", ps["data"])
	}
	if w := get(win1010); string(w["orders"]) != "2" || string(w["revenue"]) != "25.00" || string(w["items_sold"]) != "7" {
		t.Fatalf("rewritten window %v", w)
	}
}
