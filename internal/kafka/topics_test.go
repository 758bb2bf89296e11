package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/tools/embedded"
)

// TestConcurrentInstancesCreateTheirTopics starts the topic managers of
// several instances of a service at once against one broker, as a
// deployment starting its replicas together does: every instance must find
// its group table and streams ready, none may fail because another one
// created a topic first. (Without the tolerance all but one failed with
// "Topic with this name already exists" and the instance stopped.)
func TestConcurrentInstancesCreateTheirTopics(t *testing.T) {
	k, err := embedded.StartKafka(embedded.KafkaOptions{Topics: []string{"dbserver1.public.products"}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	for round := range 5 {
		const instances = 6
		var wg sync.WaitGroup
		errs := make([]error, instances)
		for i := range instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg, err := config.Load(config.Inventory, func(key string) (string, bool) {
					if key == "KAFKA_BOOTSTRAP_SERVERS" {
						return k.Brokers()[0], true
					}
					return "", false
				})
				if err != nil {
					errs[i] = err
					return
				}
				cfg.KafkaVersion = embedded.SaramaVersion()
				s, err := New(cfg, true)
				if err != nil {
					errs[i] = err
					return
				}
				tm, err := s.topicManagerBuilder()(s.Brokers)
				if err != nil {
					errs[i] = err
					return
				}
				defer tm.Close()
				if err := tm.EnsureTableExists(fmt.Sprintf("group-%d-table", round), 3); err != nil {
					errs[i] = err
					return
				}
				errs[i] = s.EnsureStreams("dbserver1.public.products", fmt.Sprintf("alerts-%d", round))
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// TestLostCreationRaceIsRetried checks the tolerance itself: an ensure that
// loses the creation race is asked again, and other errors are returned.
func TestLostCreationRaceIsRetried(t *testing.T) {
	calls := 0
	tm := raceTolerantTopics{fakeTopics{ensure: func() error {
		calls++
		if calls == 1 {
			return fmt.Errorf("error creating topic x, npar=3: %v", sarama.ErrTopicAlreadyExists)
		}
		return nil
	}}}
	if err := tm.EnsureTableExists("x", 3); err != nil || calls != 2 {
		t.Fatalf("EnsureTableExists after a lost race: %v after %d calls, want nil after 2", err, calls)
	}
	other := errors.New("partition count mismatch")
	tm = raceTolerantTopics{fakeTopics{ensure: func() error { return other }}}
	if err := tm.EnsureStreamExists("x", 3); !errors.Is(err, other) {
		t.Fatalf("EnsureStreamExists = %v, want %v", err, other)
	}
}

type fakeTopics struct {
	goka.TopicManager
	ensure func() error
}

func (f fakeTopics) EnsureTableExists(string, int) error  { return f.ensure() }
func (f fakeTopics) EnsureStreamExists(string, int) error { return f.ensure() }

// TestJoinOutlastsARebalance checks that a JoinGroup can wait for the
// longest rebalance the coordinator may hold it in: Sarama reads each
// response with Net.ReadTimeout, and a join that waited longer failed with
// "i/o timeout" and stopped the service (seen in the chaos tests: an
// instance restarted right after a crash exited 30 s later).
func TestJoinOutlastsARebalance(t *testing.T) {
	cfg, err := config.Load(config.Analytics, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if r, read := s.Sarama.Consumer.Group.Rebalance.Timeout, s.Sarama.Net.ReadTimeout; r+5*time.Second > read {
		t.Fatalf("rebalance timeout %v, read timeout %v: a join waiting out a rebalance times out", r, read)
	}
}

// TestConsumeRetriesATimedOutJoin checks that a session which could not
// start because the coordinator's answer timed out is tried again instead
// of ending the processor, and that other errors still end it.
func TestConsumeRetriesATimedOutJoin(t *testing.T) {
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	g := &fakeGroup{errs: []error{timeout, nil}}
	if err := (orderedGroup{g}).Consume(context.Background(), []string{"t"}, nil); err != nil || g.calls != 2 {
		t.Fatalf("Consume after a timed-out join: %v after %d calls, want nil after 2", err, g.calls)
	}
	other := sarama.ErrInvalidTopic
	g = &fakeGroup{errs: []error{other, nil}}
	if err := (orderedGroup{g}).Consume(context.Background(), []string{"t"}, nil); !errors.Is(err, other) || g.calls != 1 {
		t.Fatalf("Consume = %v after %d calls, want %v after 1", err, g.calls, other)
	}
}

type fakeGroup struct {
	sarama.ConsumerGroup
	errs  []error
	calls int
}

func (g *fakeGroup) Consume(context.Context, []string, sarama.ConsumerGroupHandler) error {
	err := g.errs[g.calls]
	g.calls++
	return err
}
