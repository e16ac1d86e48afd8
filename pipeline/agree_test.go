package pipeline

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/shardflow/shardflow/internal/testenv"
)

// TestValidateAndRunAgree: every config `validate` accepts — each valid
// config of the table and every example — is built by New against the
// local stack (clients, dead-letter file, outputs, window operators and
// emitters, lease store, consumer), so that run never rejects for a config
// reason what validate passed. The broken configs of the table are all
// rejected by Plan (TestBrokenConfigsNameTheirProblems), which run calls
// first, so New never sees them.
func TestValidateAndRunAgree(t *testing.T) {
	env := testenv.Load(t)
	vars := map[string]string{
		"AWS_REGION": env.Region, "SHARDFLOW_KINESIS_ENDPOINT": env.KinesisEndpoint,
		"SHARDFLOW_DYNAMODB_ENDPOINT": env.DynamoDBEndpoint, "SHARDFLOW_FIREHOSE_ENDPOINT": env.FirehoseEndpoint,
		"SHARDFLOW_S3_ENDPOINT": env.S3Endpoint, "SHARDFLOW_S3_BUCKET": env.S3Bucket, "SHARDFLOW_REDIS_URL": env.RedisURL,
		"KEY_PREFIX": testenv.UniqueName(t, "agree"),
	}
	build := func(t *testing.T, plan *Resolved) {
		t.Helper()
		// Dead letters of the examples would land in the package dir.
		if f := plan.Config.DeadLetter.File; f != "" && !filepath.IsAbs(f) {
			plan.Config.DeadLetter.File = filepath.Join(t.TempDir(), filepath.Base(f))
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		p, err := New(context.Background(), plan, Options{Logger: log, WorkerID: "agree"})
		if err != nil {
			t.Fatalf("validate accepts the config, New rejects it: %v", err)
		}
		p.closeBuilt()
	}
	valid := 0
	for _, c := range configCases {
		if c.want != nil {
			continue
		}
		valid++
		t.Run(c.name, func(t *testing.T) {
			all := map[string]string{}
			for k, v := range vars {
				all[k] = v
			}
			for k, v := range c.vars {
				all[k] = v
			}
			cfg, err := Decode([]byte(c.yaml(t)), planEnv(t, all))
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Plan(cfg)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			build(t, plan)
		})
	}
	if valid < 10 {
		t.Errorf("only %d valid configs in the table", valid)
	}
	examples, _ := filepath.Glob("../examples/*.yaml")
	for _, f := range examples {
		t.Run(filepath.Base(f), func(t *testing.T) {
			// Paths in a pipeline file (static tables) are relative to the
			// directory shardflow runs in: the examples' to the repository
			// root.
			t.Chdir("..")
			f := filepath.Join("examples", filepath.Base(f))
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := decodeFile(f, raw, func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Plan(cfg)
			if err != nil {
				t.Fatalf("validate rejects an example: %v", err)
			}
			build(t, plan)
		})
	}
}
