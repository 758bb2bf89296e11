package mirror

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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

// PriceRange returns the ids (ascending) of the products in the search table
// whose price in cents lies in [minCents, maxCents]: one paginated Query of
// price-range-index per price shard, never a Scan.
func PriceRange(ctx context.Context, client dynamodb.QueryAPIClient, table string, minCents, maxCents int64) ([]int64, error) {
	if minCents > maxCents {
		return nil, nil
	}
	var ids []int64
	for shard := range int64(SearchPriceShards) {
		in := &dynamodb.QueryInput{
			TableName:              aws.String(table),
			IndexName:              aws.String(SearchPriceRangeIndex),
			KeyConditionExpression: aws.String("#s = :s AND #p BETWEEN :lo AND :hi"),
			ExpressionAttributeNames: map[string]string{
				"#s": "price_shard", "#p": "price", "#id": "product_id",
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":s":  &types.AttributeValueMemberN{Value: strconv.FormatInt(shard, 10)},
				":lo": &types.AttributeValueMemberN{Value: strconv.FormatInt(minCents, 10)},
				":hi": &types.AttributeValueMemberN{Value: strconv.FormatInt(maxCents, 10)},
			},
			ProjectionExpression: aws.String("#id"),
		}
		pages := dynamodb.NewQueryPaginator(client, in)
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("price range [%d, %d] of %s: query shard %d: %w", minCents, maxCents, table, shard, err)
			}
			for _, item := range out.Items {
				n, ok := item["product_id"].(*types.AttributeValueMemberN)
				if !ok {
					return nil, fmt.Errorf("price range of %s: item without a numeric product_id", table)
				}
				id, err := strconv.ParseInt(n.Value, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("price range of %s: product_id %q: %w", table, n.Value, err)
				}
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids, nil
}
