package firehoselocal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/internal/firehoselocal"
)

// awsCLI runs Debian's AWS CLI (an independent client: botocore, not the Go
// SDK) against the emulator and decodes its JSON output.
func awsCLI(t *testing.T, endpoint string, out any, args ...string) {
	t.Helper()
	const cli = "/usr/bin/aws" // installed by deploy/local/up; never skip without it
	full := append([]string{"--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"}, args...)
	cmd := exec.Command(cli, full...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true")
	b, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, b, stderr)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
}

func TestAWSCLIPutRecordBatchShapeAndDelivery(t *testing.T) {
	e := newEnv(t)
	awsCLI(t, e.url, nil, "firehose", "create-delivery-stream", "--delivery-stream-name", "cli",
		"--extended-s3-destination-configuration",
		`{"BucketARN":"arn:aws:s3:::`+testBucket+`","RoleARN":"`+testRole+`","Prefix":"cli/","BufferingHints":{"SizeInMBs":1,"IntervalInSeconds":60}}`)
	var desc struct {
		DeliveryStreamDescription struct {
			DeliveryStreamStatus string
			DeliveryStreamARN    string
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		awsCLI(t, e.url, &desc, "firehose", "describe-delivery-stream", "--delivery-stream-name", "cli")
		if desc.DeliveryStreamDescription.DeliveryStreamStatus == "ACTIVE" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if desc.DeliveryStreamDescription.DeliveryStreamStatus != "ACTIVE" ||
		!strings.HasSuffix(desc.DeliveryStreamDescription.DeliveryStreamARN, ":deliverystream/cli") {
		t.Fatalf("describe: %+v", desc)
	}

	records := []map[string]string{{"Data": "first row\n"}, {"Data": "second row\n"}, {"Data": "third row\n"}}
	file := filepath.Join(t.TempDir(), "records.json")
	raw, _ := json.Marshal(records)
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var resp struct {
		FailedPutCount   *int
		Encrypted        *bool
		RequestResponses []struct {
			RecordId     string
			ErrorCode    string
			ErrorMessage string
		}
	}
	awsCLI(t, e.url, &resp, "firehose", "put-record-batch", "--delivery-stream-name", "cli",
		"--cli-binary-format", "raw-in-base64-out", "--records", "file://"+file)
	if resp.FailedPutCount == nil || *resp.FailedPutCount != 0 || resp.Encrypted == nil || len(resp.RequestResponses) != len(records) {
		t.Fatalf("put-record-batch response shape: %+v", resp)
	}
	for i, r := range resp.RequestResponses {
		if r.RecordId == "" || r.ErrorCode != "" {
			t.Fatalf("response %d: %+v", i, r)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil { // flushes the buffer to S3
		t.Fatal(err)
	}
	list, err := e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String("cli/")})
	if err != nil || len(list.Contents) != 1 {
		t.Fatalf("objects under cli/: %v (err %v)", list, err)
	}
	obj, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: list.Contents[0].Key})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "first row\nsecond row\nthird row\n" {
		t.Fatalf("delivered %q", body)
	}
}

// TestAWSCLIDynamicPartitioningAndConversion creates, with the AWS CLI and
// the JSON its documentation shows, one delivery stream with dynamic
// partitioning and one with Parquet conversion, and puts records through
// the CLI: they arrive under the partitionKeyFromQuery prefixes and as
// Parquet.
func TestAWSCLIDynamicPartitioningAndConversion(t *testing.T) {
	dir := t.TempDir()
	writeTable(t, dir, "clicks", "events", "customer_id string", "amount double", "ts timestamp")
	e := newEnv(t, func(c *firehoselocal.Config) { c.GlueTablesDir = dir })
	awsCLI(t, e.url, nil, "firehose", "create-delivery-stream", "--delivery-stream-name", "dp",
		"--delivery-stream-type", "DirectPut", "--extended-s3-destination-configuration", `{
  "RoleARN": "`+testRole+`",
  "BucketARN": "arn:aws:s3:::`+testBucket+`",
  "Prefix": "data/customer_id=!{partitionKeyFromQuery:customer_id}/!{timestamp:yyyy}/",
  "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
  "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
  "DynamicPartitioningConfiguration": {"Enabled": true, "RetryOptions": {"DurationInSeconds": 300}},
  "ProcessingConfiguration": {
    "Enabled": true,
    "Processors": [
      {"Type": "RecordDeAggregation", "Parameters": [{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}]},
      {"Type": "MetadataExtraction", "Parameters": [
        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{customer_id:.customer_id}"},
        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
      {"Type": "AppendDelimiterToRecord", "Parameters": [{"ParameterName": "Delimiter", "ParameterValue": "\\n"}]}
    ]
  }
}`)
	awsCLI(t, e.url, nil, "firehose", "create-delivery-stream", "--delivery-stream-name", "pq",
		"--extended-s3-destination-configuration", `{
  "RoleARN": "`+testRole+`",
  "BucketARN": "arn:aws:s3:::`+testBucket+`",
  "Prefix": "parquet/",
  "ErrorOutputPrefix": "parquet-errors/!{firehose:error-output-type}/",
  "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 60},
  "CompressionFormat": "UNCOMPRESSED",
  "DataFormatConversionConfiguration": {
    "SchemaConfiguration": {"RoleARN": "`+testRole+`", "DatabaseName": "clicks", "TableName": "events", "Region": "us-east-1", "VersionId": "LATEST"},
    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
    "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}},
    "Enabled": true
  }
}`)
	for _, name := range []string{"dp", "pq"} {
		e.waitStatus(name, "ACTIVE")
	}
	var desc struct {
		DeliveryStreamDescription struct {
			Destinations []struct {
				ExtendedS3DestinationDescription struct {
					DynamicPartitioningConfiguration  struct{ Enabled bool }
					DataFormatConversionConfiguration struct{ SchemaConfiguration struct{ TableName string } }
				}
			}
		}
	}
	awsCLI(t, e.url, &desc, "firehose", "describe-delivery-stream", "--delivery-stream-name", "dp")
	if !desc.DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription.DynamicPartitioningConfiguration.Enabled {
		t.Errorf("describe dp: %+v", desc)
	}
	records := []map[string]string{
		{"Data": `{"customer_id":"c1","amount":1.5,"ts":"2025-01-02T03:04:05Z"}{"customer_id":"c2","amount":2,"ts":1735787045}`},
		{"Data": `{"customer_id":"c1","amount":3,"ts":"2025-01-02 03:04:06"}`},
		{"Data": `{"amount":"lots"}`},
	}
	file := filepath.Join(t.TempDir(), "records.json")
	raw, _ := json.Marshal(records)
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dp", "pq"} {
		var resp struct{ FailedPutCount int }
		awsCLI(t, e.url, &resp, "firehose", "put-record-batch", "--delivery-stream-name", name,
			"--cli-binary-format", "raw-in-base64-out", "--records", "file://"+file)
		if resp.FailedPutCount != 0 {
			t.Fatalf("%s: FailedPutCount %d", name, resp.FailedPutCount)
		}
	}
	e.clock.Advance(61 * time.Second)
	got := map[string]string{}
	for _, k := range e.waitKeys(5) {
		got[k[:strings.LastIndex(k, "/")+1]] = string(e.object(k))
	}
	c1 := `{"customer_id":"c1","amount":1.5,"ts":"2025-01-02T03:04:05Z"}` + "\n" + `{"customer_id":"c1","amount":3,"ts":"2025-01-02 03:04:06"}` + "\n"
	if got["data/customer_id=c1/2025/"] != c1 || got["data/customer_id=c2/2025/"] == "" || !strings.Contains(got["errors/partitioning-failed/2025/01/02/03/"], "DynamicPartitioning.MetadataExtractionFailed") {
		t.Errorf("dynamic partitioning objects: %v", got)
	}
	_, rows, _ := parquetRows(t, []byte(got["parquet/2025/01/02/03/"]))
	if len(rows) != 3 || rows[0]["customer_id"] != "c1" || rows[1]["amount"] != 2.0 || fmt.Sprint(rows[1]["ts"]) != "2025-01-02 03:04:05 +0000 UTC" {
		t.Errorf("parquet rows: %v", rows)
	}
	if !strings.Contains(got["parquet-errors/format-conversion-failed/2025/01/02/03/"], "DataFormatConversion.MalformedData") {
		t.Errorf("no conversion error object: %v", got)
	}
}
