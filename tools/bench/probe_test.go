package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
)

const histBefore = `# HELP x
mirror_source_to_sink_seconds_bucket{table="t",le="0.1"} 10
mirror_source_to_sink_seconds_bucket{table="t",le="0.2"} 10
mirror_source_to_sink_seconds_bucket{table="t",le="1"} 10
mirror_source_to_sink_seconds_bucket{table="t",le="+Inf"} 10
mirror_last_write_timestamp_seconds{table="t"} 1.7955452377617388e+09
`

// 100 new observations: 50 in (0,0.1], 40 in (0.1,0.2], 9 in (0.2,1], 1 above.
const histAfter = `mirror_source_to_sink_seconds_bucket{table="t",le="0.1"} 60
mirror_source_to_sink_seconds_bucket{table="t",le="0.2"} 100
mirror_source_to_sink_seconds_bucket{table="t",le="1"} 109
mirror_source_to_sink_seconds_bucket{table="t",le="+Inf"} 110
`

func serveText(t *testing.T, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestQuantileOfScrapedHistograms(t *testing.T) {
	before, err := scrape(context.Background(), serveText(t, histBefore))
	if err != nil {
		t.Fatal(err)
	}
	after, err := scrape(context.Background(), serveText(t, histAfter))
	if err != nil {
		t.Fatal(err)
	}
	if got := before.max("mirror_last_write_timestamp_seconds"); got != 1.7955452377617388e+09 {
		t.Fatalf("gauge = %v", got)
	}
	const h = "mirror_source_to_sink_seconds"
	for _, tc := range []struct{ q, want float64 }{
		{0.25, 0.05}, // rank 25 of 50 in the first bucket
		{0.5, 0.1},   // rank 50: the first bucket's bound
		{0.7, 0.15},  // rank 70: 20 of 40 into (0.1, 0.2]
		{0.99, 0.2 + 0.8*(99-90)/9.0},
		{0.999, 1}, // in +Inf: the last finite bound
	} {
		got, n := quantile(tc.q, before.buckets(h), after.buckets(h))
		if n != 100 || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("q%.3f = %v over %d, want %v over 100", tc.q, got, n, tc.want)
		}
	}
	if got, n := quantile(0.5, after.buckets(h), after.buckets(h)); !math.IsNaN(got) || n != 0 {
		t.Errorf("no observations: %v over %d, want NaN", got, n)
	}
}
