package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func testWriter(t *testing.T, opts Options) *Writer {
	t.Helper()
	if opts.Table == "" {
		opts.Table = "t"
	}
	w, err := newWriter(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func it(key string, rev uint64, id int, del bool, tag string) Item {
	k := map[string]types.AttributeValue{"id": &types.AttributeValueMemberN{Value: strconv.Itoa(id)}}
	i := Item{Key: key, Rev: rev, Delete: del, KeyAttrs: k}
	if !del {
		i.Attrs = map[string]types.AttributeValue{"id": k["id"], "tag": &types.AttributeValueMemberS{Value: tag}}
	}
	return i
}

func describe(es []entry) []string {
	var out []string
	for _, e := range es {
		if e.wr.DeleteRequest != nil {
			out = append(out, e.key+":delete")
		} else {
			out = append(out, e.key+":"+e.wr.PutRequest.Item["tag"].(*types.AttributeValueMemberS).Value)
		}
	}
	return out
}

func TestPrepareCoalesces(t *testing.T) {
	w := testWriter(t, Options{})
	in := []Item{
		it("a", 2, 1, false, "a2"),
		it("b", 1, 2, false, "b1"),
		it("a", 3, 1, false, "a3"),
		it("a", 1, 1, false, "a1"), // older: loses
		it("b", 1, 2, true, ""),    // equal rev, later: wins
		it("c", 5, 3, false, "c5"),
		it("c", 5, 3, false, "c5b"), // equal rev, later: wins
		it("d", 1, 4, false, "d1"),
		it("e", 2, 4, false, "e2"), // another Key, same DynamoDB key as d: higher rev wins
		it("f", 2, 5, false, "f2"),
		it("g", 1, 5, false, "g1"), // same DynamoDB key as f, lower rev: loses
	}
	got, errs := w.prepare(in)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	want := []string{"a:a3", "b:delete", "c:c5b", "e:e2", "f:f2"}
	if fmt.Sprint(describe(got)) != fmt.Sprint(want) {
		t.Errorf("prepared %v, want %v", describe(got), want)
	}
}

func TestPrepareDerivesKeysOfPutsWithoutKeyAttrs(t *testing.T) {
	w := testWriter(t, Options{})
	noKeyAttrs := it("x", 9, 1, false, "x9")
	noKeyAttrs.KeyAttrs = nil
	got, _ := w.prepare([]Item{it("a", 1, 1, false, "a1"), noKeyAttrs})
	if fmt.Sprint(describe(got)) != "[x:x9]" {
		t.Errorf("prepared %v, want [x:x9]", describe(got))
	}
}

func TestPrepareLeavesOneRequestPerKey(t *testing.T) {
	w := testWriter(t, Options{MaxBatch: 7})
	var in []Item
	for i := range 500 {
		id := i % 60
		in = append(in, it(strconv.Itoa(id), uint64(i), id, i%3 == 0, "t"))
	}
	es, _ := w.prepare(in)
	if len(es) != 60 {
		t.Fatalf("%d entries, want 60", len(es))
	}
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.key] {
			t.Fatalf("key %s twice", e.key)
		}
		seen[e.key] = true
	}
}

func TestClassify(t *testing.T) {
	resp := func(status int, err error) error {
		return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "BatchWriteItem",
			Err: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
	}
	api := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	for _, tc := range []struct {
		err       error
		class     string
		retryable bool
	}{
		{resp(400, &types.ProvisionedThroughputExceededException{}), classThrottle, true},
		{resp(400, api("ThrottlingException")), classThrottle, true},
		{resp(400, api("RequestLimitExceeded")), classThrottle, true},
		{resp(500, &types.InternalServerError{}), classServer, true},
		{resp(503, api("ServiceUnavailable")), classServer, true},
		{resp(502, errors.New("bad gateway")), classServer, true},
		{resp(429, errors.New("slow down")), classThrottle, true},
		{resp(400, api("ValidationException")), classValidation, false},
		{resp(400, &types.ResourceNotFoundException{}), classClient, false},
		{resp(403, api("AccessDeniedException")), classClient, false},
		{&smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}}, classConnection, true},
		{fmt.Errorf("op: %w", context.DeadlineExceeded), classTimeout, true},
		{errors.New("something odd"), classUnknown, true},
	} {
		class, retry := classify(tc.err)
		if class != tc.class || retry != tc.retryable {
			t.Errorf("classify(%v) = %s %v, want %s %v", tc.err, class, retry, tc.class, tc.retryable)
		}
	}
}
