package firehoselocal_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/shardflow/shardflow/internal/firehoselocal"
)

func appendDelimiter(params ...types.ProcessorParameter) *types.ProcessingConfiguration {
	return &types.ProcessingConfiguration{
		Enabled:    aws.Bool(true),
		Processors: []types.Processor{{Type: types.ProcessorTypeAppendDelimiterToRecord, Parameters: params}},
	}
}

func TestAppendDelimiterToRecord(t *testing.T) {
	e := newEnv(t)
	c := streamConfig("nl/", 1, 0, types.CompressionFormatUncompressed)
	c.ProcessingConfiguration = appendDelimiter()
	e.createActive("nl", c)
	e.putBatch("nl", [][]byte{[]byte(`{"a":1}`), []byte(`{"a":2}`)})
	if _, err := e.fh.PutRecord(context.Background(), &firehose.PutRecordInput{
		DeliveryStreamName: aws.String("nl"), Record: &types.Record{Data: []byte(`{"a":3}`)},
	}); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	// bytes_accepted counts what clients sent; bytes_delivered what was
	// written, delimiters included.
	e.waitStats("nl", "delivered", func(st firehoselocal.StreamStats) bool {
		return st.BytesAccepted == 21 && st.BytesDelivered == 24 && st.BufferedBytes == 0
	})
	// On a loaded machine the 1 s buffer interval may pass between the two
	// calls: the records are then in two objects, in key (time) order.
	var got string
	for _, key := range e.waitKeys(1) {
		got += string(e.object(key))
	}
	if want := "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"; got != want {
		t.Errorf("objects = %q, want %q", got, want)
	}

	d, err := e.fh.DescribeDeliveryStream(context.Background(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("nl")})
	if err != nil {
		t.Fatalf("DescribeDeliveryStream: %v", err)
	}
	pc := d.DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription.ProcessingConfiguration
	if pc == nil || !aws.ToBool(pc.Enabled) || len(pc.Processors) != 1 || pc.Processors[0].Type != types.ProcessorTypeAppendDelimiterToRecord {
		t.Errorf("described ProcessingConfiguration = %+v", pc)
	}
}

func TestProcessingVariants(t *testing.T) {
	e := newEnv(t)
	// The Delimiter parameter as CloudFormation templates write it.
	c := streamConfig("param/", 1, 0, types.CompressionFormatUncompressed)
	c.ProcessingConfiguration = appendDelimiter(types.ProcessorParameter{
		ParameterName: types.ProcessorParameterNameDelimiter, ParameterValue: aws.String(`\n`),
	})
	e.createActive("param", c)
	// Disabled: records stay as sent.
	c = streamConfig("off/", 1, 0, types.CompressionFormatUncompressed)
	c.ProcessingConfiguration = appendDelimiter()
	c.ProcessingConfiguration.Enabled = aws.Bool(false)
	e.createActive("off", c)

	e.putBatch("param", [][]byte{[]byte("x"), []byte("y")})
	e.putBatch("off", [][]byte{[]byte("x"), []byte("y")})
	for _, k := range e.waitKeys(2) {
		got := string(e.object(k))
		switch {
		case strings.HasPrefix(k, "param/") && got != "x\ny\n":
			t.Errorf("%s = %q, want \"x\\ny\\n\"", k, got)
		case strings.HasPrefix(k, "off/") && got != "xy":
			t.Errorf("%s = %q, want \"xy\"", k, got)
		}
	}
}

func TestProcessingErrors(t *testing.T) {
	e := newEnv(t)
	lambda := types.Processor{Type: types.ProcessorTypeLambda, Parameters: []types.ProcessorParameter{{
		ParameterName: types.ProcessorParameterNameLambdaArn, ParameterValue: aws.String("arn:aws:lambda:us-east-1:000000000000:function:f"),
	}}}
	cases := []struct {
		name    string
		pc      *types.ProcessingConfiguration
		code    string
		message string
	}{
		{"lambda", &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{lambda}},
			"InvalidArgumentException", "Processor type(s) Lambda are not supported by firehose-local"},
		{"several kinds named", &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{
			{Type: types.ProcessorTypeAppendDelimiterToRecord}, lambda, {Type: types.ProcessorTypeCloudWatchLogProcessing},
		}}, "InvalidArgumentException", "Lambda, CloudWatchLogProcessing"},
		{"deaggregation without dynamic partitioning", &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{
			{Type: types.ProcessorTypeRecordDeAggregation, Parameters: []types.ProcessorParameter{{ParameterName: types.ProcessorParameterNameSubRecordType, ParameterValue: aws.String("JSON")}}},
		}}, "InvalidArgumentException", "RecordDeAggregation requires DynamicPartitioningConfiguration"},
		{"other delimiter", appendDelimiter(types.ProcessorParameter{ParameterName: types.ProcessorParameterNameDelimiter, ParameterValue: aws.String(",")}),
			"InvalidArgumentException", "Delimiter \",\""},
		{"unknown type", &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{{Type: "Uppercase"}}},
			"ValidationException", "Value 'Uppercase' at 'extendedS3DestinationConfiguration.processingConfiguration.processors.1.member.type' failed to satisfy constraint: Member must satisfy enum value set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := streamConfig("", 1, 60, types.CompressionFormatUncompressed)
			c.ProcessingConfiguration = tc.pc
			_, err := e.fh.CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{
				DeliveryStreamName: aws.String("proc"), ExtendedS3DestinationConfiguration: c,
			})
			if apiCode(err) != tc.code || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("CreateDeliveryStream = %v, want %s containing %q", err, tc.code, tc.message)
			}
			var invalid *types.InvalidArgumentException
			if tc.code == "InvalidArgumentException" && !errors.As(err, &invalid) {
				t.Errorf("error is %T, want *types.InvalidArgumentException", err)
			}
		})
	}
}
