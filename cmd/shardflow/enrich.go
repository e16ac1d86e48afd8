package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/shardflow/shardflow/pipeline"
	"github.com/shardflow/shardflow/processors/enrich"
)

// cmdEnrich seeds a Redis lookup table: shardflow enrich load FILE --key 'user:{user_id}'.
func cmdEnrich(args []string, stdout, stderr io.Writer) error {
	const usage = "usage: shardflow enrich load FILE --key 'user:{user_id}' [-c pipeline.yaml | --redis URL] [--prefix P] [--format csv|json] [--ttl 0]"
	fs := flag.NewFlagSet("enrich load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "key template over the file's columns, e.g. 'user:{user_id}'")
	cfgPath := fs.String("c", "", "pipeline config: its redis block is used")
	redisURL := fs.String("redis", os.Getenv("SHARDFLOW_REDIS_URL"), "Redis URL when no -c is given (env SHARDFLOW_REDIS_URL)")
	prefix := fs.String("prefix", "", "key prefix (must match the redis_lookup's key_prefix)")
	format := fs.String("format", "", "csv or json (default: from the file extension)")
	ttl := fs.Duration("ttl", 0, "expire the keys after this long (0: never)")
	if helpRequested(args) {
		fmt.Fprintln(stderr, usage+"\n\nSeeds a Redis lookup table (for transforms[].redis_lookup) from a CSV or JSON file.\n\nflags:")
		fs.PrintDefaults()
		return errHelp
	}
	if len(args) < 2 || args[0] != "load" {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	file := args[1]
	if err := parseFlags(fs, args[2:]); err != nil {
		return err
	}
	if *key == "" {
		fmt.Fprintln(stderr, "enrich load: --key is required")
		return errUsage
	}
	rcfg := pipeline.RedisConfig{URL: *redisURL}
	if *cfgPath != "" {
		cfg, err := pipeline.Load(*cfgPath)
		if err != nil {
			return err
		}
		rcfg = cfg.Redis
	}
	if rcfg.URL == "" && len(rcfg.ClusterAddrs) == 0 {
		fmt.Fprintln(stderr, "enrich load: give -c pipeline.yaml or --redis URL")
		return errUsage
	}
	rc, err := pipeline.RedisClient(rcfg)
	if err != nil {
		return fmt.Errorf("enrich load: %w", err)
	}
	defer rc.Close()
	res, err := enrich.Load(context.Background(), rc, file, *key, enrich.LoadOptions{KeyPrefix: *prefix, Format: *format, TTL: *ttl})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loaded %d keys (%d fields) from %s in %d round trips\n", res.Rows, res.Fields, file, res.RoundTrips)
	return nil
}
