package firehoselocal_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestJavaScriptSDK drives the emulator with the AWS SDK for JavaScript v3
// (@aws-sdk/client-firehose, pinned in deploy/local/package-lock.json and
// installed by deploy/local/up): shapes, typed errors and delivery.
func TestJavaScriptSDK(t *testing.T) {
	modules, err := filepath.Abs("../../deploy/local/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "@aws-sdk", "client-firehose")); err != nil {
		t.Fatalf("@aws-sdk/client-firehose is not installed (run make up): %v", err)
	}
	e := newEnv(t)
	cmd := exec.Command("node", "testdata/jsclient.cjs", e.url, "js", testBucket)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node jsclient.cjs: %v\n%s%s", err, out, stderr)
	}
	var got struct {
		Status string
		Batch  struct {
			FailedPutCount   int
			Encrypted        bool
			RequestResponses []struct{ RecordId, ErrorCode string }
		}
		Single   struct{ RecordId string }
		NotFound string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	if got.Status != "ACTIVE" || got.Batch.FailedPutCount != 0 || len(got.Batch.RequestResponses) != 2 ||
		got.Batch.RequestResponses[0].RecordId == "" || got.Single.RecordId == "" {
		t.Fatalf("JS SDK saw %s", out)
	}
	if got.NotFound != "ResourceNotFoundException" {
		t.Fatalf("JS SDK error for an unknown stream: %q, want ResourceNotFoundException", got.NotFound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String("js/")})
	if err != nil || len(list.Contents) != 1 {
		t.Fatalf("objects under js/: %+v (%v)", list, err)
	}
	obj, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: list.Contents[0].Key})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	body, _ := io.ReadAll(obj.Body)
	if string(body) != "js one\njs two\njs three\n" {
		t.Fatalf("delivered %q", body)
	}
}
