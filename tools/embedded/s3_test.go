package embedded

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func startS3(t *testing.T, opts S3Options) (*S3, *s3.Client) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	srv, err := StartS3(opts)
	if err != nil {
		t.Fatalf("StartS3(%+v): %v", opts, err)
	}
	t.Cleanup(srv.Close)
	cl, err := NewS3Client(context.Background(), srv.Endpoint(), "us-east-1")
	if err != nil {
		t.Fatalf("NewS3Client: %v", err)
	}
	return srv, cl
}

func putObject(t *testing.T, cl *s3.Client, bucket, key, body string) {
	t.Helper()
	_, err := cl.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket:      aws.String(bucket),
		Key:         aws.String(key),
		Body:        strings.NewReader(body),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		t.Fatalf("PutObject s3://%s/%s: %v", bucket, key, err)
	}
}

func getObject(t *testing.T, cl *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := cl.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read s3://%s/%s: %v", bucket, key, err)
	}
	return string(b)
}

func listKeys(t *testing.T, cl *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListObjectsV2 s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// exerciseS3 runs the same object round trip against any backend.
func exerciseS3(t *testing.T, srv *S3, cl *s3.Client) {
	t.Helper()
	ctx := context.Background()
	if !strings.HasPrefix(srv.Endpoint(), "http://127.0.0.1:") {
		t.Fatalf("Endpoint() = %q, want http://127.0.0.1:<port>", srv.Endpoint())
	}
	if err := srv.CreateBucket(ctx, "analytics"); err != nil {
		t.Fatalf("CreateBucket(analytics): %v", err)
	}
	if err := srv.CreateBucket(ctx, "analytics"); err != nil {
		t.Fatalf("CreateBucket(analytics) again should be a no-op: %v", err)
	}
	if err := srv.CreateBucket(ctx, "x"); err == nil {
		t.Fatal("CreateBucket accepted the invalid name \"x\"")
	}

	buckets, err := cl.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	if len(buckets.Buckets) != 1 || aws.ToString(buckets.Buckets[0].Name) != "analytics" {
		t.Fatalf("ListBuckets = %v, want [analytics]", buckets.Buckets)
	}

	objects := map[string]string{
		"analytics/daily_sales/20250115_120000.json": `{"report_type":"daily_sales","data":{}}`,
		"analytics/daily_sales/20250115_120500.json": `{"report_type":"daily_sales","data":{"2025-01-15":{"total_amount":10.5,"order_count":1}}}`,
		"analytics/summary/20250115_120000.json":     `{"report_type":"summary","metrics":{}}`,
		"top.json":                                   `[]`,
	}
	for key, body := range objects {
		putObject(t, cl, "analytics", key, body)
	}
	for key, body := range objects {
		if got := getObject(t, cl, "analytics", key); got != body {
			t.Errorf("GetObject %s = %q, want %q", key, got, body)
		}
	}

	// Overwrite keeps only the new content.
	putObject(t, cl, "analytics", "top.json", `[1]`)
	if got := getObject(t, cl, "analytics", "top.json"); got != `[1]` {
		t.Errorf("after overwrite GetObject top.json = %q, want [1]", got)
	}

	got := listKeys(t, cl, "analytics", "analytics/daily_sales/")
	want := []string{"analytics/daily_sales/20250115_120000.json", "analytics/daily_sales/20250115_120500.json"}
	if !slices.Equal(got, want) {
		t.Errorf("list analytics/daily_sales/ = %v, want %v", got, want)
	}
	if all := listKeys(t, cl, "analytics", ""); len(all) != len(objects) {
		t.Errorf("list all = %v, want %d keys", all, len(objects))
	}

	_, err = cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("analytics"), Key: aws.String("nope.json")})
	var noKey *types.NoSuchKey
	if !errors.As(err, &noKey) {
		t.Errorf("GetObject of a missing key: %v, want NoSuchKey", err)
	}
	_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("missing-bucket"), Key: aws.String("k"), Body: bytes.NewReader([]byte("v"))})
	if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("PutObject to a missing bucket: %v, want NoSuchBucket", err)
	}

	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("analytics"), Key: aws.String("top.json")}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if all := listKeys(t, cl, "analytics", "top"); len(all) != 0 {
		t.Errorf("after delete list top = %v, want none", all)
	}
}

func TestS3MemoryBackend(t *testing.T) {
	srv, cl := startS3(t, S3Options{})
	exerciseS3(t, srv, cl)
}

func TestS3DirectoryBackendPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s3data")
	srv, cl := startS3(t, S3Options{Dir: dir})
	exerciseS3(t, srv, cl)

	// Objects are plain files under the directory.
	onDisk, err := os.ReadFile(filepath.Join(dir, "buckets", "analytics", "analytics", "summary", "20250115_120000.json"))
	if err != nil {
		t.Fatalf("object not stored under %s: %v", dir, err)
	}
	if string(onDisk) != `{"report_type":"summary","metrics":{}}` {
		t.Fatalf("file content %q", onDisk)
	}

	srv.Close()
	srv.Close() // idempotent
	if _, err := cl.ListBuckets(context.Background(), &s3.ListBucketsInput{}); err == nil {
		t.Fatal("the closed endpoint still answers")
	}

	srv2, cl2 := startS3(t, S3Options{Dir: dir})
	if err := srv2.CreateBucket(context.Background(), "analytics"); err != nil {
		t.Fatalf("CreateBucket on a kept bucket: %v", err)
	}
	if got := getObject(t, cl2, "analytics", "analytics/daily_sales/20250115_120000.json"); got != `{"report_type":"daily_sales","data":{}}` {
		t.Fatalf("after restart got %q", got)
	}
	if n := len(listKeys(t, cl2, "analytics", "analytics/")); n != 3 {
		t.Fatalf("after restart %d objects under analytics/, want 3", n)
	}
}

func TestS3FixedPortAndErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	// While the port is taken, StartS3 must fail.
	if srv, err := StartS3(S3Options{Port: port}); err == nil {
		srv.Close()
		t.Fatalf("StartS3 on busy port %d succeeded", port)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	srv, _ := startS3(t, S3Options{Port: port})
	if want := "http://127.0.0.1:" + strconv.Itoa(port); srv.Endpoint() != want {
		t.Fatalf("Endpoint() = %q, want %q", srv.Endpoint(), want)
	}

	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if srv, err := StartS3(S3Options{Dir: notDir}); err == nil {
		srv.Close()
		t.Fatal("StartS3 with a file as Dir succeeded")
	}
	if _, err := NewS3Client(context.Background(), "", "us-east-1"); err == nil {
		t.Fatal("NewS3Client with an empty endpoint succeeded")
	}
}

func TestNewS3ClientUsesPathStyleAndDummyCredentials(t *testing.T) {
	srv, _ := startS3(t, S3Options{})
	if err := srv.CreateBucket(context.Background(), "analytics"); err != nil {
		t.Fatal(err)
	}
	// A host name, not an IP: the SDK would address the bucket as
	// analytics.localhost:<port> unless path-style is on.
	endpoint := strings.Replace(srv.Endpoint(), "127.0.0.1", "localhost", 1)
	cl, err := NewS3Client(context.Background(), endpoint, "eu-west-1")
	if err != nil {
		t.Fatalf("NewS3Client: %v", err)
	}
	opts := cl.Options()
	if !opts.UsePathStyle {
		t.Error("client does not use path-style addressing")
	}
	if opts.Region != "eu-west-1" {
		t.Errorf("client region %q, want eu-west-1", opts.Region)
	}
	creds, err := opts.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "test" || creds.SecretAccessKey != "test" {
		t.Errorf("client credentials %q/%q (err %v), want the dummy test/test", creds.AccessKeyID, creds.SecretAccessKey, err)
	}
	putObject(t, cl, "analytics", "via-localhost.json", "{}")
	if got := getObject(t, cl, "analytics", "via-localhost.json"); got != "{}" {
		t.Fatalf("GetObject via %s = %q", endpoint, got)
	}
}
