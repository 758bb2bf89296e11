package app

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the part of the container's memory limit the Go heap
// is held under: the rest is for LevelDB's caches, goroutine stacks and the
// runtime's own overhead.
const memoryLimitShare = 0.85

// cgroupMemoryMax is where cgroup v2 states the container's memory limit.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// SetMemoryLimit gives the Go runtime a soft memory limit of
// memoryLimitShare of the container's (cgroup v2 memory.max) unless
// GOMEMLIMIT sets one, and logs what it did.
//
// Without a limit the heap grows to twice its live size before a
// collection (GOGC=100): a state that fits the container can still get the
// process killed for memory while the snapshot is being read. With one,
// the runtime collects more often as the heap nears the limit.
func SetMemoryLimit(log *slog.Logger) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("memory limit from GOMEMLIMIT", "GOMEMLIMIT", v)
		return
	}
	b, err := os.ReadFile(cgroupMemoryMax)
	if err != nil {
		return // not in a cgroup v2 container
	}
	limit, ok := parseMemoryMax(string(b))
	if !ok {
		return // "max": no limit
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	log.Info("memory limit from the container", "cgroup_memory_max_bytes", limit, "go_memory_limit_bytes", soft)
}

// parseMemoryMax reads memory.max: a byte count, or "max" for none.
func parseMemoryMax(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
