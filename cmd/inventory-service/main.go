// Command inventory-service keeps the available stock of every product from
// the products and order_items change streams, mirrors it to DynamoDB and
// answers stock queries. Configuration: CONTRACT section 5.
package main

import (
	"os"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
)

func main() { os.Exit(app.Main(config.Inventory, app.Inventory)) }
