package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardflow/shardflow/consumer/kpl"
	"github.com/shardflow/shardflow/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// streamData reads every record of every shard of a stream (de-aggregating
// KPL aggregates) and returns the records' data.
func streamData(t testing.TB, kc *kinesis.Client, stream string) []string {
	t.Helper()
	ctx := context.Background()
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sh := range shards.Shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId,
			ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			res, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Records {
				subs, isAgg, err := kpl.Deaggregate(r.Data)
				if err != nil {
					t.Fatalf("corrupt aggregate: %v", err)
				}
				if !isAgg {
					out = append(out, string(r.Data))
					continue
				}
				for _, s := range subs {
					out = append(out, string(s.Data))
				}
			}
			if len(res.Records) == 0 && aws.ToInt64(res.MillisBehindLatest) == 0 {
				break
			}
			iter = res.NextShardIterator
		}
	}
	return out
}

// counts tallies how often each of want arrived in got.
type counts struct {
	missing, dups, extra int
	twice                []string
}

func tally(got []string, want []string) counts {
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	var c counts
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w] = true
		switch n := seen[w]; {
		case n == 0:
			c.missing++
		case n > 1:
			c.dups += n - 1
			if len(c.twice) < 5 {
				c.twice = append(c.twice, w)
			}
		}
	}
	for g := range seen {
		if !wanted[g] {
			c.extra++
		}
	}
	return c
}

// agentYAML renders an agent file for the local stack.
func agentYAML(env *testenv.Env, dir, flows string) string {
	return fmt.Sprintf(`
aws:
  region: %s
  endpoints: {kinesis: %q, firehose: %q, s3: %q}
state_file: %s
metrics_listen: "off"
shutdown_timeout: 10s
flows:
%s`, env.Region, env.KinesisEndpoint, env.FirehoseEndpoint, env.S3Endpoint, filepath.Join(dir, "state", "agent.json"), flows)
}

func parseConfig(t testing.TB, yaml string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	return cfg
}

// startAgent runs an agent in the background; stop cancels it and returns
// Run's error.
func startAgent(t testing.TB, cfg *Config, once bool) (*Agent, func() error) {
	t.Helper()
	env := testenv.Load(t)
	ac := env.AWSConfig()
	a, err := New(context.Background(), cfg, Options{Once: once, Logger: quiet, Hostname: "test-host", AWS: &ac})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var result error
	stopped := false
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("agent did not stop within 30s")
			}
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return a, stop
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// copytruncate does what logrotate's copytruncate does.
func copytruncate(t testing.TB, path, to string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

func lineOf(prefix string, i int) string {
	return fmt.Sprintf("%s-%06d %s", prefix, i, strings.Repeat("=", 20+i%40))
}
