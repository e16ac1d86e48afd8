package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of redis.dial_timeout, read_timeout and write_timeout, also for a
// RedisConfig built in Go without them.
const (
	defaultRedisDialTimeout  = 5 * time.Second
	defaultRedisReadTimeout  = 3 * time.Second
	defaultRedisWriteTimeout = 3 * time.Second
)

// RedisClient connects to the pipeline's Redis: one node (url) or a cluster
// (cluster_addrs), with the configured user, password, TLS, pool and
// timeouts. Every Redis client shardflow builds comes from here (run, the
// lease store of the tools, checkpoints, status, enrich load, local), so
// they all connect alike.
//
// TLS always verifies the server's certificate (against redis.tls.ca_file
// or the system's CAs, for redis.tls.server_name or the host dialled);
// there is no option to skip it. A failed verification is an error that
// says "TLS verification failed" with the server address and the CA file;
// a refused AUTH or a command the ACL user may not run says so with the
// server and the user. The URL's password never appears in an error.
func RedisClient(c RedisConfig) (redis.UniversalClient, error) {
	var tlsConf *tls.Config
	if c.TLSOn() {
		var err error
		if tlsConf, err = redisTLSConfig(c); err != nil {
			return nil, err
		}
	}
	dialTimeout := orDefault(c.DialTimeout.D(), defaultRedisDialTimeout)
	readTimeout := orDefault(c.ReadTimeout.D(), defaultRedisReadTimeout)
	writeTimeout := orDefault(c.WriteTimeout.D(), defaultRedisWriteTimeout)
	caFile := ""
	if c.TLS != nil {
		caFile = c.TLS.CAFile
	}
	dial := redisDialer(tlsConf, caFile, dialTimeout)
	var client redis.UniversalClient
	var addr, user string
	if len(c.ClusterAddrs) > 0 {
		user = c.Username
		client = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: c.ClusterAddrs, Username: c.Username, Password: c.Password,
			TLSConfig: tlsConf, Dialer: dial,
			DialTimeout: dialTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
			PoolSize: c.PoolSize, MinIdleConns: c.MinIdleConns,
		})
	} else {
		opts, err := redis.ParseURL(c.URL)
		if err != nil {
			return nil, errors.New("redis.url is not a valid redis:// or rediss:// URL")
		}
		if c.Username != "" {
			opts.Username = c.Username
		}
		if c.Password != "" {
			opts.Password = c.Password
		}
		addr, user = opts.Addr, opts.Username
		opts.TLSConfig, opts.Dialer = tlsConf, dial
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = dialTimeout, readTimeout, writeTimeout
		if c.PoolSize > 0 {
			opts.PoolSize = c.PoolSize
		}
		if c.MinIdleConns > 0 {
			opts.MinIdleConns = c.MinIdleConns
		}
		client = redis.NewClient(opts)
	}
	if user == "" {
		user = "default"
	}
	client.AddHook(authHook{addr: addr, user: user})
	return client, nil
}

func redisClient(c RedisConfig) (redis.UniversalClient, error) { return RedisClient(c) }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// redisTLSConfig is the TLS of c: verified, TLS 1.2 or later.
func redisTLSConfig(c RedisConfig) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLS == nil {
		return conf, nil
	}
	conf.ServerName = c.TLS.ServerName
	if c.TLS.CAFile != "" {
		pool, err := loadCAFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.ca_file: %w", err)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// loadCAFile reads a PEM file of CA certificates.
func loadCAFile(path string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA file: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := raw; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d does not parse: %w", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path)
	}
	return pool, nil
}

// redisDialer dials TCP and, with conf, completes the TLS handshake within
// the dial timeout, so that a certificate that does not verify fails the
// dial with an error that says so.
func redisDialer(conf *tls.Config, caFile string, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: timeout, KeepAlive: 5 * time.Minute}
	if conf == nil {
		return nd.DialContext
	}
	td := &tls.Dialer{NetDialer: nd, Config: conf}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := td.DialContext(ctx, network, addr)
		if err == nil {
			return conn, nil
		}
		return nil, tlsDialError(addr, conf, caFile, err)
	}
}

// TLSVerifyError is a Redis server whose certificate did not verify.
type TLSVerifyError struct {
	Addr       string // the server dialled
	CAFile     string // redis.tls.ca_file; empty: the system's CAs
	ServerName string // the name the certificate had to be valid for
	Err        error
}

func (e *TLSVerifyError) Error() string {
	ca := "the system's CAs"
	if e.CAFile != "" {
		ca = "ca_file " + e.CAFile
	}
	return fmt.Sprintf("redis %s: TLS verification failed (%s, server name %s): %v", e.Addr, ca, e.ServerName, e.Err)
}

func (e *TLSVerifyError) Unwrap() error { return e.Err }

func tlsDialError(addr string, conf *tls.Config, caFile string, err error) error {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		name := conf.ServerName
		if name == "" {
			name, _, _ = net.SplitHostPort(addr)
		}
		return &TLSVerifyError{Addr: addr, CAFile: caFile, ServerName: name, Err: verr.Err}
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return fmt.Errorf("redis %s: TLS handshake failed, the server does not speak TLS (use redis:// for a plain port, or its tls-port): %w", addr, err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("redis %s: %w", addr, err)
	}
	return fmt.Errorf("redis %s: TLS handshake failed (is this the server's TLS port?): %w", addr, err)
}

// RedisAuthError is a Redis server that refused the client's AUTH or one
// of its commands (ACL).
type RedisAuthError struct {
	Addr string // empty when the client does not say
	User string
	Cmd  string // the command refused (NOPERM), or empty
	Err  error  // the server's error: WRONGPASS, NOAUTH, NOPERM
}

func (e *RedisAuthError) Error() string {
	where := "redis"
	if e.Addr != "" {
		where = "redis " + e.Addr
	}
	msg := e.Err.Error()
	switch {
	case strings.HasPrefix(msg, "NOPERM"):
		return fmt.Sprintf("%s: ACL user %s may not run %s: %s (grant it the commands in docs/redis.md \"TLS and AUTH\")", where, e.User, e.Cmd, msg)
	case strings.HasPrefix(msg, "NOAUTH"):
		return fmt.Sprintf("%s: AUTH required: %s (set redis.password, or the url's password, from the environment)", where, msg)
	}
	return fmt.Sprintf("%s: AUTH as user %s failed: %s (check redis.username and redis.password; during an AUTH token rotation both tokens work until the old one is removed)", where, e.User, msg)
}

func (e *RedisAuthError) Unwrap() error { return e.Err }

// RedisError keeps the error a go-redis server error (redis.HasErrorPrefix).
func (e *RedisAuthError) RedisError() {}

// authHook turns the server's WRONGPASS / NOAUTH / NOPERM into a
// RedisAuthError naming the server and the user; other errors pass as they
// are (redis.Nil, NOSCRIPT, ...).
type authHook struct{ addr, user string }

func (authHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h authHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if wrapped := h.wrap(cmd, err); wrapped != err {
			cmd.SetErr(wrapped)
			return wrapped
		}
		return err
	}
}

func (h authHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil {
			return nil
		}
		var first error
		for _, cmd := range cmds {
			if w := h.wrap(cmd, cmd.Err()); w != cmd.Err() {
				cmd.SetErr(w)
				if first == nil {
					first = w
				}
			}
		}
		if first != nil && isAuthErr(err) {
			return first
		}
		return h.wrap(nil, err)
	}
}

func isAuthErr(err error) bool {
	if err == nil {
		return false
	}
	var already *RedisAuthError
	if errors.As(err, &already) {
		return false
	}
	return redis.HasErrorPrefix(err, "WRONGPASS") || redis.HasErrorPrefix(err, "NOAUTH") || redis.HasErrorPrefix(err, "NOPERM")
}

func (h authHook) wrap(cmd redis.Cmder, err error) error {
	if !isAuthErr(err) {
		return err
	}
	e := &RedisAuthError{Addr: h.addr, User: h.user, Err: err}
	if cmd != nil {
		e.Cmd = strings.ToUpper(cmd.Name())
	}
	return e
}

// checkRedisAccess pings Redis once at start. A certificate that does not
// verify, or an AUTH the server refuses, is a configuration error that no
// retry mends: it is returned, and the pipeline does not start. Any other
// failure (Redis not up yet, a network blip) is logged and left to the
// retries and /readyz, as before.
func checkRedisAccess(ctx context.Context, rc redis.UniversalClient, c RedisConfig, log *slog.Logger) error {
	bound := orDefault(c.DialTimeout.D(), defaultRedisDialTimeout) + orDefault(c.ReadTimeout.D(), defaultRedisReadTimeout)
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	err := rc.Ping(ctx).Err()
	var verr *TLSVerifyError
	var aerr *RedisAuthError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &verr), errors.As(err, &aerr):
		return err
	}
	if log != nil {
		log.Warn("redis does not answer yet", "err", err)
	}
	return nil
}
