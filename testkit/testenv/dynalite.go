package testenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/tools/dynalite"
)

// Dynalite starts a dynalite server for t and stops it when t ends. Without
// node on PATH it skips t, except under CI (see InCI), where a missing node
// is a failure rather than a silently skipped test.
func Dynalite(t testing.TB) *dynalite.Server {
	t.Helper()
	return DynaliteWith(t, dynalite.Options{})
}

// DynaliteWith is Dynalite with options.
func DynaliteWith(t testing.TB, opts dynalite.Options) *dynalite.Server {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if InCI() {
			t.Fatalf("dynalite: node is required under CI: %v", err)
		}
		t.Skipf("dynalite: node is not on PATH (%v); set CI=true to make this a failure", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := dynalite.Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting dynalite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping dynalite: %v", err)
		}
	})
	return s
}

// InCI reports whether the tests run under CI: CI set and not "false" or
// "0". Under CI a missing external tool fails a test instead of skipping it.
func InCI() bool {
	v := strings.TrimSpace(strings.ToLower(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}
