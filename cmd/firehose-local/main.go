// Command firehose-local serves a Firehose-compatible endpoint that
// delivers to an S3-compatible server and, for Redshift destinations, loads
// into PostgreSQL (see internal/firehoselocal).
//
// Usage:
//
//	firehose-local -s3-endpoint http://127.0.0.1:4569 [-addr 127.0.0.1:4573] [-region us-east-1]
//	               [-redshift-postgres-url postgres://postgres@127.0.0.1:5432/?sslmode=disable]
//	               [-glue-tables-dir DIR] [-allow-small-buffers] [-active-partition-limit 500]
//
// -glue-tables-dir stands in for the Glue Data Catalog in record format
// conversion: a SchemaConfiguration's table is read from
// DIR/<DatabaseName>/<TableName>.json (a Glue TableInput; see
// internal/firehoselocal). -allow-small-buffers accepts SizeInMBs below the
// 64 MiB the service requires with format conversion. -active-partition-limit
// is the dynamic-partitioning quota per stream (the service's default 500).
//
// -redshift-postgres-url is the PostgreSQL server that stands in for every
// Redshift cluster: a Redshift destination whose ClusterJDBCURL is
// jdbc:redshift://<cluster host>:<port>/<db> loads into database <db> on
// that server (the JDBC host and port are ignored). The URL's user and
// password are used when it names a user, else the destination's Username
// and Password. Without the flag, Redshift destinations are refused.
//
// The S3 client signs with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
// (default "local"/"local") and uses path-style addressing. The first line
// on stdout is "firehose-local listening on http://HOST:PORT" (useful with
// port 0). SIGTERM or SIGINT stops accepting requests, flushes every
// stream's buffer to S3 (and loads what Redshift destinations staged) and
// exits 0; if data could not be delivered within the shutdown timeout it
// exits 1 saying how much.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/internal/firehoselocal"
)

// shutdownTimeout bounds the final flush, inside ECS's default 30 s stop
// timeout.
const shutdownTimeout = 25 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "firehose-local:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down and flushes.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("firehose-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4573", "listen address (port 0 picks a free port)")
	s3Endpoint := fs.String("s3-endpoint", "", "base URL of the S3-compatible server, e.g. http://127.0.0.1:4569 (required)")
	region := fs.String("region", "us-east-1", "region used in ARNs and for signing S3 requests")
	pgURL := fs.String("redshift-postgres-url", "", "PostgreSQL server standing in for Redshift clusters, e.g. postgres://postgres@127.0.0.1:5432/?sslmode=disable (Redshift destinations load into the database their ClusterJDBCURL names)")
	glueDir := fs.String("glue-tables-dir", "", "directory of Glue table definitions for format conversion: <database>/<table>.json")
	smallBuffers := fs.Bool("allow-small-buffers", false, "accept BufferingHints.SizeInMBs below 64 with format conversion (local development)")
	partitions := fs.Int("active-partition-limit", 500, "active partitions per dynamically partitioned stream")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *s3Endpoint == "" {
		return errors.New("-s3-endpoint is required")
	}
	if u, err := url.Parse(*s3Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("-s3-endpoint %q is not an absolute URL", *s3Endpoint)
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := firehoselocal.New(firehoselocal.Config{
		S3:                   newS3Client(*s3Endpoint, *region, getenv),
		Region:               *region,
		Logger:               logger,
		RedshiftPostgresURL:  *pgURL,
		GlueTablesDir:        *glueDir,
		AllowSmallBuffers:    *smallBuffers,
		ActivePartitionLimit: *partitions,
	})
	if err != nil {
		return fmt.Errorf("start emulator: %w", err)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	fmt.Fprintf(stdout, "firehose-local listening on http://%s\n", ln.Addr())

	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	var serveErr error
	select {
	case err := <-served:
		serveErr = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		logger.Info("shutting down: flushing buffers to S3")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Stop accepting first so that nothing is accepted after the final flush.
	if err := hs.Shutdown(shutdownCtx); err != nil {
		serveErr = errors.Join(serveErr, fmt.Errorf("http shutdown: %w", err))
	}
	if err := srv.Close(shutdownCtx); err != nil {
		return errors.Join(serveErr, err)
	}
	return serveErr
}

// newS3Client builds a path-style client for an S3-compatible endpoint,
// with static credentials from the environment (default "local"/"local")
// so that no AWS profile or IMDS lookup is ever attempted.
func newS3Client(endpoint, region string, getenv func(string) string) *s3.Client {
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		key, secret = "local", "local"
	}
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN")),
	})
}
