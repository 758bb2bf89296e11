package debezium

import "math"

// timeUnit is the representation of a TIMESTAMP column announced by the
// Connect schema.
type timeUnit uint8

const (
	tuUnknown timeUnit = iota // no schema: classify integers by magnitude
	tuMicro                   // io.debezium.time.MicroTimestamp
	tuMilli                   // io.debezium.time.Timestamp, org.apache.kafka.connect.data.Timestamp
	tuNano                    // io.debezium.time.NanoTimestamp
	tuZoned                   // io.debezium.time.ZonedTimestamp
)

// Magnitude thresholds for schemaless integer timestamps. Current epochs are
// ~1.7e12 ms, ~1.7e15 µs and ~1.7e18 ns; the limits sit three orders of
// magnitude apart, so instants from 1973 to 5138 are classified correctly.
const (
	microFloor = 100_000_000_000_000     // 1e14: below it, milliseconds
	nanoFloor  = 100_000_000_000_000_000 // 1e17: from it, nanoseconds
)

// intTimeToMicros converts an integer timestamp to µs.
func intTimeToMicros(v int64, tu timeUnit) (int64, numErr) {
	if tu == tuUnknown {
		a := v
		if a < 0 {
			if a == math.MinInt64 {
				a = math.MaxInt64
			} else {
				a = -a
			}
		}
		switch {
		case a < microFloor:
			tu = tuMilli
		case a < nanoFloor:
			tu = tuMicro
		default:
			tu = tuNano
		}
	}
	switch tu {
	case tuMilli:
		const limit = math.MaxInt64 / 1000
		if v > limit || v < -limit {
			return 0, numOverflow
		}
		return v * 1000, numOK
	case tuNano:
		return floorDiv(v, 1000), numOK
	default:
		return v, numOK
	}
}

// parseISOTimestamp parses an ISO-8601 / RFC 3339 timestamp into Unix µs:
// YYYY-MM-DD, then 'T', 't' or ' ' and HH:MM[:SS[.fraction]], then an
// optional zone Z, ±HH, ±HHMM or ±HH:MM (none means UTC). Fraction digits
// beyond microseconds are truncated.
func parseISOTimestamp(b []byte) (int64, bool) {
	num := func(at, n int) (int64, bool) {
		if at+n > len(b) {
			return 0, false
		}
		var v int64
		for k := at; k < at+n; k++ {
			c := b[k]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int64(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	if !ok1 || !ok2 || !ok3 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return 0, false
	}
	secs := daysFromCivil(year, month, day) * 86400
	i := 10
	if i == len(b) {
		return secs * 1_000_000, true
	}
	if c := b[i]; c != 'T' && c != 't' && c != ' ' {
		return 0, false
	}
	i++
	hour, okh := num(i, 2)
	if !okh || i+2 >= len(b) || b[i+2] != ':' {
		return 0, false
	}
	minute, okm := num(i+3, 2)
	if !okm || hour > 23 || minute > 59 {
		return 0, false
	}
	i += 5
	var sec, micros int64
	if i < len(b) && b[i] == ':' {
		s, ok := num(i+1, 2)
		if !ok || s > 59 {
			return 0, false
		}
		sec = s
		i += 3
		if i < len(b) && (b[i] == '.' || b[i] == ',') {
			i++
			start := i
			for i < len(b) && b[i] >= '0' && b[i] <= '9' {
				if i-start < 6 {
					micros = micros*10 + int64(b[i]-'0')
				}
				i++
			}
			n := i - start
			if n == 0 {
				return 0, false
			}
			for ; n < 6; n++ {
				micros *= 10
			}
		}
	}
	secs += hour*3600 + minute*60 + sec
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			sign := int64(1)
			if b[i] == '-' {
				sign = -1
			}
			oh, ok := num(i+1, 2)
			if !ok || oh > 23 {
				return 0, false
			}
			i += 3
			var om int64
			if i < len(b) {
				if b[i] == ':' {
					i++
				}
				m, ok := num(i, 2)
				if !ok || m > 59 {
					return 0, false
				}
				om = m
				i += 2
			}
			secs -= sign * (oh*3600 + om*60)
		default:
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	return secs*1_000_000 + micros, true
}

func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
