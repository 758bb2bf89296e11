package money

import "testing"

func TestFormat(t *testing.T) {
	for cents, want := range map[int64]string{0: "0.00", 5: "0.05", 129999: "1299.99", -5: "-0.05", -12345: "-123.45", 100: "1.00",
		9223372036854775807: "92233720368547758.07", -9223372036854775808: "-92233720368547758.08"} {
		if got := Format(cents); got != want {
			t.Errorf("Format(%d) = %q, want %q", cents, got, want)
		}
	}
}
