//go:build unix

package dynalite_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dynalite"
)

func TestPutGetItem(t *testing.T) {
	s := testenv.Dynalite(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("things"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeN}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	// TableDelay 0: the table turns ACTIVE right after CreateTable returns.
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("things")}, 30*time.Second); err != nil {
		t.Fatalf("waiting for table: %v", err)
	}
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("things"), Item: map[string]types.AttributeValue{
		"id":   &types.AttributeValueMemberN{Value: "42"},
		"name": &types.AttributeValueMemberS{Value: "answer"},
	}})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("things"), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberN{Value: "42"}}})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	name, ok := got.Item["name"].(*types.AttributeValueMemberS)
	if !ok || name.Value != "answer" {
		t.Fatalf("got item %#v, want name=answer", got.Item)
	}
}

func TestPauseResumeStop(t *testing.T) {
	s := testenv.Dynalite(t)
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	// While paused nothing answers.
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = c.ListTables(pctx, &dynamodb.ListTablesInput{})
	cancel()
	if err == nil {
		t.Fatal("ListTables answered while the server was paused")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.ListTables(rctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables after resume: %v", err)
	}

	// Stop works on a paused server and leaves no process behind.
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if err := s.Pause(); err == nil {
		t.Fatal("Pause after Stop succeeded")
	}
	if _, err := s.Client(ctx); err == nil {
		t.Fatal("Client after Stop succeeded")
	}
	if pid := dynalite.PidOf(t, s); pid > 0 {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("node pid %d still exists after Stop (kill 0: %v)", pid, err)
		}
	}
}

func TestTwoServersAreIndependent(t *testing.T) {
	a, b := testenv.Dynalite(t), testenv.Dynalite(t)
	if a.Endpoint() == b.Endpoint() {
		t.Fatalf("both servers at %s", a.Endpoint())
	}
	ctx := context.Background()
	ca, _ := a.Client(ctx)
	cb, _ := b.Client(ctx)
	_, err := ca.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("only-in-a"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := cb.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TableNames) != 0 {
		t.Fatalf("server b has tables %v", out.TableNames)
	}
}

func TestFindDir(t *testing.T) {
	d, err := dynalite.FindDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dynalite.Start(context.Background(), dynalite.Options{Dir: t.TempDir()}); err == nil {
		t.Fatal("Start in a directory without package.json succeeded")
	}
	t.Logf("package dir: %s", d)
}
