package firehoselocal_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/shardflow/shardflow/internal/firehoselocal"
)

func TestCreateDescribeShape(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName:                 aws.String("clicks"),
		ExtendedS3DestinationConfiguration: streamConfig("raw/", 2, 60, types.CompressionFormatGzip),
	})
	if err != nil {
		t.Fatalf("CreateDeliveryStream: %v", err)
	}
	wantARN := "arn:aws:firehose:us-east-1:000000000000:deliverystream/clicks"
	if got := aws.ToString(out.DeliveryStreamARN); got != wantARN {
		t.Errorf("ARN = %q, want %q", got, wantARN)
	}
	e.waitStatus("clicks", types.DeliveryStreamStatusActive)

	d, err := e.fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("clicks")})
	if err != nil {
		t.Fatalf("DescribeDeliveryStream: %v", err)
	}
	desc := d.DeliveryStreamDescription
	if aws.ToString(desc.DeliveryStreamName) != "clicks" || aws.ToString(desc.DeliveryStreamARN) != wantARN ||
		desc.DeliveryStreamType != types.DeliveryStreamTypeDirectPut || aws.ToString(desc.VersionId) != "1" ||
		aws.ToBool(desc.HasMoreDestinations) {
		t.Errorf("description header = %+v", desc)
	}
	if desc.CreateTimestamp == nil || !desc.CreateTimestamp.Equal(clockStart) {
		t.Errorf("CreateTimestamp = %v, want %v", desc.CreateTimestamp, clockStart)
	}
	if len(desc.Destinations) != 1 {
		t.Fatalf("Destinations = %d, want 1", len(desc.Destinations))
	}
	dst := desc.Destinations[0]
	if aws.ToString(dst.DestinationId) != "destinationId-000000000001" {
		t.Errorf("DestinationId = %q", aws.ToString(dst.DestinationId))
	}
	ext := dst.ExtendedS3DestinationDescription
	if ext == nil || dst.S3DestinationDescription == nil {
		t.Fatalf("want both S3 descriptions, got %+v", dst)
	}
	if aws.ToString(ext.BucketARN) != "arn:aws:s3:::"+testBucket || aws.ToString(ext.RoleARN) != testRole ||
		aws.ToString(ext.Prefix) != "raw/" || ext.CompressionFormat != types.CompressionFormatGzip ||
		aws.ToInt32(ext.BufferingHints.SizeInMBs) != 2 || aws.ToInt32(ext.BufferingHints.IntervalInSeconds) != 60 ||
		ext.S3BackupMode != types.S3BackupModeDisabled {
		t.Errorf("ExtendedS3DestinationDescription = %+v", ext)
	}
	if aws.ToString(dst.S3DestinationDescription.BucketARN) != "arn:aws:s3:::"+testBucket {
		t.Errorf("S3DestinationDescription = %+v", dst.S3DestinationDescription)
	}
}

func TestCreatePlainS3Defaults(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("plain"),
		S3DestinationConfiguration: &types.S3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + testBucket),
			RoleARN:   aws.String(testRole),
		},
	})
	if err != nil {
		t.Fatalf("CreateDeliveryStream: %v", err)
	}
	d, err := e.fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("plain")})
	if err != nil {
		t.Fatalf("DescribeDeliveryStream: %v", err)
	}
	s3d := d.DeliveryStreamDescription.Destinations[0].S3DestinationDescription
	if aws.ToInt32(s3d.BufferingHints.SizeInMBs) != 5 || aws.ToInt32(s3d.BufferingHints.IntervalInSeconds) != 300 ||
		s3d.CompressionFormat != types.CompressionFormatUncompressed {
		t.Errorf("defaults = %+v / %s, want 5 MiB, 300 s, UNCOMPRESSED", *s3d.BufferingHints, s3d.CompressionFormat)
	}
}

func TestListDeliveryStreamsPages(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"c", "a", "e", "b", "d"} {
		e.createActive(name, streamConfig("", 1, 60, types.CompressionFormatUncompressed))
	}
	ctx := context.Background()
	var got []string
	var start *string
	for pages := 0; ; pages++ {
		out, err := e.fh.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{Limit: aws.Int32(2), ExclusiveStartDeliveryStreamName: start})
		if err != nil {
			t.Fatalf("ListDeliveryStreams: %v", err)
		}
		got = append(got, out.DeliveryStreamNames...)
		if !aws.ToBool(out.HasMoreDeliveryStreams) {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		start = aws.String(out.DeliveryStreamNames[len(out.DeliveryStreamNames)-1])
	}
	if want := []string{"a", "b", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
	all, err := e.fh.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{})
	if err != nil || len(all.DeliveryStreamNames) != 5 || aws.ToBool(all.HasMoreDeliveryStreams) {
		t.Errorf("default page = %+v, %v; want 5 names, no more", all, err)
	}
}

func TestDeleteDeliveryStream(t *testing.T) {
	e := newEnv(t)
	e.createActive("gone", streamConfig("", 1, 900, types.CompressionFormatUncompressed))
	recs := records(3, 10)
	e.putBatch("gone", recs)
	ctx := context.Background()
	if _, err := e.fh.DeleteDeliveryStream(ctx, &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("gone")}); err != nil {
		t.Fatalf("DeleteDeliveryStream: %v", err)
	}
	// Deletion flushes the buffer first, then the stream disappears.
	keys := e.waitKeys(1)
	if got := e.object(keys[0]); string(got) != string(concat(recs)) {
		t.Errorf("flushed object = %q, want %q", got, concat(recs))
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := e.fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("gone")})
		var rnf *types.ResourceNotFoundException
		if errors.As(err, &rnf) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream still described after delete: err=%v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The name is free again.
	e.createActive("gone", streamConfig("", 1, 900, types.CompressionFormatUncompressed))
}

func TestCreatingStateIsNotWritable(t *testing.T) {
	e := newEnv(t, func(c *firehoselocal.Config) { c.CreateDelay = 300 * time.Millisecond })
	ctx := context.Background()
	if _, err := e.fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName:                 aws.String("slow"),
		ExtendedS3DestinationConfiguration: streamConfig("", 1, 60, types.CompressionFormatUncompressed),
	}); err != nil {
		t.Fatalf("CreateDeliveryStream: %v", err)
	}
	d, err := e.fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("slow")})
	if err != nil || d.DeliveryStreamDescription.DeliveryStreamStatus != types.DeliveryStreamStatusCreating {
		t.Fatalf("right after create: %+v, %v; want CREATING", d, err)
	}
	_, err = e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("slow"), Record: &types.Record{Data: []byte("x")}})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("PutRecord while CREATING: %v, want ResourceNotFoundException", err)
	}
	_, err = e.fh.DeleteDeliveryStream(ctx, &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("slow")})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("DeleteDeliveryStream while CREATING: %v, want ResourceInUseException", err)
	}
	e.waitStatus("slow", types.DeliveryStreamStatusActive)
	if _, err := e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("slow"), Record: &types.Record{Data: []byte("x")}}); err != nil {
		t.Errorf("PutRecord once ACTIVE: %v", err)
	}
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	e.createActive("taken", streamConfig("", 1, 60, types.CompressionFormatUncompressed))
	valid := func() *types.ExtendedS3DestinationConfiguration {
		return streamConfig("", 1, 60, types.CompressionFormatUncompressed)
	}
	cases := []struct {
		name    string
		in      firehose.CreateDeliveryStreamInput
		code    string
		message string
	}{
		{"duplicate", firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("taken"), ExtendedS3DestinationConfiguration: valid()},
			"ResourceInUseException", "Firehose taken under account 000000000000 already exists."},
		{"bad name", firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("no spaces"), ExtendedS3DestinationConfiguration: valid()},
			"ValidationException", "1 validation error detected: Value 'no spaces' at 'deliveryStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"},
		{"long name", firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(strings.Repeat("n", 65)), ExtendedS3DestinationConfiguration: valid()},
			"ValidationException", "Member must have length less than or equal to 64"},
		{"size hint", firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("s"), ExtendedS3DestinationConfiguration: streamConfig("", 129, 901, types.CompressionFormatUncompressed)},
			"ValidationException", "2 validation errors detected: Value '129' at 'extendedS3DestinationConfiguration.bufferingHints.sizeInMBs' failed to satisfy constraint: Member must have value less than or equal to 128; Value '901' at 'extendedS3DestinationConfiguration.bufferingHints.intervalInSeconds'"},
		{"half hints", firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("s"), ExtendedS3DestinationConfiguration: func() *types.ExtendedS3DestinationConfiguration {
			c := valid()
			c.BufferingHints.IntervalInSeconds = nil
			return c
		}()}, "InvalidArgumentException", "SizeInMBs and IntervalInSeconds must be specified together"},
		{"prefix expression without error prefix", firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("s"), ExtendedS3DestinationConfiguration: streamConfig("!{timestamp:yyyy}/", 1, 60, types.CompressionFormatUncompressed)},
			"InvalidArgumentException", "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"},
		{"zip", firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("s"), ExtendedS3DestinationConfiguration: streamConfig("", 1, 60, types.CompressionFormatZip)},
			"InvalidArgumentException", "CompressionFormat ZIP is not supported by firehose-local"},
		{"no destination", firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("s")},
			"InvalidArgumentException", "Exactly one destination configuration must be specified"},
		{"other destination", firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("s"), HttpEndpointDestinationConfiguration: &types.HttpEndpointDestinationConfiguration{
			EndpointConfiguration: &types.HttpEndpointConfiguration{Url: aws.String("https://example.com")},
			S3Configuration:       &types.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::b"), RoleARN: aws.String(testRole)},
		}}, "InvalidArgumentException", "HttpEndpointDestinationConfiguration is not supported by firehose-local"},
		{"bad bucket arn", firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("s"), ExtendedS3DestinationConfiguration: func() *types.ExtendedS3DestinationConfiguration {
			c := valid()
			c.BucketARN = aws.String("deliveries")
			return c
		}()}, "ValidationException", "at 'extendedS3DestinationConfiguration.bucketARN'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.fh.CreateDeliveryStream(context.Background(), &tc.in)
			if got := apiCode(err); got != tc.code {
				t.Fatalf("error = %v, want code %s", err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error = %v, want message containing %q", err, tc.message)
			}
		})
	}
	// The typed errors are the ones the SDK maps.
	_, err := e.fh.CreateDeliveryStream(context.Background(), &cases[0].in)
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("duplicate: %T %v, want *types.ResourceInUseException", err, err)
	}
	_, err = e.fh.CreateDeliveryStream(context.Background(), &cases[5].in)
	var invalid *types.InvalidArgumentException
	if !errors.As(err, &invalid) {
		t.Errorf("prefix expression without error prefix: %T %v, want *types.InvalidArgumentException", err, err)
	}
}

func TestUnknownStream(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const msg = "Firehose nope under account 000000000000 not found."
	_, err1 := e.fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("nope")})
	_, err2 := e.fh.DeleteDeliveryStream(ctx, &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("nope")})
	_, err3 := e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("nope"), Record: &types.Record{Data: []byte("x")}})
	_, err4 := e.fh.PutRecordBatch(ctx, batchInput("nope", records(1, 1)))
	for i, err := range []error{err1, err2, err3, err4} {
		var rnf *types.ResourceNotFoundException
		if !errors.As(err, &rnf) {
			t.Errorf("call %d: %T %v, want *types.ResourceNotFoundException", i+1, err, err)
			continue
		}
		if rnf.ErrorMessage() != msg {
			t.Errorf("call %d: message %q, want %q", i+1, rnf.ErrorMessage(), msg)
		}
	}
}

func TestUnsignedRequestsAccepted(t *testing.T) {
	e := newEnv(t)
	anon := newFirehoseClient(e.url, func(o *firehose.Options) { o.Credentials = aws.AnonymousCredentials{} })
	out, err := anon.ListDeliveryStreams(context.Background(), &firehose.ListDeliveryStreamsInput{})
	if err != nil {
		t.Fatalf("unsigned ListDeliveryStreams: %v", err)
	}
	if len(out.DeliveryStreamNames) != 0 || out.HasMoreDeliveryStreams == nil {
		t.Errorf("ListDeliveryStreams = %+v, want no names and HasMoreDeliveryStreams present", out)
	}
}
