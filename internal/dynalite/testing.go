package dynalite

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// StartT starts a dynalite server for t and stops it when t ends. Without
// node on PATH it skips t, except under CI (CI set and not "false" or "0"),
// where a missing node is a failure rather than a silently skipped test.
func StartT(t testing.TB) *Server {
	t.Helper()
	return StartTWith(t, Options{})
}

// StartTWith is StartT with options.
func StartTWith(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if inCI() {
			t.Fatalf("dynalite: node is required under CI: %v", err)
		}
		t.Skipf("dynalite: node is not on PATH (%v); set CI=true to make this a failure", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
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

func inCI() bool {
	v := strings.TrimSpace(strings.ToLower(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}
