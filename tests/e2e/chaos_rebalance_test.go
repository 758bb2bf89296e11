package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chaosRebalanceSize sizes the rebalance scenario.
func chaosRebalanceSize() (changes int, feed time.Duration) {
	if chaosLong {
		return 50_000, 90 * time.Second
	}
	return 8_000, 24 * time.Second
}

// TestChaosRebalance proves that a killed instance's partitions move to the
// other instances of its group without loss or double counting. Two
// instances of a service (own STATE_DIR and port each) share the group's
// partitions while a stream of changes is produced; once both own
// partitions, one is killed with SIGKILL mid-stream (for the
// analytics-service, the one owning partition 0, which writes the S3
// reports, so that the survivor must take the reports over). The survivor
// must take over every partition of the processor group, and the end
// state (DynamoDB, S3, API) must equal the oracle exactly.
func TestChaosRebalance(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n, feed := chaosRebalanceSize()
	for _, tc := range []struct {
		name  string
		setup func(*testing.T, uint64, int) *chaosTarget
		seed  uint64
	}{
		{"inventory", chaosInventory, 301},
		{"analytics", chaosAnalytics, 302},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seed := chaosSeed(t, tc.seed)
			chaosRebalance(t, tc.setup(t, seed, n), seed, feed)
		})
	}
}

func chaosRebalance(t *testing.T, c *chaosTarget, seed uint64, feed time.Duration) {
	began := time.Now()
	rng := chaosRand(seed)
	t.Logf("%s: %d changes on %s (%d records with replays and tombstones), produced over %v",
		c.binary, c.changes, strings.Join(c.inputs, ", "), len(c.records), feed)
	f := chaosProduce(t, c.k, c.records, feed)
	a := c.start(t, c.binary+"-a", nil)
	b := c.start(t, c.binary+"-b", nil)
	insts := []*procService{a, b}
	c.nudge(t, func() []*procService { return insts })
	a.WaitReady(2 * time.Minute)
	b.WaitReady(2 * time.Minute)

	// Both instances own part of the group's partitions.
	topic := c.inputs[0]
	var gen int
	owned := map[*procService][]int32{}
	chaosEventually(t, time.Minute, func() string {
		gen, owned = 0, map[*procService][]int32{}
		var all []int32
		for _, p := range insts {
			g, parts, ok := procClaims(p.current().log, c.group, topic)
			if !ok || len(parts) == 0 {
				return fmt.Sprintf("%s owns no partition of %s yet", p.label, topic)
			}
			if gen != 0 && g != gen {
				return fmt.Sprintf("instances in generations %d and %d", gen, g)
			}
			gen, owned[p] = g, parts
			all = append(all, parts...)
		}
		slices.Sort(all)
		if !slices.Equal(all, []int32{0, 1, 2}) {
			return fmt.Sprintf("partitions of %s owned: %v", topic, all)
		}
		return ""
	}, a, b)
	if c.mirror {
		// The mirror groups too: both instances copy part of the table
		// to DynamoDB when the victim dies, so the survivor's mirror must
		// take partitions over as well.
		mg, mt := c.group+"-dynamodb", c.group+"-table"
		chaosEventually(t, time.Minute, func() string {
			var all []int32
			for _, p := range insts {
				_, parts, _ := procClaims(p.current().log, mg, mt)
				all = append(all, parts...)
			}
			slices.Sort(all)
			if !slices.Equal(all, []int32{0, 1, 2}) {
				return fmt.Sprintf("partitions of %s owned by the mirrors: %v", mt, all)
			}
			return ""
		}, a, b)
	}
	t.Logf("+%v generation %d: %s owns %v, %s owns %v of %s", time.Since(began).Round(time.Millisecond), gen, a.label, owned[a], b.label, owned[b], topic)

	victim, survivor := a, b
	if rng.IntN(2) == 1 {
		victim, survivor = b, a
	}
	if c.s3c != nil {
		// The owner of partition 0 writes the reports, the other none.
		if slices.Contains(owned[b], 0) {
			victim, survivor = b, a
		} else {
			victim, survivor = a, b
		}
		// (Before the split, either may have led alone.) Over the next
		// flushes, the leader writes and the other does not.
		flushes := func(p *procService) float64 {
			v, _ := procMetric(p.URL(), `analytics_s3_flushes_total{result="ok"}`)
			return v
		}
		time.Sleep(1500 * time.Millisecond) // a flush begun before the split ends
		leader0, other0 := flushes(victim), flushes(survivor)
		chaosEventually(t, 30*time.Second, func() string {
			if v, _ := procMetric(victim.URL(), "analytics_s3_leader"); v != 1 {
				return fmt.Sprintf("%s owns partition 0 but analytics_s3_leader is %v", victim.label, v)
			}
			if n := flushes(victim) - leader0; n < 2 {
				return fmt.Sprintf("%s leads but flushed %v times since the split", victim.label, n)
			}
			return ""
		}, a, b)
		if v, _ := procMetric(survivor.URL(), "analytics_s3_leader"); v != 0 {
			t.Fatalf("%s does not own partition 0 but analytics_s3_leader is %v", survivor.label, v)
		}
		if n := flushes(survivor) - other0; n != 0 {
			t.Fatalf("%s does not own partition 0 but flushed %v times since the split", survivor.label, n)
		}
	}
	time.Sleep(chaosBetween(rng, 500*time.Millisecond, 3*time.Second))
	lag, err := procLag(t, c.k, c.group, c.inputs...)
	if err != nil {
		t.Fatal(err)
	}
	if f.produced.Load() >= int64(len(c.records)) && lag == 0 {
		t.Fatalf("the stream was consumed before the kill; the test needs a longer feed")
	}
	handled := victim.Handled()
	victim.Kill()
	killed := time.Now()
	t.Logf("SIGKILL %s at +%v: %d of %d input records produced, %d not yet committed, the victim had handled ≥%d",
		victim.label, killed.Sub(began).Round(time.Millisecond), f.produced.Load(), len(c.records), lag, handled)

	// The survivor takes every partition over.
	chaosEventually(t, 2*time.Minute, func() string {
		g, parts, _ := procClaims(survivor.current().log, c.group, topic)
		if g <= gen || !slices.Equal(parts, []int32{0, 1, 2}) {
			return fmt.Sprintf("%s owns %v in generation %d", survivor.label, parts, g)
		}
		gen = g
		return ""
	}, survivor)
	t.Logf("%s owns every partition of %s in generation %d, %v after the kill", survivor.label, topic, gen, time.Since(killed).Round(100*time.Millisecond))
	if c.s3c != nil {
		chaosEventually(t, time.Minute, func() string {
			if v, _ := procMetric(survivor.URL(), "analytics_s3_leader"); v != 1 {
				return fmt.Sprintf("%s owns partition 0 but analytics_s3_leader is %v", survivor.label, v)
			}
			return ""
		}, survivor)
	}

	f.wait(t, 3*time.Minute)
	c.verify(t, survivor.URL(), 4*time.Minute, survivor)
	t.Logf("SUMMARY %s rebalance: %d changes, %d input records, 2 instances (%v / %v of %d partitions), %s killed at +%v with %d records uncommitted, survivor took all partitions over; ≥%d + ≥%d CDC records handled, %v",
		c.binary, c.changes, len(c.records), len(owned[a]), len(owned[b]), 3, victim.label, killed.Sub(began).Round(time.Millisecond), lag,
		a.Handled(), b.Handled(), time.Since(began).Round(100*time.Millisecond))
}

// procClaimsLine matches Goka's log line of a processor's new assignment.
var (
	procClaimsLine  = regexp.MustCompile(`^\[Processor ([^\]]+)\] setup generation (\d+), claims=map\[string\]\[\]int32\{(.*)\}$`)
	procClaimsTopic = regexp.MustCompile(`"([^"]+)":\[\]int32\{([0-9, ]*)\}`)
)

// procClaims returns the latest generation of a Goka processor group in a
// service's log and the partitions of topic it was given then.
func procClaims(logPath, group, topic string) (gen int, parts []int32, ok bool) {
	f, err := os.Open(logPath)
	if err != nil {
		return 0, nil, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		m := procClaimsLine.FindStringSubmatch(line.Msg)
		if m == nil || m[1] != group {
			continue
		}
		g, _ := strconv.Atoi(m[2])
		var ps []int32
		for _, tm := range procClaimsTopic.FindAllStringSubmatch(m[3], -1) {
			if tm[1] != topic {
				continue
			}
			for _, s := range strings.Split(tm[2], ",") {
				if s = strings.TrimSpace(s); s != "" {
					n, _ := strconv.Atoi(s)
					ps = append(ps, int32(n))
				}
			}
		}
		slices.Sort(ps)
		gen, parts, ok = g, ps, true
	}
	return gen, parts, ok
}
