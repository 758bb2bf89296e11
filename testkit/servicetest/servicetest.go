// Package servicetest runs a service in-process for a test: built by its
// app.Builder from a configuration read from the test's variables, with
// its tables in memory, served on a free port of 127.0.0.1, and stopped
// gracefully when the test ends. It is meant for _test.go files only.
package servicetest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/kafka"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// Service is one service under test.
type Service struct {
	URL string // http://127.0.0.1:<port>

	name    string
	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
}

// Start builds and serves spec's service with env as its whole environment
// (the variables config.Load reads), dyn and s3c as its AWS clients (nil:
// none), logging to log. It fails t when the service cannot be built or
// served; the service is stopped when t ends, if Stop was not called.
func Start(t testing.TB, spec config.Service, build app.Builder, env map[string]string, dyn *dynamodb.Client, s3c *s3.Client, log *slog.Logger) *Service {
	t.Helper()
	cfg, err := config.Load(spec, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("%s: %v", spec.Name, err)
	}
	ks, err := kafka.New(cfg, true)
	if err != nil {
		t.Fatalf("%s: %v", spec.Name, err)
	}
	log = log.With("service", spec.Name)
	ks.Log = log
	reg := app.NewRegistry()
	srv := httpapi.New(reg)
	ctx, cancel := context.WithCancel(context.Background())
	u, err := build(ctx, cfg, app.Deps{Kafka: ks, Registry: reg, Log: log, Dynamo: dyn, S3: s3c}, srv)
	if err != nil {
		cancel()
		t.Fatalf("%s: %v", spec.Name, err)
	}
	addr := make(chan string, 1)
	s := &Service{name: spec.Name, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- app.Serve(ctx, log, "127.0.0.1:0", srv, []*app.Unit{u}, func(a string) { addr <- a })
	}()
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case err := <-s.done:
		t.Fatalf("%s did not start: %v", spec.Name, err)
	}
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop shuts the service down gracefully and fails t unless it stopped
// cleanly within the shutdown bound. Only the first call does anything.
func (s *Service) Stop(t testing.TB) {
	t.Helper()
	s.stopped.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("%s stopped with an error: %v", s.name, err)
			}
		case <-time.After(app.ShutdownTimeout + 5*time.Second):
			t.Errorf("%s did not stop within %v", s.name, app.ShutdownTimeout)
		}
	})
}

// Stopped reports, without waiting, whether the service has stopped by
// itself, and its error.
func (s *Service) Stopped() (bool, error) {
	select {
	case err := <-s.done:
		s.done <- err // for Stop
		return true, err
	default:
		return false, nil
	}
}
