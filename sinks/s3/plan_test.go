package s3

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Plan rejects what New rejects (without a client) and the negative sizes
// New would silently replace; it accepts what New builds.
func TestPlanAgreesWithNew(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "country", Type: arrow.BinaryTypes.String},
	}, nil)
	client := s3.NewFromConfig(aws.Config{Region: "us-east-1"}) // never called
	for _, c := range []struct {
		name string
		mod  func(*Options)
		key  string // "": valid
		msg  string
	}{
		{"valid", func(*Options) {}, "", ""},
		{"by event time", func(o *Options) { o.PartitionBy = "event:ts" }, "", ""},
		{"unknown column", func(o *Options) { o.PartitionBy = "event:nope" }, "partition_by", `"event:nope": no column "nope"; the timestamp columns here are ts`},
		{"not a timestamp", func(o *Options) { o.PartitionBy = "event:country" }, "partition_by", `"event:country": column "country" is not a timestamp; the timestamp columns here are ts`},
		{"unknown partitioning", func(o *Options) { o.PartitionBy = "arival" }, "partition_by", `"arival": want "arrival" or "event:<timestamp column>" (did you mean "arrival"?)`},
		{"compression", func(o *Options) { o.Compression = "lz4" }, "compression", `"lz4": want snappy, zstd or none`},
		{"no bucket", func(o *Options) { o.Bucket = "" }, "bucket", "is required"},
		{"negative roll interval", func(o *Options) { o.RollInterval = -time.Minute }, "roll_interval", "must be positive, got -1m0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Client: client, Bucket: "b", Name: "p", Schema: schema}
			c.mod(&o)
			problems := Plan(o)
			out, err := New(o)
			if err == nil {
				defer out.Close(context.Background())
			}
			if c.key == "" {
				if len(problems) > 0 || err != nil {
					t.Fatalf("problems %v, New: %v", problems, err)
				}
				return
			}
			if len(problems) != 1 || problems[0].Key != c.key || problems[0].Msg != c.msg {
				t.Fatalf("problems %+v, want %s: %s", problems, c.key, c.msg)
			}
		})
	}
}
