// Package gokatest builds processors in Goka's tester the way production
// builds them, as Goka's tester documentation recommends: with the options
// that decide what the callbacks see (internal/kafka.CallbackOptions), so a
// unit test cannot pass on behaviour production does not have.
package gokatest

import (
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
