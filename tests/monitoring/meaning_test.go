package monitoring

import "testing"

// TestConsumerMetricsMeaning checks the Python services' metrics against
// what the services did in the scrape's run: every input record is
// processed or failed, and timed; the one undecodable record per input
// topic is a failed record and an error of type decode, archived to S3 as
// one object; the DynamoDB mirrors wrote items; and each group's lag is
// reported per partition of each topic it reads.
func TestConsumerMetricsMeaning(t *testing.T) {
	sc := scrapeServices(t)
	for _, svc := range services {
		f := sc[svc]
		handled := sum(f["cdc_messages_total"])
		poison := float64(len(reads[svc]))
		check := func(what string, got, want float64) {
			t.Helper()
			if got != want {
				t.Errorf("%s: %s = %v, want %v", svc, what, got, want)
			}
		}
		check("processed + failed records", sum(f["consumer_messages_processed_total"])+sum(f["consumer_messages_failed_total"]), handled)
		check("records timed (consumer_processing_duration_seconds)", sum(f["consumer_processing_duration_seconds"]), handled)
		check("failed records of type decode", sum(f["consumer_messages_failed_total"], "error_type", "decode"), poison)
		check("all failed records", sum(f["consumer_messages_failed_total"]), poison)
		check("consumer_errors_total of type decode", sum(f["consumer_errors_total"], "error_type", "decode"), poison)
		check("dead letters written to the DLQ bucket", sum(f["consumer_s3_writes_total"], "bucket", dlqBucket), sum(f["dlq_s3_archived_total"]))
		if svc != "analytics-service" && sum(f["consumer_dynamodb_writes_total"]) == 0 {
			t.Errorf("%s: consumer_dynamodb_writes_total is 0 after the mirror wrote", svc)
		}
		for _, topic := range reads[svc] {
			check("consumer_lag series of "+topic, float64(len(filter(f["consumer_lag"].GetMetric(), "topic", topic, "consumer_group", svc+"-group"))), 3)
		}
	}
}
