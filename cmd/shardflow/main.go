// Command shardflow runs one pipeline: Kinesis stream → decode → Firehose.
//
//	shardflow run -c pipeline.yaml        run the pipeline until SIGTERM/SIGINT
//	shardflow validate -c pipeline.yaml   check a config, print every error
//	shardflow produce -c pipeline.yaml    put generated click events into the stream
//	shardflow agent -c agent.yaml         tail files / read S3 prefixes into Kinesis or Firehose
//	shardflow scale -c pipeline.yaml      ECS desired count from open shards
//	shardflow enrich load FILE --key K    seed a Redis lookup table
//	shardflow local setup|report ...      create/inspect local-stack resources
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

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stderr)
	case "validate":
		err = cmdValidate(args[1:], stdout)
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
	case "healthcheck":
		err = cmdHealthcheck(args[1:], stdout)
	case "schema":
		var raw []byte
		if raw, err = pipeline.JSONSchema(); err == nil {
			_, err = fmt.Fprintln(stdout, string(raw))
		}
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "shardflow", version)
	case "help", "-h", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "shardflow: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err != nil {
		if err == errUsage {
			return 2
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
  validate -c FILE   check FILE and print every problem with its field path
  produce -c FILE    put generated click events into the pipeline's stream
  agent -c FILE      tail log files or read S3 prefixes into Kinesis or Firehose (--once for backfills)
  scale -c FILE      set the ECS service's desired count from open shards (--dry-run prints it)
  enrich load FILE   seed a Redis lookup table from a CSV/JSON file (--key 'user:{user_id}')
  local setup|report create or inspect resources on the local stack
  healthcheck        exit 0 when a running shardflow's /healthz answers 200 (container health check)
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
