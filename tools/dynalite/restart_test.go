//go:build unix

package dynalite_test

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dynalite"
)

// restartPut creates table "things" and puts item id=1.
func restartPut(t *testing.T, ctx context.Context, c *dynamodb.Client) {
	t.Helper()
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("things"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeN}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("things")}, 30*time.Second); err != nil {
		t.Fatalf("waiting for table: %v", err)
	}
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("things"), Item: map[string]types.AttributeValue{
		"id": &types.AttributeValueMemberN{Value: "1"}, "name": &types.AttributeValueMemberS{Value: "kept"},
	}})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
}

// restartGet reads item id=1 of "things": its name, or the error.
func restartGet(ctx context.Context, c *dynamodb.Client) (string, error) {
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("things"), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberN{Value: "1"}}})
	if err != nil {
		return "", err
	}
	if n, ok := out.Item["name"].(*types.AttributeValueMemberS); ok {
		return n.Value, nil
	}
	return "", nil
}

// TestKillRestartKeepsDataOnDisk: with Options.Path, a server killed with
// SIGKILL (also while paused) and restarted answers on the same endpoint,
// through clients made before, with its tables and items; the old process
// is gone, and while it is down requests are refused.
func TestKillRestartKeepsDataOnDisk(t *testing.T) {
	s := testenv.DynaliteWith(t, dynalite.Options{Path: filepath.Join(t.TempDir(), "db")})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	restartPut(t, ctx, c)
	endpoint, oldPid := s.Endpoint(), dynalite.PidOf(t, s)

	if err := s.Pause(); err != nil { // a paused process is killed too
		t.Fatal(err)
	}
	if err := s.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if err := syscall.Kill(oldPid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("node pid %d still exists after Kill (kill 0: %v)", oldPid, err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = restartGet(dctx, c)
	dcancel()
	if err == nil {
		t.Fatal("GetItem answered while the server was killed")
	}
	if _, err := s.Client(ctx); err == nil {
		t.Error("Client succeeded while the server was killed")
	}

	if err := s.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if s.Endpoint() != endpoint || dynalite.PidOf(t, s) == oldPid {
		t.Fatalf("after restart: endpoint %s (was %s), pid %d (was %d)", s.Endpoint(), endpoint, dynalite.PidOf(t, s), oldPid)
	}
	if name, err := restartGet(ctx, c); err != nil || name != "kept" {
		t.Fatalf("after kill and restart: name %q, error %v; want the item written before", name, err)
	}
	// Restart of a running server: killed and started again, data kept.
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("second restart: %v", err)
	}
	if name, err := restartGet(ctx, c); err != nil || name != "kept" {
		t.Fatalf("after a restart while running: name %q, error %v", name, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := s.Restart(ctx); err == nil {
		t.Fatal("Restart after Stop succeeded")
	}
	if err := s.Kill(); err == nil {
		t.Fatal("Kill after Stop succeeded")
	}
}

// TestRestartInMemoryLosesData: without Path the restarted server is empty,
// which is why outage tests that restart DynamoDB set Path.
func TestRestartInMemoryLosesData(t *testing.T) {
	s := testenv.Dynalite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	restartPut(t, ctx, c)
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := restartGet(ctx, c); !errors.As(err, &nf) {
		t.Fatalf("in-memory server after restart: %v, want ResourceNotFoundException (no table)", err)
	}
}
