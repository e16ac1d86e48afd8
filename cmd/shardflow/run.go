package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/shardflow/shardflow/consumer"
	"github.com/shardflow/shardflow/pipeline"
)

var errUsage = errors.New("usage")

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}

func cmdRun(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "pipeline config file (YAML)")
	workerID := fs.String("worker-id", "", "KCL worker id (default hostname-pid)")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "run: -c FILE is required")
		return errUsage
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	// The KCL's lease code and go-redis log through globals of their own:
	// route both into this process's log.
	consumer.RouteKCLLogs(log)
	pipeline.RouteRedisLogs(log)
	cfg, err := pipeline.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	p, err := pipeline.New(ctx, cfg, pipeline.Options{Logger: log, WorkerID: *workerID})
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

func cmdValidate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stdout)
	cfgPath := fs.String("c", "", "pipeline config file (YAML)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintln(stdout, "validate: -c FILE is required")
		return errUsage
	}
	if _, err := pipeline.Load(*cfgPath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok\n", *cfgPath)
	return nil
}
