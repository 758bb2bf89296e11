// Command analytics-service keeps sales analytics over the orders and
// order_items change streams in Kafka-backed tables, serves the reports and
// flushes them to S3. Configuration: CONTRACT section 5.
package main

import (
	"os"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
)

func main() { os.Exit(app.Main(config.Analytics, app.Analytics)) }
