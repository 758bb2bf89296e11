//go:build !chaos

package e2e

// chaosLong is false in the default build: the chaos tests run their short
// versions, sized for CI. `make chaos` (go test -tags chaos) runs the long ones.
const chaosLong = false
