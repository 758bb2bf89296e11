# Long-running checks that are not part of scripts/test (CI runs the short
# versions of the chaos tests with the rest of the suite).

.PHONY: chaos

# chaos: the full-size chaos tests (crashes, rebalances, SIGTERM, outages,
# poison messages; -tags chaos selects their long versions), then a
# 10-minute fuzz run of the Debezium decoder. CHAOS_SEED=<n> replays other
# random choices; CHAOS_LOG_DIR=<dir> keeps the services' logs.
chaos:
	go test -tags chaos -count=1 -timeout 60m -run 'Chaos' -v ./tests/e2e/
	go test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=10m ./codecs/debezium/

.PHONY: realpg

# realpg: the real-PostgreSQL test at 30,000 committed changes in JSON and
# 15,000 in Avro (CI runs it at about 4,000 and 2,000).
realpg:
	PGSHOP_CHANGES=30000 go test -race -count=1 -timeout 30m -run TestRealPostgres -v ./tests/e2e/
