package dynalite

import "testing"

// PidOf exposes the node process id to the tests.
func PidOf(t *testing.T, s *Server) int { t.Helper(); return s.current().cmd.Process.Pid }
