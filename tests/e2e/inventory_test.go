package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/codecs/money"
	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
	invviews "github.com/cdcflow/cdcflow/views/inventory"
)

// TestInventoryMatchesOracle runs the inventory-service against kfake and
// dynalite over a generated stream of 20,000+ changes with connector
// replays, with the products topic delivered behind order_items, in the
// envelope format (source.sequence), the flattened one without LSNs
// (timestamps only) and the flattened one with __source_sequence and
// NUMERIC decimals, and compares every product's DynamoDB item and API
// answer with the oracle.
func TestInventoryMatchesOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, tc := range []struct {
		name  string
		opts  dbzenc.EncodeOptions
		noLSN bool
		seed  uint64
	}{
		{"envelope", dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope}, false, 11},
		{"flattened-without-lsn", dbzenc.EncodeOptions{Format: dbzenc.FormatFlat, Decimal: dbzenc.DecimalString}, true, 12},
		{"flattened-with-sequence", dbzenc.EncodeOptions{Format: dbzenc.FormatFlatNoSchema, Decimal: dbzenc.DecimalNumeric, FlatSequence: true}, false, 13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := testenv.Dynalite(t)
			dyn, err := db.Client(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			k := startKafka(t)

			changes := shopsim.New(shopsim.Config{Seed: tc.seed, Products: 200}).Generate(20000)
			if tc.noLSN {
				for i := range changes {
					changes[i].Src.LSN = 0
				}
			}
			recs, err := shopsim.Encode(changes, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			recs = shopsim.WithReplays(recs, tc.seed, shopsim.Replay{Every: 1500, Back: 300})
			byTopic := shopsim.ByTopic(recs)
			products, items := byTopic["dbserver1.public.products"], byTopic["dbserver1.public.order_items"]
			// order_items runs ahead of products: all lines and a third of
			// the product versions are consumed before the rest of the
			// versions reach Kafka, so versions arrive after lines committed
			// both before and after them.
			early := append(append([]shopsim.Record{}, items...), products[:len(products)/3]...)
			produce(t, k.Brokers(), early)
			env := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ","), "DYNAMODB_TABLE": "inventory-realtime"}
			svc := start(t, config.Inventory, app.Inventory, env, dyn, nil)
			defer svc.Stop(t)
			eventually(t, 3*time.Minute, func() string {
				if n := consumed(t, svc.URL); n < len(early) {
					return fmt.Sprintf("consumed %d of %d early records", n, len(early))
				}
				return ""
			}, svc)
			produce(t, k.Brokers(), products[len(products)/3:])

			want := oracle.ExpectInventory(changes)
			if len(want) < 100 {
				t.Fatalf("oracle has only %d products; the stream is too small to mean anything", len(want))
			}
			eventually(t, 4*time.Minute, func() string { return compareDynamo(t, dyn, want) }, svc)
			if d := compareAPI(t, svc.URL, want, changes); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func compareDynamo(t *testing.T, dyn *dynamodb.Client, want map[int64]oracle.InventoryItem) string {
	got := map[int64]map[string]types.AttributeValue{}
	p := dynamodb.NewScanPaginator(dyn, &dynamodb.ScanInput{TableName: aws.String("inventory-realtime")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			return fmt.Sprintf("scan: %v", err)
		}
		for _, it := range page.Items {
			id, _ := strconv.ParseInt(it["product_id"].(*types.AttributeValueMemberN).Value, 10, 64)
			got[id] = it
		}
	}
	var d diffs
	for id, w := range want {
		it, ok := got[id]
		if !ok {
			d.add("product %d missing from DynamoDB", id)
			continue
		}
		expect := map[string]string{
			"name": w.Name, "description": w.Description, "price": money.Format(w.PriceCents),
			"stock_quantity": strconv.FormatInt(w.Stock, 10), "cdc_timestamp": strconv.FormatInt(w.LastSourceTsMs, 10),
			"last_updated": time.UnixMilli(w.LastSourceTsMs).UTC().Format(time.RFC3339),
		}
		for attr, v := range expect {
			if s := attrString(it[attr]); s != v {
				d.add("product %d %s = %q, want %q", id, attr, s, v)
			}
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			d.add("product %d in DynamoDB but deleted or unknown in the database", id)
		}
	}
	return d.String()
}

func attrString(v types.AttributeValue) string {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return x.Value
	case *types.AttributeValueMemberN:
		return x.Value
	case nil:
		return "<missing>"
	}
	return fmt.Sprintf("%T", v)
}

func compareAPI(t *testing.T, url string, want map[int64]oracle.InventoryItem, changes []shopsim.Change) string {
	var d diffs
	for id, w := range want {
		var s invviews.Stock
		if code := getJSON(t, fmt.Sprintf("%s/v1/inventory/%d", url, id), &s); code != 200 {
			d.add("GET product %d: %d", id, code)
			continue
		}
		if s.Name != w.Name || s.PriceCents != w.PriceCents || s.StockQuantity != w.Stock || s.Description != w.Description ||
			string(s.Price) != money.Format(w.PriceCents) {
			d.add("API product %d = %+v, want %+v", id, s, w)
		}
	}
	// Deleted products answer 404.
	deleted := 0
	for _, c := range changes {
		if c.Table == debezium.TableProducts && c.Op == debezium.OpDelete {
			if _, live := want[c.ID]; !live {
				deleted++
				if code := getJSON(t, fmt.Sprintf("%s/v1/inventory/%d", url, c.ID), nil); code != 404 {
					d.add("deleted product %d answers %d", c.ID, code)
				}
			}
		}
	}
	if deleted == 0 {
		d.add("the stream deleted no product; the test would not cover deletes")
	}
	var below struct {
		Products []invviews.Stock `json:"products"`
		Total    int              `json:"total"`
	}
	getJSON(t, url+"/v1/inventory?below=10", &below)
	wantBelow := 0
	for _, w := range want {
		if w.Stock < 10 {
			wantBelow++
		}
	}
	if below.Total != wantBelow || len(below.Products) != wantBelow {
		d.add("below=10 lists %d products, want %d", below.Total, wantBelow)
	}
	return d.String()
}
