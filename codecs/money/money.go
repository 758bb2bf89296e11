// Package money renders integer cents, the only representation of money
// inside the services, for the outside: "1299.99" strings for DynamoDB and
// exact two-decimal JSON numbers for reports and the API. No float is ever
// involved.
package money

import (
	"encoding/json"
	"strconv"
)

// Format renders cents as a decimal with two digits: 129999 → "1299.99",
// -5 → "-0.05".
func Format(cents int64) string {
	neg := cents < 0
	u := uint64(cents)
	if neg {
		u = uint64(-cents)
	}
	whole := strconv.FormatUint(u/100, 10)
	frac := u % 100
	s := whole + "." + string(rune('0'+frac/10)) + string(rune('0'+frac%10))
	if neg {
		return "-" + s
	}
	return s
}

// Number renders cents as an exact JSON number with two decimals.
func Number(cents int64) json.Number { return json.Number(Format(cents)) }
