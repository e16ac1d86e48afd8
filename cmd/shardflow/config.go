package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/shardflow/shardflow/pipeline"
)

// cmdConfig prints the effective config of a valid pipeline file: every
// default filled in, secrets masked.
func cmdConfig(args []string, stdout, stderr io.Writer) error {
	plan, err := planFromFlags("config", args, stderr)
	if err != nil {
		return err
	}
	out, err := plan.Config.EffectiveYAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// cmdExplain prints the plan of a valid pipeline file.
func cmdExplain(args []string, stdout, stderr io.Writer) error {
	plan, err := planFromFlags("explain", args, stderr)
	if err != nil {
		return err
	}
	return plan.Explain(stdout)
}

// planFromFlags parses -c FILE (or FILE) and plans the file.
func planFromFlags(cmd string, args []string, stderr io.Writer) (*pipeline.Resolved, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "pipeline config file (YAML)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, errUsage
	}
	if *cfgPath == "" && fs.NArg() == 1 {
		*cfgPath = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		return nil, errUsage
	}
	if *cfgPath == "" {
		fmt.Fprintf(stderr, "%s: -c FILE is required\n", cmd)
		return nil, errUsage
	}
	return pipeline.LoadPlan(*cfgPath)
}
