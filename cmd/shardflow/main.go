// Command shardflow runs one pipeline: Kinesis stream → decode → Firehose.
//
//	shardflow run -c pipeline.yaml        run the pipeline until SIGTERM/SIGINT
//	shardflow validate pipeline.yaml      check a config, print every error
//	shardflow config -c pipeline.yaml     print the effective config
//	shardflow explain -c pipeline.yaml    print the plan
//	shardflow produce -c pipeline.yaml    put generated click events into the stream
//	shardflow agent -c agent.yaml         tail files / read S3 prefixes into Kinesis or Firehose
//	shardflow scale -c pipeline.yaml      ECS desired count from open shards
//	shardflow leases -c pipeline.yaml     who holds which shard: checkpoint, lag, load
//	shardflow enrich load FILE --key K    seed a Redis lookup table
//	shardflow local setup|report ...      create/inspect local-stack resources
//	shardflow checkpoints list|reset ...  show or rewind a pipeline's checkpoints
//	shardflow deadletter redrive ...      put dead-lettered records back into the stream
//	shardflow status -c pipeline.yaml     leases, checkpoint lag, window progress from the stores
//	shardflow version
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/shardflow/shardflow/pipeline"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if helpRequested(args[1:]) {
		// A subcommand's help is an answer, not an error: stdout, exit 0.
		stderr = stdout
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stderr)
	case "validate":
		err = cmdValidate(args[1:], stdout, stderr)
	case "config":
		err = cmdConfig(args[1:], stdout, stderr)
	case "explain":
		err = cmdExplain(args[1:], stdout, stderr)
	case "produce":
		err = cmdProduce(args[1:], stdout, stderr)
	case "agent":
		err = cmdAgent(args[1:], stdout, stderr)
	case "local":
		err = cmdLocal(args[1:], stdout, stderr)
	case "enrich":
		err = cmdEnrich(args[1:], stdout, stderr)
	case "scale":
		err = cmdScale(args[1:], stdout, stderr)
	case "leases":
		err = cmdLeases(args[1:], stdout, stderr)
	case "healthcheck":
		err = cmdHealthcheck(args[1:], stdout)
	case "checkpoints":
		err = cmdCheckpoints(args[1:], stdout, stderr)
	case "deadletter":
		err = cmdDeadLetter(args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(args[1:], stdout, stderr)
	case "schema":
		if helpRequested(args[1:]) {
			fmt.Fprintln(stdout, "usage: shardflow schema > shardflow.schema.json\n\nPrints the JSON Schema of pipeline files (for editor completion).")
			break
		}
		var raw []byte
		if raw, err = pipeline.JSONSchema(); err == nil {
			_, err = fmt.Fprintln(stdout, string(raw))
		}
	case "version", "--version", "-v":
		if helpRequested(args[1:]) {
			fmt.Fprintln(stdout, "usage: shardflow version\n\nPrints the version, the commit it was built from and the Go version.")
			break
		}
		fmt.Fprintln(stdout, "shardflow", versionString())
	case "help", "-h", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "shardflow: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err != nil {
		switch err {
		case errHelp:
			return 0
		case errUsage:
			return 2
		}
		if err == errProblems {
			return 1
		}
		fmt.Fprintln(stderr, "shardflow:", err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: shardflow <command> [flags]

commands:
  run -c FILE        run the pipeline described by FILE until SIGTERM/SIGINT
  validate FILE      check FILE offline and print every problem with its line and field path (also -c FILE)
  config -c FILE     print the effective config: every default filled in, secrets masked
  explain -c FILE    print the plan: stages, schemas, window keys and aggregates, outputs and their cost
  produce -c FILE    put generated click events into the pipeline's stream
  agent -c FILE      tail log files or read S3 prefixes into Kinesis or Firehose (--once for backfills)
  scale -c FILE      set the ECS service's desired count from open shards (--dry-run prints it)
  leases -c FILE     who holds which shard, each shard's checkpoint, lag and load, the live workers
  enrich load FILE   seed a Redis lookup table from a CSV/JSON file (--key 'user:{user_id}')
  local setup|report create or inspect resources on the local stack
  healthcheck        exit 0 when a running shardflow's /healthz answers 200 (container health check)
  checkpoints list|reset -c FILE
                     show leases and checkpoints; rewind or skip ahead (--to trim_horizon|latest|at_timestamp=T)
  status -c FILE     leases, checkpoint lag per shard, windows' watermarks — from the stores, no ops port
  deadletter redrive -c FILE --from FILE|s3://bucket/prefix
                     put dead-lettered records back into the stream (--reason to filter)
  schema             print the JSON Schema of pipeline files (for editors)
  version            print the version

Run 'shardflow <command> -h' for a command's flags.
`)
}

// newLogger builds the process logger: JSON (for CloudWatch) or text.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want json or text, got %q", format)
}
