package mirror

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cdcflow/cdcflow/codecs/money"
	"github.com/cdcflow/cdcflow/processors/search"
	"github.com/cdcflow/cdcflow/sinks/dynamo"
)

// Indexes of the product-search-index table (CONTRACT §3).
const (
	SearchNameIndex       = "name-index"        // hash name_lower (S)
	SearchPriceIndex      = "price-index"       // hash price (N, cents)
	SearchPriceRangeIndex = "price-range-index" // hash price_shard (N), range price (N)
	// SearchPriceShards is the number of price_shard values (product_id mod
	// SearchPriceShards): a price range is one Query per shard.
	SearchPriceShards = 4
)

// SearchTable is the DynamoDB table of the search index: key product_id (N),
// GSIs name-index, price-index and price-range-index.
func SearchTable(name string) dynamo.TableSpec {
	return dynamo.TableSpec{
		Name: name, HashKey: "product_id", HashKeyType: types.ScalarAttributeTypeN,
		GSIs: []dynamo.GSI{
			{Name: SearchNameIndex, HashKey: "name_lower", HashType: types.ScalarAttributeTypeS},
			{Name: SearchPriceIndex, HashKey: "price", HashType: types.ScalarAttributeTypeN},
			{Name: SearchPriceRangeIndex, HashKey: "price_shard", HashType: types.ScalarAttributeTypeN,
				RangeKey: "price", RangeType: types.ScalarAttributeTypeN},
		},
	}
}

// SearchItem maps a search table entry to its DynamoDB item: a live document
// is put, a deleted one deleted; entries that are neither (or whose key is
// not a product id) are not mirrored. name_lower is omitted for an empty
// name (a secondary index key cannot be an empty string: the item is then
// simply absent from name-index) and search_tokens when there are none
// (DynamoDB rejects empty sets).
func SearchItem(key string, value interface{}) (dynamo.Item, bool) {
	d, ok := value.(*search.Doc)
	if !ok || d == nil {
		return dynamo.Item{}, false
	}
	pid, ok := search.ParseKey(key)
	if !ok {
		return dynamo.Item{}, false
	}
	id := strconv.FormatInt(pid, 10)
	keyAttrs := map[string]types.AttributeValue{"product_id": &types.AttributeValueMemberN{Value: id}}
	if !d.Live {
		if !d.Deleted {
			return dynamo.Item{}, false
		}
		return dynamo.Item{Key: key, Rev: d.Rev, Delete: true, KeyAttrs: keyAttrs}, true
	}
	attrs := map[string]types.AttributeValue{
		"product_id":     &types.AttributeValueMemberN{Value: id},
		"name":           &types.AttributeValueMemberS{Value: d.Name},
		"description":    &types.AttributeValueMemberS{Value: d.Description},
		"price":          &types.AttributeValueMemberN{Value: strconv.FormatInt(d.PriceCents, 10)},
		"price_display":  &types.AttributeValueMemberS{Value: "$" + money.Format(d.PriceCents)},
		"stock_quantity": &types.AttributeValueMemberN{Value: strconv.FormatInt(d.Stock, 10)},
		"indexed_at":     &types.AttributeValueMemberS{Value: search.IndexedAt(d.CDCTsMs)},
		"cdc_timestamp":  &types.AttributeValueMemberN{Value: strconv.FormatInt(d.CDCTsMs, 10)},
		"price_shard":    &types.AttributeValueMemberN{Value: strconv.FormatInt(pid%SearchPriceShards, 10)},
	}
	if lower := search.Lower(d.Name); lower != "" { // an index key cannot be an empty string
		attrs["name_lower"] = &types.AttributeValueMemberS{Value: lower}
	}
	if toks := search.Tokens(d); len(toks) > 0 { // DynamoDB rejects empty sets
		attrs["search_tokens"] = &types.AttributeValueMemberSS{Value: toks}
	}
	return dynamo.Item{Key: key, Rev: d.Rev, KeyAttrs: keyAttrs, Attrs: attrs}, true
}

// SearchCDCTime is the commit time (Unix ms) behind a search table entry.
func SearchCDCTime(value interface{}) int64 {
	if d, ok := value.(*search.Doc); ok && d != nil {
		return d.CDCTsMs
	}
	return 0
}
