package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// cmdHealthcheck probes a running shardflow's /healthz and fails unless it
// answers 200: the container health check of an image without a shell or
// curl (ECS runs ["CMD", "/usr/local/bin/shardflow", "healthcheck"]).
func cmdHealthcheck(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9090", "address of the process's ops.listen")
	path := fs.String("path", "/healthz", "endpoint to probe (/readyz for readiness)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	fs.SetOutput(stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	url := "http://" + *addr + *path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	text := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: %s: %s", url, resp.Status, text)
	}
	if text == "" {
		return errors.New("healthcheck " + url + ": empty answer")
	}
	_, err = fmt.Fprintln(stdout, text)
	return err
}
