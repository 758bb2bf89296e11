// Command search-indexer keeps a searchable product catalogue from the
// products change stream, mirrors it to DynamoDB and answers searches.
// Configuration: CONTRACT section 5.
package main

import (
	"os"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
)

func main() { os.Exit(app.Main(config.Search, app.Search)) }
