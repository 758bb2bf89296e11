package kafka

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// The migration trap. The default group ids (inventory-service-group, …)
// are the Python services' own, and a Goka processor starts each input
// partition at its group's committed offset. Started where a Python
// service ran, a service would therefore begin after everything the
// Python service had read: the Debezium snapshot and the history never
// reach its state (1 of 105 products known), and nothing says so. A group
// of this service never commits an input offset before the table writes
// of that record are acknowledged, so committed input offsets with an
// empty group table mean the offsets are someone else's (or the table was
// deleted): EmptyState finds that before the processor runs.

// EmptyState is a group that has committed input offsets while its group
// table holds nothing.
type EmptyState struct {
	Group string
	Table string // the group table's topic, <group>-table
	// TableMissing: the table topic does not exist (else it has no
	// record in any partition).
	TableMissing bool
	// Consumed is, per input topic with commits, how many of its records
	// lie before the committed offsets: what the processor would skip.
	Consumed map[string]int64
}

// Skipped is the total of Consumed.
func (e *EmptyState) Skipped() int64 {
	var n int64
	for _, c := range e.Consumed {
		n += c
	}
	return n
}

func (e *EmptyState) String() string {
	topics := make([]string, 0, len(e.Consumed))
	for t := range e.Consumed {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	var parts []string
	for _, t := range topics {
		parts = append(parts, fmt.Sprintf("%d records of %s", e.Consumed[t], t))
	}
	table := "has no records"
	if e.TableMissing {
		table = "does not exist"
	}
	return fmt.Sprintf("consumer group %s has committed offsets past %s, but its group table %s %s",
		e.Group, strings.Join(parts, ", "), e.Table, table)
}

// loopTopic is the group's loopback topic (Goka's naming).
func loopTopic(group string) string { return group + "-loop" }

// EmptyState reports whether group has committed offsets on inputs while
// its group table topic is missing or empty in every partition; nil when
// not (no commits, or state to go with them).
func (s *Settings) EmptyState(group string, inputs []string) (*EmptyState, error) {
	client, err := sarama.NewClient(s.Brokers, s.config(s.Sarama.ClientID+"-state-check"))
	if err != nil {
		return nil, fmt.Errorf("connect to kafka: %w", err)
	}
	defer client.Close()
	consumed, err := committedPast(client, group, inputs, sarama.OffsetOldest)
	if err != nil {
		return nil, err
	}
	if len(consumed) == 0 {
		return nil, nil
	}
	table := string(goka.GroupTable(goka.Group(group)))
	e := &EmptyState{Group: group, Table: table, Consumed: consumed}
	topics, err := client.Topics()
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	if !contains(topics, table) {
		e.TableMissing = true
		return e, nil
	}
	parts, err := client.Partitions(table)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", table, err)
	}
	for _, p := range parts {
		oldest, newest, err := bounds(client, table, p)
		if err != nil {
			return nil, err
		}
		if newest > oldest {
			return nil, nil // the table has state
		}
	}
	return e, nil
}

// committedPast returns, per topic, how many records lie between the start
// (sarama.OffsetOldest: the oldest record kept) and the group's committed
// offset, over the partitions where that is more than none.
func committedPast(client sarama.Client, group string, topics []string, from int64) (map[string]int64, error) {
	parts := map[string][]int32{}
	for _, t := range topics {
		ps, err := client.Partitions(t)
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", t, err)
		}
		parts[t] = ps
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	// Not admin.Close: it would close the shared client.
	resp, err := admin.ListConsumerGroupOffsets(group, parts)
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		return map[string]int64{}, nil // no commits (kfake says so; Kafka answers -1 offsets)
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	if resp.Err == sarama.ErrGroupIDNotFound {
		return map[string]int64{}, nil
	}
	if resp.Err != sarama.ErrNoError {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, resp.Err)
	}
	out := map[string]int64{}
	for t, ps := range parts {
		for _, p := range ps {
			b := resp.GetBlock(t, p)
			if b == nil || b.Offset < 0 {
				continue
			}
			if b.Err != sarama.ErrNoError {
				return nil, fmt.Errorf("committed offset of group %s on %s/%d: %w", group, t, p, b.Err)
			}
			start, err := client.GetOffset(t, p, from)
			if err != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", t, p, err)
			}
			if b.Offset > start {
				out[t] += b.Offset - start
			}
		}
	}
	return out, nil
}

func bounds(client sarama.Client, topic string, p int32) (oldest, newest int64, err error) {
	if oldest, err = client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
		return 0, 0, fmt.Errorf("oldest offset of %s/%d: %w", topic, p, err)
	}
	if newest, err = client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
		return 0, 0, fmt.Errorf("newest offset of %s/%d: %w", topic, p, err)
	}
	return oldest, newest, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ErrGroupActive is returned by Reprocess when the group has members (a
// consumer of it is still running): its offsets cannot be reset under it.
var ErrGroupActive = errors.New("the group has active members: stop every consumer of it (the Python service, other instances) first")

// Reprocess makes group read inputs from the start: it commits, for every
// partition of inputs, the oldest offset kept. Goka's loopback topic of the
// group, when the group has commits on it, is committed at its end: every
// loopback record derives from an input record, which is read again, and
// applying an old delta next to its new copy would count it twice. Other
// groups (the mirror's <group>-dynamodb, the archive's <group>-dlq-s3) are
// not touched: the mirror follows the rebuilt table, and its writes never
// move an item back.
//
// The commits are plain offset commits (generation -1), which a broker
// accepts only while the group has no members; otherwise ErrGroupActive.
func (s *Settings) Reprocess(group string, inputs []string) error {
	client, err := sarama.NewClient(s.Brokers, s.config(s.Sarama.ClientID+"-state-reset"))
	if err != nil {
		return fmt.Errorf("connect to kafka: %w", err)
	}
	defer client.Close()
	offsets := map[string]map[int32]int64{}
	for _, t := range inputs {
		ps, err := client.Partitions(t)
		if err != nil {
			return fmt.Errorf("partitions of %s: %w", t, err)
		}
		offsets[t] = map[int32]int64{}
		for _, p := range ps {
			o, err := client.GetOffset(t, p, sarama.OffsetOldest)
			if err != nil {
				return fmt.Errorf("oldest offset of %s/%d: %w", t, p, err)
			}
			offsets[t][p] = o
		}
	}
	loop := loopTopic(group)
	if topics, err := client.Topics(); err != nil {
		return fmt.Errorf("list topics: %w", err)
	} else if contains(topics, loop) {
		committed, err := committedPast(client, group, []string{loop}, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		if committed[loop] > 0 {
			ps, err := client.Partitions(loop)
			if err != nil {
				return fmt.Errorf("partitions of %s: %w", loop, err)
			}
			offsets[loop] = map[int32]int64{}
			for _, p := range ps {
				o, err := client.GetOffset(loop, p, sarama.OffsetNewest)
				if err != nil {
					return fmt.Errorf("newest offset of %s/%d: %w", loop, p, err)
				}
				offsets[loop][p] = o
			}
		}
	}
	if err := client.RefreshCoordinator(group); err != nil {
		return fmt.Errorf("coordinator of group %s: %w", group, err)
	}
	coord, err := client.Coordinator(group)
	if err != nil {
		return fmt.Errorf("coordinator of group %s: %w", group, err)
	}
	req := &sarama.OffsetCommitRequest{
		Version:                 2, // generation and member id; every broker since 0.9 and Kafka 4 accept it
		ConsumerGroup:           group,
		ConsumerGroupGeneration: -1, // a commit from outside the group
		RetentionTime:           -1, // the broker's default
	}
	for t, ps := range offsets {
		for p, o := range ps {
			req.AddBlock(t, p, o, 0, "")
		}
	}
	resp, err := coord.CommitOffset(req)
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	for t, ps := range resp.Errors {
		for p, kerr := range ps {
			switch kerr {
			case sarama.ErrNoError:
			case sarama.ErrUnknownMemberId, sarama.ErrIllegalGeneration, sarama.ErrRebalanceInProgress:
				return fmt.Errorf("reset offsets of group %s: %w (%v)", group, ErrGroupActive, kerr)
			default:
				return fmt.Errorf("reset offset of group %s on %s/%d: %w", group, t, p, kerr)
			}
		}
	}
	return nil
}

// ClearLocalState removes the local copies of the tables under stateDir
// (STATE_DIR's tables/ and views/, as New lays them out) and nothing else.
// Reprocess makes them stale: a group table that is missing or empty in
// Kafka has nothing a local copy could match, and Goka refuses a local
// copy ahead of its topic ("local offset is higher than partition offset").
func ClearLocalState(stateDir string) error {
	for _, sub := range []string{"tables", "views"} {
		dir := filepath.Join(stateDir, sub)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("STATE_DIR: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("STATE_DIR: %w", err)
		}
	}
	return nil
}
