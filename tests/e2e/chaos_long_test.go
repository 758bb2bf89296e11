//go:build chaos

package e2e

// chaosLong is true under the chaos build tag: the chaos tests run their
// full-size versions (50,000+ changes, five or more kills, full outages).
const chaosLong = true
