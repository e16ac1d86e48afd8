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

// errUsage: the command line is wrong (exit 2); the problem was printed.
// errHelp: help was asked for and printed (exit 0).
var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help")
)

// helpRequested reports whether args (a subcommand's arguments) ask for
// help: -h, -help or --help before a "--".
func helpRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
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
	// The same plan validate makes: what it accepts, run builds.
	plan, err := pipeline.LoadPlan(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	p, err := pipeline.New(ctx, plan, pipeline.Options{Logger: log, WorkerID: *workerID})
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

// cmdValidate plans each file (pipeline.Plan: every stage's options and
// schemas, static table files read, no network) and prints every problem,
// "file:line:column: path: message", to stderr.
func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "pipeline config file (YAML); or name the files after the flags")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shardflow validate [-c] FILE [FILE...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	files := fs.Args()
	if *cfgPath != "" {
		files = append([]string{*cfgPath}, files...)
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "validate: name a pipeline file: shardflow validate FILE (or -c FILE)")
		return errUsage
	}
	failed := 0
	for _, f := range files {
		_, err := pipeline.LoadPlan(f)
		var probs *pipeline.Problems
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "%s: ok\n", f)
		case errors.As(err, &probs):
			failed++
			for _, e := range probs.List {
				fmt.Fprintln(stderr, probs.Line(e))
			}
			fmt.Fprintf(stderr, "%s: %d problem%s\n", f, len(probs.List), plural(len(probs.List)))
		default:
			failed++
			fmt.Fprintf(stderr, "%s: %v\n", f, err)
		}
	}
	if failed > 0 {
		return errProblems
	}
	return nil
}

// errProblems is returned once the problems are printed: exit 1, no more.
var errProblems = errors.New("the config has problems")

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
