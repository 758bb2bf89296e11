// Package registry gives tests a Schema Registry: tools/registry's
// development registry (the one implementation, which cdc-local runs too),
// started for one test and closed when it ends.
package registry

import (
	"testing"

	devreg "github.com/cdcflow/cdcflow/tools/registry"
)

// ContentType is the registry's media type.
const ContentType = devreg.ContentType

// Options configures the registry (basic auth).
type Options = devreg.Options

// Server is a running registry (Register, URL, Stop, Resume, Fail, Hang,
// Requests, Handler).
type Server = devreg.Server

// RegistrarOptions configures Registrar (schema type, basic auth).
type RegistrarOptions = devreg.RegistrarOptions

// Registrar registers schemas through a registry's REST protocol, as the
// converters do (tools/registry.Registrar).
func Registrar(baseURL string, o RegistrarOptions) func(subject, schema string) (int32, error) {
	return devreg.Registrar(baseURL, o)
}

// Start starts a registry on a free port of 127.0.0.1; the caller closes it.
func Start(opts Options) (*Server, error) { return devreg.Start(opts) }

// New starts a registry for one test and closes it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := devreg.Start(opts)
	if err != nil {
		t.Fatalf("schema registry: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}
