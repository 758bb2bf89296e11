// Package gokatest builds processors in Goka's tester the way production
// builds them, as Goka's tester documentation recommends: with the options
// that decide what the callbacks see (internal/kafka.CallbackOptions), so a
// unit test cannot pass on behaviour production does not have.
package gokatest

import (
	"context"
	"testing"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/cdcflow/cdcflow/internal/kafka"
)

// NewProcessor returns a processor of graph running in tt, built with
// production's callback options and then extra. It fails t when Goka
// refuses the graph.
func NewProcessor(t testing.TB, tt *tester.Tester, graph *goka.GroupGraph, extra ...goka.ProcessorOption) *goka.Processor {
	t.Helper()
	opts := append(kafka.CallbackOptions(), goka.WithTester(tt))
	proc, err := goka.NewProcessor(nil, graph, append(opts, extra...)...)
	if err != nil {
		t.Fatalf("goka processor of group %s: %v", graph.Group(), err)
	}
	return proc
}

// Run runs each of runs (a processor's or a view's Run method, a flush
// loop) in its own goroutine until t ends; then it cancels them, waits for
// all and fails t with any error one returned.
func Run(t testing.TB, runs ...func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(runs))
	for _, run := range runs {
		go func() { done <- run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range runs {
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	})
}
