package kafka

import (
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// Two instances of a service that start together both find their group
// table (or loopback, alert, dead-letter topic) missing and both create it;
// the one that comes second gets TOPIC_ALREADY_EXISTS, which Goka returns as
// an error (flattened into text), and that instance stopped at start. The
// topic then exists, which is all that was asked for: these helpers
// ensure it once more, which checks its partition count instead.

// topicRaceRetries bounds the re-checks after a lost creation race: the
// topic may take a moment to appear in the metadata.
const topicRaceRetries = 10

// lostCreationRace reports whether err says the topic was created by
// someone else meanwhile.
func lostCreationRace(err error) bool {
	return err != nil && strings.Contains(err.Error(), sarama.ErrTopicAlreadyExists.Error())
}

// ensureTolerant runs ensure again while it fails because another client
// created the topic first.
func ensureTolerant(ensure func() error) error {
	err := ensure()
	for i := 0; i < topicRaceRetries && lostCreationRace(err); i++ {
		time.Sleep(time.Duration(i+1) * 50 * time.Millisecond)
		err = ensure()
	}
	return err
}

// raceTolerantTopics is a Goka topic manager whose Ensure* calls accept a
// topic created concurrently by another instance.
type raceTolerantTopics struct{ goka.TopicManager }

func (t raceTolerantTopics) EnsureTableExists(topic string, npar int) error {
	return ensureTolerant(func() error { return t.TopicManager.EnsureTableExists(topic, npar) })
}

func (t raceTolerantTopics) EnsureStreamExists(topic string, npar int) error {
	return ensureTolerant(func() error { return t.TopicManager.EnsureStreamExists(topic, npar) })
}

func (t raceTolerantTopics) EnsureTopicExists(topic string, npar, rfactor int, config map[string]string) error {
	return ensureTolerant(func() error { return t.TopicManager.EnsureTopicExists(topic, npar, rfactor, config) })
}

// topicManagerBuilder builds the service's Goka topic managers.
func (s *Settings) topicManagerBuilder() goka.TopicManagerBuilder {
	inner := goka.TopicManagerBuilderWithConfig(s.Sarama, s.TopicConfig)
	return func(brokers []string) (goka.TopicManager, error) {
		tm, err := inner(brokers)
		if err != nil {
			return nil, err
		}
		return raceTolerantTopics{tm}, nil
	}
}
