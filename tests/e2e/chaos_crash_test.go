package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// chaosCrashSize sizes the crash scenario: the short version runs in CI,
// the long one under -tags chaos (make chaos).
func chaosCrashSize() (changes, kills int, feed time.Duration) {
	if chaosLong {
		return 50_000, 6, 100 * time.Second
	}
	// The stream outlasts the kills (each costs about 10 s: the broker
	// expires the dead member's session before the restart can join), so
	// that the last restart still has changes to apply.
	return 8_000, 2, 34 * time.Second
}

// TestChaosCrash proves that SIGKILL at any moment loses nothing and counts
// nothing twice. For each service binary, a stream of changes with
// connector replays is produced progressively while the service runs;
// the service is killed with SIGKILL at seeded random moments (after a
// random delay from its readiness, and in the long version once while it
// is still recovering) and restarted each time, with its STATE_DIR kept
// for some restarts (recovery from local LevelDB plus the changelog) and
// wiped for at least one (recovery from the Kafka changelog alone). Once
// every group has consumed everything, the final DynamoDB items, S3
// reports and API answers must equal the oracle exactly, and stay so.
func TestChaosCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n, kills, feed := chaosCrashSize()
	for _, tc := range []struct {
		name  string
		setup func(*testing.T, uint64, int) *chaosTarget
		seed  uint64
	}{
		{"inventory", chaosInventory, 101},
		{"analytics", chaosAnalytics, 102},
		{"search", chaosSearch, 103},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seed := chaosSeed(t, tc.seed)
			chaosCrash(t, tc.setup(t, seed, n), seed, kills, feed)
		})
	}
}

// chaosCrash runs the crash scenario against one target.
func chaosCrash(t *testing.T, c *chaosTarget, seed uint64, kills int, feed time.Duration) {
	began := time.Now()
	rng := chaosRand(seed)
	// Which restarts wipe the STATE_DIR: about a third, at least one, but
	// never the last one: the last restart keeps it, after a process that
	// has itself recovered tables and stored them locally, so that the
	// local state it finds is not empty and matters for what is left.
	wipe := make([]bool, kills)
	for i := range wipe[:kills-1] {
		wipe[i] = rng.IntN(3) == 0
	}
	if kills > 1 && !slices.Contains(wipe, true) {
		wipe[rng.IntN(kills-1)] = true
	}
	// In the long version, one kill lands while the service recovers.
	recovering := -1
	if chaosLong {
		recovering = 1 + rng.IntN(kills-1)
	}
	t.Logf("%s: %d changes on %s (%d records with replays and tombstones), %d kills, wipes %v, produced over %v",
		c.binary, c.changes, strings.Join(c.inputs, ", "), len(c.records), kills, wipe, feed)

	f := chaosProduce(t, c.k, c.records, feed)
	p := c.start(t, c.binary, nil)
	c.nudge(t, func() []*procService { return []*procService{p} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Scraping(ctx)
	midStream := 0
	for i := range kills {
		var when string
		if i == recovering {
			d := chaosBetween(rng, 500*time.Millisecond, 8*time.Second)
			time.Sleep(d)
			when = fmt.Sprintf("%v after its start, recovering (ready: %v)", d.Round(time.Millisecond), procGet(p.URL()+"/readyz") == 200)
		} else {
			ready := p.WaitReady(3 * time.Minute)
			d := chaosBetween(rng, 300*time.Millisecond, 4*time.Second)
			time.Sleep(d)
			when = fmt.Sprintf("%v after it was ready (ready %v after its start)", d.Round(time.Millisecond), ready.Round(time.Millisecond))
		}
		// A service that keeps up commits everything between two chunks
		// of the feed: while the feed goes on, wait (briefly) for input
		// in flight, so that the kill lands mid-stream.
		lag, err := procLag(t, c.k, c.group, c.inputs...)
		for deadline := time.Now().Add(5 * time.Second); err == nil && lag == 0 && !f.finished() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			lag, err = procLag(t, c.k, c.group, c.inputs...)
		}
		if err != nil {
			t.Fatal(err)
		}
		if lag > 0 {
			midStream++
		}
		p.Kill()
		p.mu.Lock()
		handled := p.handled[len(p.handled)-1]
		p.mu.Unlock()
		t.Logf("kill %d/%d at +%v: SIGKILL %s; %d input records produced, %d not yet committed; the killed process had handled ≥%d CDC records; restart with %s STATE_DIR",
			i+1, kills, time.Since(began).Round(time.Millisecond), when, f.produced.Load(), lag, handled,
			map[bool]string{true: "a wiped", false: "the same"}[wipe[i]])
		p.Restart(wipe[i])
	}
	if midStream < (kills+1)/2 {
		t.Errorf("only %d of %d kills happened with input left to consume: the kills were not mid-stream", midStream, kills)
	}
	f.wait(t, 5*time.Minute)
	p.WaitReady(3 * time.Minute)
	c.verify(t, p.URL(), 5*time.Minute, p)
	handled := p.Handled()
	t.Logf("SUMMARY %s crash: %d changes, %d input records, %d kills (%d mid-stream, %d with a wiped STATE_DIR), %d processes, ≥%d CDC records handled in all (≥%d handled again after crashes), %v",
		c.binary, c.changes, len(c.records), kills, midStream, chaosCount(wipe), p.Runs(), handled, max(0, handled-len(c.records)),
		time.Since(began).Round(100*time.Millisecond))
}

func chaosCount(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
