package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cdcflow/cdcflow/sinks/retry"
)

// TableSpec describes a table with a hash key and global secondary indexes.
type TableSpec struct {
	Name        string
	HashKey     string
	HashKeyType types.ScalarAttributeType
	GSIs        []GSI
	// Logger receives warnings about an existing table that lacks indexes of
	// the spec. Default slog.Default().
	Logger *slog.Logger
}

// GSI describes a global secondary index, projecting all attributes.
// RangeKey is optional.
type GSI struct {
	Name      string
	HashKey   string
	HashType  types.ScalarAttributeType
	RangeKey  string
	RangeType types.ScalarAttributeType
}

// tableWaitDefault bounds the wait for a table to turn ACTIVE when ctx has
// no deadline.
const tableWaitDefault = 5 * time.Minute

// EnsureTable creates the table of spec when it is missing (on-demand
// billing, with its GSIs, projection ALL) and waits until the table and its
// indexes are ACTIVE. An existing table is left as it is, after checking its
// hash key; indexes of the spec it lacks are logged, not added. Errors name
// the table.
func EnsureTable(ctx context.Context, client *dynamodb.Client, spec TableSpec) error {
	if client == nil {
		return fmt.Errorf("ensure table %q: nil client", spec.Name)
	}
	return ensureTable(ctx, client, spec)
}

// tableAPI is the part of the DynamoDB client EnsureTable uses.
type tableAPI interface {
	dynamodb.DescribeTableAPIClient
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
}

func ensureTable(ctx context.Context, client tableAPI, spec TableSpec) error {
	log := spec.Logger
	if log == nil {
		log = slog.Default()
	}
	in, err := createTableInput(spec)
	if err != nil {
		return fmt.Errorf("ensure table %q: %w", spec.Name, err)
	}
	desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(spec.Name)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		_, err := client.CreateTable(ctx, in)
		var inUse *types.ResourceInUseException
		switch {
		case errors.As(err, &inUse):
			log.Info("dynamodb table is being created by someone else; waiting", "table", spec.Name)
		case err != nil:
			return fmt.Errorf("ensure table %q: create: %w", spec.Name, err)
		default:
			log.Info("created dynamodb table", "table", spec.Name, "gsis", len(spec.GSIs))
		}
	case err != nil:
		return fmt.Errorf("ensure table %q: describe: %w", spec.Name, err)
	default:
		if err := checkExisting(desc.Table, spec, log); err != nil {
			return fmt.Errorf("ensure table %q: %w", spec.Name, err)
		}
	}
	return waitActive(ctx, client, spec)
}

// createTableInput builds the CreateTable request of spec, validating it.
func createTableInput(spec TableSpec) (*dynamodb.CreateTableInput, error) {
	if spec.Name == "" || spec.HashKey == "" || spec.HashKeyType == "" {
		return nil, errors.New("TableSpec needs Name, HashKey and HashKeyType")
	}
	attrs := map[string]types.ScalarAttributeType{}
	var defs []types.AttributeDefinition
	define := func(name string, typ types.ScalarAttributeType) error {
		if t, ok := attrs[name]; ok {
			if t != typ {
				return fmt.Errorf("attribute %q declared as both %s and %s", name, t, typ)
			}
			return nil
		}
		attrs[name] = typ
		defs = append(defs, types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: typ})
		return nil
	}
	if err := define(spec.HashKey, spec.HashKeyType); err != nil {
		return nil, err
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(spec.Name),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   []types.KeySchemaElement{{AttributeName: aws.String(spec.HashKey), KeyType: types.KeyTypeHash}},
	}
	names := map[string]bool{}
	for _, g := range spec.GSIs {
		if g.Name == "" || g.HashKey == "" || g.HashType == "" {
			return nil, fmt.Errorf("GSI %q needs Name, HashKey and HashType", g.Name)
		}
		if names[g.Name] {
			return nil, fmt.Errorf("GSI %q declared twice", g.Name)
		}
		names[g.Name] = true
		if err := define(g.HashKey, g.HashType); err != nil {
			return nil, fmt.Errorf("GSI %q: %w", g.Name, err)
		}
		ks := []types.KeySchemaElement{{AttributeName: aws.String(g.HashKey), KeyType: types.KeyTypeHash}}
		if g.RangeKey != "" {
			if g.RangeType == "" {
				return nil, fmt.Errorf("GSI %q: RangeKey %q without RangeType", g.Name, g.RangeKey)
			}
			if err := define(g.RangeKey, g.RangeType); err != nil {
				return nil, fmt.Errorf("GSI %q: %w", g.Name, err)
			}
			ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(g.RangeKey), KeyType: types.KeyTypeRange})
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(g.Name),
			KeySchema:  ks,
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	in.AttributeDefinitions = defs
	return in, nil
}

// checkExisting verifies an existing table's hash key and reports missing
// indexes.
func checkExisting(t *types.TableDescription, spec TableSpec, log *slog.Logger) error {
	if t == nil {
		return errors.New("describe: no table description")
	}
	var hash string
	for _, k := range t.KeySchema {
		if k.KeyType == types.KeyTypeHash {
			hash = aws.ToString(k.AttributeName)
		}
	}
	if hash != spec.HashKey {
		return fmt.Errorf("exists with hash key %q, want %q", hash, spec.HashKey)
	}
	for _, d := range t.AttributeDefinitions {
		if aws.ToString(d.AttributeName) == spec.HashKey && d.AttributeType != spec.HashKeyType {
			return fmt.Errorf("exists with hash key %q of type %s, want %s", hash, d.AttributeType, spec.HashKeyType)
		}
	}
	have := map[string]bool{}
	for _, g := range t.GlobalSecondaryIndexes {
		have[aws.ToString(g.IndexName)] = true
	}
	for _, g := range spec.GSIs {
		if !have[g.Name] {
			log.Warn("existing dynamodb table lacks a global secondary index; queries on it will fail",
				"table", spec.Name, "index", g.Name)
		}
	}
	return nil
}

// waitActive waits until the table and the spec's indexes it has are ACTIVE.
func waitActive(ctx context.Context, client tableAPI, spec TableSpec) error {
	maxWait := tableWaitDefault
	if dl, ok := ctx.Deadline(); ok {
		maxWait = time.Until(dl)
	}
	if maxWait <= 0 {
		return fmt.Errorf("ensure table %q: %w", spec.Name, context.DeadlineExceeded)
	}
	in := &dynamodb.DescribeTableInput{TableName: aws.String(spec.Name)}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 5*time.Second
	})
	if err := w.Wait(ctx, in, maxWait); err != nil {
		return fmt.Errorf("ensure table %q: waiting until ACTIVE: %w", spec.Name, err)
	}
	// Indexes created with the table turn ACTIVE with it on AWS; emulators
	// may lag behind.
	want := map[string]bool{}
	for _, g := range spec.GSIs {
		want[g.Name] = true
	}
	delay := 50 * time.Millisecond
	for {
		out, err := client.DescribeTable(ctx, in)
		if err != nil {
			return fmt.Errorf("ensure table %q: describe: %w", spec.Name, err)
		}
		pending := ""
		for _, g := range out.Table.GlobalSecondaryIndexes {
			if want[aws.ToString(g.IndexName)] && g.IndexStatus != types.IndexStatusActive {
				pending = aws.ToString(g.IndexName)
			}
		}
		if pending == "" {
			return nil
		}
		if err := retry.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("ensure table %q: waiting for index %q: %w", spec.Name, pending, err)
		}
		delay = min(2*delay, 5*time.Second)
	}
}
