package retry

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

// TestFullJitter: the n-th wait is uniform in [0, min(max, base·2^(n-1))]:
// never outside, spread over the whole range (2000 draws: the chance that
// none lands in the top half is 2^-2000), and not a few values repeated.
func TestFullJitter(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		base, max time.Duration
		ceil      map[int]time.Duration // n → min(max, base·2^(n-1))
	}{
		{10 * ms, 80 * ms, map[int]time.Duration{1: 10 * ms, 2: 20 * ms, 4: 80 * ms, 5: 80 * ms, 100: 80 * ms}},
		{10 * ms, 100 * ms, map[int]time.Duration{1: 10 * ms, 2: 20 * ms, 4: 80 * ms, 5: 100 * ms, 40: 100 * ms}},
	} {
		for n, ceil := range tc.ceil {
			distinct := map[time.Duration]bool{}
			var top time.Duration
			for range 2000 {
				d := FullJitter(n, tc.base, tc.max)
				if d < 0 || d > ceil {
					t.Fatalf("FullJitter(%d, %v, %v) = %v, outside [0, %v]", n, tc.base, tc.max, d, ceil)
				}
				distinct[d] = true
				top = max(top, d)
			}
			if top <= ceil/2 || len(distinct) < 100 {
				t.Errorf("FullJitter(%d, %v, %v): %d distinct values up to %v in 2000 draws: not jittered over [0, %v]",
					n, tc.base, tc.max, len(distinct), top, ceil)
			}
		}
	}
}

// TestFullJitterBounds: the doubling saturates instead of overflowing, and
// degenerate arguments stay in range.
func TestFullJitterBounds(t *testing.T) {
	for _, tc := range []struct {
		n         int
		base, max time.Duration
		ceil      time.Duration
	}{
		{0, time.Second, time.Minute, time.Second},  // n < 1 counts as 1
		{-5, time.Second, time.Minute, time.Second}, // likewise
		{31, time.Nanosecond, 5 * time.Second, time.Duration(1) << 30},
		{63, time.Second, time.Minute, time.Minute},
		{64, time.Second, time.Minute, time.Minute},
		{1 << 20, time.Second, time.Minute, time.Minute},
		{40, time.Hour << 10, math.MaxInt64, math.MaxInt64}, // base·2^39 overflows: saturates at max
		{3, 0, time.Second, time.Second},                    // no base: the ceiling is max
		{3, time.Second, 0, 0},
		{3, time.Second, -time.Second, 0},
		{1, time.Minute, time.Second, time.Second}, // max below base
	} {
		for range 200 {
			if d := FullJitter(tc.n, tc.base, tc.max); d < 0 || d > tc.ceil {
				t.Fatalf("FullJitter(%d, %v, %v) = %v, outside [0, %v]", tc.n, tc.base, tc.max, d, tc.ceil)
			}
		}
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep with an ended context: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Sleep with an ended context took %v", took)
	}
	if err := Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep(0) with an ended context: %v, want context.Canceled", err)
	}
	if err := Sleep(context.Background(), -time.Second); err != nil {
		t.Fatalf("Sleep(-1s): %v", err)
	}
}
