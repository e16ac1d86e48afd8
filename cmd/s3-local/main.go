// Command s3-local is an S3-compatible server for the local stack: gofakes3
// with its on-disk backend, so that what firehose-local delivers survives a
// restart and can be inspected under -dir.
//
// Usage:
//
//	s3-local -dir PATH [-addr 127.0.0.1:4569] [-bucket NAME]...
//
// The first line on stdout is "s3-local listening on http://HOST:PORT"
// (useful with port 0). SIGTERM or SIGINT shuts it down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "s3-local:", err)
		os.Exit(1)
	}
}

// bucketList is the repeatable -bucket flag.
type bucketList []string

func (b *bucketList) String() string { return strings.Join(*b, ",") }

func (b *bucketList) Set(v string) error {
	if v == "" {
		return errors.New("empty bucket name")
	}
	*b = append(*b, v)
	return nil
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("s3-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4569", "listen address (port 0 picks a free port)")
	dir := fs.String("dir", "", "directory holding buckets and metadata (required; created if missing)")
	var buckets bucketList
	fs.Var(&buckets, "bucket", "bucket to create at start if missing (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}

	root, err := s3afero.FsPath(*dir, s3afero.FsPathCreateAll)
	if err != nil {
		return fmt.Errorf("open -dir %s: %w", *dir, err)
	}
	meta, err := s3afero.NewBasePathFs(root, "metadata", s3afero.FsPathCreateAll)
	if err != nil {
		return fmt.Errorf("open -dir %s: %w", *dir, err)
	}
	backend, err := s3afero.MultiBucket(root, s3afero.MultiWithMetaFs(shortMetaNames{meta}))
	if err != nil {
		return fmt.Errorf("open backend in %s: %w", *dir, err)
	}
	for _, b := range buckets {
		if err := ensureBucket(backend, b); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	fmt.Fprintf(stdout, "s3-local listening on http://%s\n", ln.Addr())

	faker := gofakes3.New(prefixListing{backend}, gofakes3.WithLogger(gofakes3.StdLog(log.New(stderr, "s3-local ", log.LstdFlags), gofakes3.LogErr)))
	srv := &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// prefixListing makes listing a prefix under which nothing was written yet
// answer an empty list, as S3 does: the afero backend answers NoSuchBucket
// when the prefix's directory does not exist.
type prefixListing struct {
	*s3afero.MultiBucketBackend
}

func (b prefixListing) ListBucket(bucket string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	list, err := b.MultiBucketBackend.ListBucket(bucket, prefix, page)
	if err != nil && gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchBucket) {
		if ok, berr := b.BucketExists(bucket); berr == nil && ok {
			return gofakes3.NewObjectList(), nil
		}
	}
	return list, err
}

func ensureBucket(b *s3afero.MultiBucketBackend, name string) error {
	if err := gofakes3.ValidateBucketName(name); err != nil {
		return fmt.Errorf("-bucket %s: %w", name, err)
	}
	exists, err := b.BucketExists(name)
	if err != nil {
		return fmt.Errorf("check bucket %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if err := b.CreateBucket(name); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}
