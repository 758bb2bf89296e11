package dbzenc

import (
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// BenchmarkEncode renders a product update envelope with schema.
func BenchmarkEncode(b *testing.B) {
	before := &debezium.Product{ID: 1, Name: "Rugged USB-C Espresso Machine 1", Description: "A rugged espresso machine.", PriceCents: 189057, StockQuantity: 167, CreatedAt: 1736931600000000, UpdatedAt: 1736931600000000}
	after := *before
	after.PriceCents, after.UpdatedAt = 61342, 1736935763000000
	src := Source{LSN: 16790676, TsMs: 1736935763000, TxID: 589}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := Encode(EncodeOptions{}, debezium.TableProducts, debezium.OpUpdate, 1, before, &after, src); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
