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

// Where the container's memory limit is: cgroup v2, then v1 (Amazon Linux
// 2 nodes still run v1).
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// noLimit: cgroup v1 states "no limit" as a page-rounded MaxInt64; anything
// above 1 PiB is no limit.
const noLimit = 1 << 50

// SetMemoryLimit gives the Go runtime a soft memory limit of
// memoryLimitShare of the container's (cgroup v2 memory.max or v1
// memory.limit_in_bytes) unless GOMEMLIMIT sets one, and logs what it did.
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
	for _, f := range cgroupMemoryFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // not this cgroup version, or not in a container
		}
		limit, ok := parseMemoryMax(string(b))
		if !ok {
			return // no limit
		}
		soft := int64(float64(limit) * memoryLimitShare)
		debug.SetMemoryLimit(soft)
		log.Info("memory limit from the container", "cgroup_file", f, "limit_bytes", limit, "go_memory_limit_bytes", soft)
		return
	}
}

// parseMemoryMax reads a cgroup memory limit: a byte count, or "max" (v2)
// or a value near MaxInt64 (v1) for none.
func parseMemoryMax(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= noLimit {
		return 0, false
	}
	return n, true
}
