package firehoselocal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// S3 is where S3 destinations deliver: a path-style client to an
	// S3-compatible server. Required.
	S3 *s3.Client
	// Region and Account appear in ARNs and messages. Defaults "us-east-1"
	// and "000000000000".
	Region  string
	Account string
	// Now is the clock for record arrival times: the interval trigger and
	// object keys use it. Default time.Now. Tests inject a fake clock.
	Now    func() time.Time
	Logger *slog.Logger
	// CreateDelay is how long a new stream stays CREATING before it becomes
	// ACTIVE, as the real service creates asynchronously: clients that write
	// before waiting for ACTIVE fail here as they would on AWS. Zero means
	// the default 100ms; negative means ACTIVE at once.
	CreateDelay time.Duration
	// FlushTick is how often each stream checks its interval trigger, and so
	// the latency of IntervalInSeconds=0. Default 100ms.
	FlushTick time.Duration
	// RedshiftPostgresURL is the PostgreSQL server that stands in for every
	// Redshift cluster, e.g. postgres://postgres@127.0.0.1:5432/?sslmode=disable.
	// A Redshift destination loads into the database its ClusterJDBCURL
	// names (jdbc:redshift://<any cluster host>:<port>/<database>), on this
	// server; the URL's user and password are used when it has a user, else
	// the destination's Username and Password. Empty: Redshift destinations
	// are refused with InvalidArgumentException.
	RedshiftPostgresURL string
	// GlueTablesDir holds the table definitions that stand in for the Glue
	// Data Catalog in format conversion: <dir>/<database>/<table>.json (see
	// the package documentation). Empty: format conversion is refused.
	GlueTablesDir string
	// AllowSmallBuffers accepts BufferingHints.SizeInMBs below the 64 MiB
	// the service requires with format conversion, for local development
	// (objects after a few records instead of 64 MiB).
	AllowSmallBuffers bool
	// ActivePartitionLimit bounds a dynamically partitioned stream's
	// partitions with buffered data (default 500, the service's quota);
	// records for a new partition beyond it go to the error prefix
	// (activePartitionExceeded).
	ActivePartitionLimit int
}

const (
	defaultCreateDelay = 100 * time.Millisecond
	defaultFlushTick   = 100 * time.Millisecond
	// maxBodyBytes bounds a request body: 500 records of 1,024,000 bytes in
	// base64 cannot pass the 4 MiB check anyway, and a bound keeps a bad
	// client from exhausting memory.
	maxBodyBytes = 16 << 20
)

// Server is a Firehose emulator. It is an http.Handler; Close stops it.
type Server struct {
	cfg Config
	log *slog.Logger

	// baseCtx bounds every S3 upload; Close cancels it when its own deadline
	// passes so that retry loops give up.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	pgURL *url.URL // parsed RedshiftPostgresURL, nil when unset

	mu      sync.Mutex
	streams map[string]*stream
	closed  bool
	wg      sync.WaitGroup // one per stream goroutine
}

// New validates cfg and returns a Server ready to serve.
func New(cfg Config) (*Server, error) {
	if cfg.S3 == nil {
		return nil, errors.New("firehoselocal: Config.S3 is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Account == "" {
		cfg.Account = "000000000000"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CreateDelay == 0 {
		cfg.CreateDelay = defaultCreateDelay
	}
	if cfg.ActivePartitionLimit <= 0 {
		cfg.ActivePartitionLimit = defaultActivePartitionLimit
	}
	if cfg.FlushTick <= 0 {
		cfg.FlushTick = defaultFlushTick
	}
	var pgURL *url.URL
	if cfg.RedshiftPostgresURL != "" {
		u, err := parsePostgresURL(cfg.RedshiftPostgresURL)
		if err != nil {
			return nil, fmt.Errorf("firehoselocal: Config.RedshiftPostgresURL: %w", err)
		}
		pgURL = u
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		pgURL:      pgURL,
		cfg:        cfg,
		log:        cfg.Logger.With("component", "firehose-local"),
		baseCtx:    ctx,
		cancelBase: cancel,
		streams:    make(map[string]*stream),
	}, nil
}

// ServeHTTP serves the Firehose API on POST / and the local endpoints
// described in the package documentation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	case r.URL.Path == "/_local/streams" && r.Method == http.MethodGet:
		s.serveStats(w)
	case r.URL.Path == "/_local/faults":
		s.serveFaults(w, r)
	case r.URL.Path == "/" && r.Method == http.MethodPost:
		s.serveAPI(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Close stops accepting requests, flushes every stream's buffer to S3 (and,
// for Redshift, loads what is staged) and waits for the stream goroutines.
// If ctx ends first, uploads and loads still failing are abandoned and the
// error says how much was not delivered.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	all := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		all = append(all, st)
	}
	s.mu.Unlock()

	for _, st := range all {
		st.stop()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var ctxErr error
	select {
	case <-done:
	case <-ctx.Done():
		ctxErr = ctx.Err()
		s.cancelBase() // retry loops see it and return
		<-done
	}
	s.cancelBase()

	var lost int64
	var unloaded int
	for _, st := range all {
		lost += st.snapshot().BufferedBytes
		st.mu.Lock()
		unloaded += st.abandoned
		st.mu.Unlock()
	}
	if lost > 0 {
		return fmt.Errorf("firehoselocal: close: %d bytes not delivered to S3: %w", lost, errors.Join(ctxErr, errUndelivered))
	}
	if unloaded > 0 {
		return fmt.Errorf("firehoselocal: close: %d objects staged in S3 but not loaded into PostgreSQL (listed under errors/manifests/ where S3 allowed): %w",
			unloaded, errors.Join(ctxErr, errUndelivered))
	}
	if ctxErr != nil {
		return fmt.Errorf("firehoselocal: close: %w", ctxErr)
	}
	return nil
}

var errUndelivered = errors.New("undelivered data")

// lookup returns the named stream, or nil.
func (s *Server) lookup(name string) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[name]
}

// activeStream returns the named stream if it accepts records. The service
// answers ResourceNotFoundException for a stream that is not ACTIVE yet (or
// any more), as it does for one that does not exist.
func (s *Server) activeStream(name string) (*stream, error) {
	st := s.lookup(name)
	if st == nil || st.status() != statusActive {
		return nil, s.notFound(name)
	}
	return st, nil
}
