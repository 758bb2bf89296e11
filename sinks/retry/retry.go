// Package retry is the retry timing shared by the sinks (DynamoDB, S3):
// exponential backoff with full jitter, and a sleep that ends early with
// its context.
package retry

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// FullJitter is the wait before the n-th retry (n ≥ 1; a smaller n counts
// as 1) under exponential backoff with full jitter: uniformly random in
// [0, min(maxWait, base·2^(n-1))]. The doubling saturates at maxWait
// instead of overflowing, however large n is; with base ≤ 0 the ceiling is
// maxWait, and with maxWait ≤ 0 the wait is 0.
func FullJitter(n int, base, maxWait time.Duration) time.Duration {
	ceil := maxWait
	if n < 1 {
		n = 1
	}
	if shift := uint(n - 1); base > 0 && shift < 63 {
		if e := base << shift; e > 0 && e>>shift == base && e < ceil {
			ceil = e
		}
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(min(ceil, math.MaxInt64-1)) + 1))
}

// Sleep waits for d, or less when ctx ends first; it returns ctx's error in
// that case, and also when ctx has ended already and d ≤ 0.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
