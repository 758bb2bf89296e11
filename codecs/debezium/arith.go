package debezium

// absCents returns the magnitude of c without overflow for MinInt64.
func absCents(c int64) (neg bool, mag uint64) {
	if c < 0 {
		return true, uint64(-(c + 1)) + 1
	}
	return false, uint64(c)
}

// floorDiv divides rounding toward negative infinity (d > 0).
func floorDiv(a, d int64) int64 {
	q := a / d
	if a%d < 0 {
		q--
	}
	return q
}
