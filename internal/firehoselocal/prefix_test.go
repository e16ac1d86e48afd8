package firehoselocal_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
)

const uuidPattern = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

// randomPattern is !{firehose:random-string}: 11 characters.
const randomPattern = "([0-9a-f-]{11})"

func withErrorPrefix(c *types.ExtendedS3DestinationConfiguration, errorPrefix string) *types.ExtendedS3DestinationConfiguration {
	c.ErrorOutputPrefix = aws.String(errorPrefix)
	return c
}

func TestPrefixExpressions(t *testing.T) {
	e := newEnv(t)
	const prefix = "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/!{firehose:random-string}/"
	const errorPrefix = "failed/!{firehose:error-output-type}/!{timestamp:yyyy'-'MM'-'dd}/"
	e.createActive("expr", withErrorPrefix(streamConfig(prefix, 128, 1, types.CompressionFormatUncompressed), errorPrefix))

	// The oldest record of the object names it, also when later records
	// arrive in the next hour.
	e.clock.Set(time.Date(2025, 12, 31, 23, 59, 59, 700e6, time.UTC))
	e.putBatch("expr", [][]byte{[]byte("a")})
	// Into the next hour but within the 1 s buffer interval, so that the
	// buffer cannot have been flushed before "b" arrives (on a loaded
	// machine the flusher may run between the advance and the put).
	e.clock.Advance(500 * time.Millisecond)
	e.putBatch("expr", [][]byte{[]byte("b")})
	e.clock.Advance(time.Second)
	first := e.waitKeys(1)[0]
	re := regexp.MustCompile("^events/year=2025/month=12/day=31/hour=23/" + randomPattern +
		"/expr-1-2025-12-31-23-59-59-" + uuidPattern + "$")
	m := re.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("key %q does not match %s", first, re)
	}
	if got := string(e.object(first)); got != "ab" {
		t.Errorf("object = %q, want \"ab\"", got)
	}

	// The next object gets its own instant and a new random string.
	e.clock.Set(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC))
	e.putBatch("expr", [][]byte{[]byte("c")})
	e.clock.Advance(time.Second)
	keys := e.waitKeys(2)
	second := keys[0]
	if second == first {
		second = keys[1]
	}
	re2 := regexp.MustCompile("^events/year=2026/month=01/day=01/hour=00/" + randomPattern + "/expr-1-2026-01-01-00-00-01-" + uuidPattern + "$")
	m2 := re2.FindStringSubmatch(second)
	if m2 == nil {
		t.Fatalf("second key %q does not match %s", second, re2)
	}
	if m[1] == m2[1] {
		t.Errorf("both objects got the random string %q", m[1])
	}

	// Describe shows the prefixes as configured.
	d, err := e.fh.DescribeDeliveryStream(context.Background(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("expr")})
	if err != nil {
		t.Fatalf("DescribeDeliveryStream: %v", err)
	}
	ext := d.DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription
	if aws.ToString(ext.Prefix) != prefix || aws.ToString(ext.ErrorOutputPrefix) != errorPrefix {
		t.Errorf("described prefixes = %q, %q", aws.ToString(ext.Prefix), aws.ToString(ext.ErrorOutputPrefix))
	}
}

func TestPrefixTimestampPatterns(t *testing.T) {
	cases := []struct {
		prefix string
		want   string // evaluated at 2025-01-02 03:04:05.678 UTC; a regexp
	}{
		// Quoted literals, a doubled quote, two-digit year, minutes, seconds,
		// fraction; one instant for every expression.
		{"!{timestamp:yy}/!{timestamp:'T='HH'h'mm'm'ss's'''}/!{timestamp:SSS}/", `25/T=03h04m05s'/678/`},
		// Unpadded single letters and padded years.
		{"d=!{timestamp:y-M-d-H-m-s}/!{timestamp:uuuu}/", `d=2025-1-2-3-4-5/2025/`},
		// No timestamp expression: yyyy/MM/dd/HH/ is appended.
		{"r/!{firehose:random-string}/", `r/` + randomPattern + `/2025/01/02/03/`},
	}
	for i, tc := range cases {
		t.Run(tc.prefix, func(t *testing.T) {
			e := newEnv(t)
			e.clock.Set(time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC))
			name := "p" + string(rune('0'+i))
			e.createActive(name, withErrorPrefix(streamConfig(tc.prefix, 1, 0, types.CompressionFormatUncompressed), "err/!{firehose:error-output-type}/"))
			e.putBatch(name, [][]byte{[]byte("x")})
			key := e.waitKeys(1)[0]
			re := regexp.MustCompile("^" + tc.want + name + "-1-2025-01-02-03-04-05-" + uuidPattern + "$")
			if !re.MatchString(key) {
				t.Errorf("key %q does not match %s", key, re)
			}
		})
	}
}

// TestPrefixRules checks the service's prefix rules: every violation is an
// InvalidArgumentException, as on AWS.
func TestPrefixRules(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("p", 500) + "/"
	cases := []struct {
		name, prefix, errorPrefix string
		message                   string
	}{
		{"expressions need an error prefix", "!{timestamp:yyyy}/", "",
			"Ths supplied prefix(es) do not satisfy the following constraint: ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"},
		{"error-output-type only in the error prefix", "x/!{firehose:error-output-type}/", "e/!{firehose:error-output-type}/",
			"Prefix cannot contain !{firehose:error-output-type}"},
		{"error prefix expressions need error-output-type", "x/", "e/!{timestamp:yyyy}/",
			"ErrorOutputPrefix must contain !{firehose:error-output-type}"},
		{"unknown namespace", "x/!{foo:bar}/", "e/!{firehose:error-output-type}/",
			`Unsupported namespace "foo" in Prefix`},
		{"unknown firehose value", "x/!{firehose:shard-id}/", "e/!{firehose:error-output-type}/",
			`Unsupported value "shard-id" for namespace firehose`},
		{"unknown namespace in the error prefix", "x/", "e/!{firehose:error-output-type}/!{bar:baz}",
			`Unsupported namespace "bar" in ErrorOutputPrefix`},
		{"unterminated", "x/!{timestamp:yyyy", "e/!{firehose:error-output-type}/", "unterminated expression"},
		{"no namespace", "x/!{timestamp}/", "e/!{firehose:error-output-type}/", "!{namespace:value}"},
		{"nested", "x/!{timestamp:!{timestamp:yyyy}/", "e/!{firehose:error-output-type}/", "cannot be nested"},
		{"empty pattern", "x/!{timestamp:}/", "e/!{firehose:error-output-type}/", "is empty"},
		{"unterminated quote", "x/!{timestamp:yyyy'}/", "e/!{firehose:error-output-type}/", "unterminated quoted literal"},
		{"too many letters", "x/!{timestamp:ddd}/", "e/!{firehose:error-output-type}/", "too many pattern letters: d"},
		{"unsupported letter", "x/!{timestamp:EEE}/", "e/!{firehose:error-output-type}/", `pattern letter "E"`},
		{"month names", "x/!{timestamp:MMM}/", "e/!{firehose:error-output-type}/", "Month names (MMM)"},
		{"dynamic partitioning keys", "x/!{partitionKeyFromQuery:id}/", "e/!{firehose:error-output-type}/", "dynamic partitioning"},
		{"over 512 characters evaluated", long + "!{timestamp:yyyy/MM/dd/HH}/", "e/!{firehose:error-output-type}/",
			"Prefix cannot be longer than 512 characters after evaluation (it evaluates to up to 515)"},
		{"over 512 with the appended timestamp", long, "", "evaluates to up to 515"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := streamConfig(tc.prefix, 1, 60, types.CompressionFormatUncompressed)
			if tc.errorPrefix != "" {
				c.ErrorOutputPrefix = aws.String(tc.errorPrefix)
			}
			_, err := e.fh.CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{
				DeliveryStreamName: aws.String("rules"), ExtendedS3DestinationConfiguration: c,
			})
			var invalid *types.InvalidArgumentException
			if !errors.As(err, &invalid) {
				t.Fatalf("CreateDeliveryStream = %T %v, want InvalidArgumentException", err, err)
			}
			if !strings.Contains(invalid.ErrorMessage(), tc.message) {
				t.Errorf("message %q, want it to contain %q", invalid.ErrorMessage(), tc.message)
			}
		})
	}
	// A prefix exactly at the limit is fine: 498 + "2025/01/02/03/" = 512.
	e.createActive("limit", streamConfig(strings.Repeat("q", 498), 1, 60, types.CompressionFormatUncompressed))
}
