package mirror

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cdcflow/cdcflow/codecs/money"
	"github.com/cdcflow/cdcflow/processors/inventory"
	"github.com/cdcflow/cdcflow/sinks/dynamo"
)

// InventoryTable is the DynamoDB table of the inventory (CONTRACT §3).
func InventoryTable(name string) dynamo.TableSpec {
	return dynamo.TableSpec{Name: name, HashKey: "product_id", HashKeyType: types.ScalarAttributeTypeN}
}

// InventoryItem maps an inventory table entry to its DynamoDB item: live
// products are put, deleted ones deleted, order lines not mirrored.
func InventoryItem(key string, value interface{}) (dynamo.Item, bool) {
	p, ok := value.(*inventory.Product)
	if !ok || p == nil {
		return dynamo.Item{}, false
	}
	n, ok := inventory.ParseProductKey(key)
	if !ok {
		return dynamo.Item{}, false
	}
	id := strconv.FormatInt(n, 10)
	keyAttrs := map[string]types.AttributeValue{"product_id": &types.AttributeValueMemberN{Value: id}}
	if !p.Live {
		if !p.Deleted {
			return dynamo.Item{}, false // only order lines seen so far
		}
		return dynamo.Item{Key: key, Rev: p.Rev, Delete: true, KeyAttrs: keyAttrs}, true
	}
	return dynamo.Item{Key: key, Rev: p.Rev, KeyAttrs: keyAttrs, Attrs: map[string]types.AttributeValue{
		"product_id":     &types.AttributeValueMemberN{Value: id},
		"name":           &types.AttributeValueMemberS{Value: p.Name},
		"description":    &types.AttributeValueMemberS{Value: p.Description},
		"price":          &types.AttributeValueMemberS{Value: money.Format(p.PriceCents)},
		"stock_quantity": &types.AttributeValueMemberN{Value: strconv.FormatInt(p.Available(), 10)},
		"last_updated":   &types.AttributeValueMemberS{Value: time.UnixMilli(p.CDCTsMs).UTC().Format(time.RFC3339)},
		"cdc_timestamp":  &types.AttributeValueMemberN{Value: strconv.FormatInt(p.CDCTsMs, 10)},
	}}, true
}

// InventoryCDCTime is the commit time of the newest change behind an
// inventory entry: a product version or an order line.
func InventoryCDCTime(value interface{}) int64 {
	if p, ok := value.(*inventory.Product); ok && p != nil {
		return p.NewestTsMs()
	}
	return 0
}
