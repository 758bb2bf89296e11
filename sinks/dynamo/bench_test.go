package dynamo_test

import (
	"strconv"
	"testing"

	"github.com/cdcflow/cdcflow/sinks/dynamo"
	"github.com/cdcflow/cdcflow/testkit/testenv"
)

// BenchmarkWriteDynalite writes 20,000 distinct items (MaxBatch 25) per
// iteration to a dynalite server, at several Concurrency settings, and
// reports items/s. Run with:
//
//	go test -run '^$' -bench WriteDynalite -benchtime 3x ./sinks/dynamo/
func BenchmarkWriteDynalite(b *testing.B) {
	const n = 20000
	for _, conc := range []int{1, 2, 4, 8, 16} {
		b.Run("concurrency="+strconv.Itoa(conc), func(b *testing.B) {
			// A server of its own, so earlier runs' data weigh nothing.
			s := testenv.Dynalite(b)
			ctx := testCtx(b)
			c := client(b, s)
			table := "bench"
			productTable(b, ctx, c, table)
			w, err := dynamo.NewWriter(c, dynamo.Options{Table: table, MaxBatch: 25, Concurrency: conc, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			items := make([]dynamo.Item, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for id := range items {
					items[id] = productItem(id, uint64(i+1), false)
				}
				b.StartTimer()
				if err := w.Write(ctx, items); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
		})
	}
}
