package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ACLFile is the path, relative to the module root, of the ACL rules of the
// `shardflow` Redis user: deploy/local/redis-tls and StartRedisTLS read the
// same list.
const ACLFile = "deploy/local/redis-acl"

// ShardflowACL returns the rules of ACLFile (after the user's name, state
// and passwords), comments dropped.
func ShardflowACL(tb testing.TB) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(ACLFile)))
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	var rules []string
	for line := range strings.SplitSeq(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			rules = append(rules, line)
		}
	}
	if len(rules) == 0 {
		tb.Fatalf("testenv: %s holds no rules", ACLFile)
	}
	return strings.Join(rules, " ")
}

// RedisTLSStack is the local stack's TLS Redis (deploy/local/redis-tls):
// SHARDFLOW_REDIS_TLS_URL (rediss://host:port, no password in it),
// SHARDFLOW_REDIS_TLS_CA (the CA file), SHARDFLOW_REDIS_TLS_USERNAME and
// SHARDFLOW_REDIS_TLS_PASSWORD (the ACL user's).
type RedisTLSStack struct {
	URL, CAFile, Username, Password string
}

// RedisTLS returns the local stack's TLS Redis; a missing variable or a
// server that does not accept connections fails the test.
func (e *Env) RedisTLS(tb testing.TB) RedisTLSStack {
	tb.Helper()
	s := RedisTLSStack{}
	_, fileVars, _ := readEnvFile()
	var missing []string
	for _, v := range []struct {
		name string
		dst  *string
	}{{"SHARDFLOW_REDIS_TLS_URL", &s.URL}, {"SHARDFLOW_REDIS_TLS_CA", &s.CAFile},
		{"SHARDFLOW_REDIS_TLS_USERNAME", &s.Username}, {"SHARDFLOW_REDIS_TLS_PASSWORD", &s.Password}} {
		if *v.dst = os.Getenv(v.name); *v.dst == "" {
			*v.dst = fileVars[v.name]
		}
		if *v.dst == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		tb.Fatalf("testenv: the TLS Redis is not configured (%s not set, nor in %s; deploy/local/redis-tls writes them, SHARDFLOW_LOCAL_REDIS_TLS=0 skips it): %s",
			strings.Join(missing, ", "), EnvFile, Hint)
	}
	mustAnswer(tb, "Redis (TLS)", "SHARDFLOW_REDIS_TLS_URL", s.URL)
	return s
}

// TestCA is a throwaway certificate authority.
type TestCA struct {
	// CertFile is its certificate (PEM), what redis.tls.ca_file names.
	CertFile string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	dir      string
}

// NewTestCA creates a CA whose files live in a directory removed at cleanup.
func NewTestCA(tb testing.TB, name string) *TestCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testenv: CA key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("testenv: CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testenv: CA certificate: %v", err)
	}
	dir := tb.TempDir()
	ca := &TestCA{CertFile: filepath.Join(dir, "ca.pem"), cert: cert, key: key, dir: dir}
	writePEM(tb, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// ServerCert issues a server certificate valid for names (host names or IP
// addresses) and returns its certificate and key files (PEM).
func (ca *TestCA) ServerCert(tb testing.TB, names ...string) (certFile, keyFile string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testenv: server key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(tb),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatalf("testenv: server certificate: %v", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatalf("testenv: server key: %v", err)
	}
	base := filepath.Join(ca.dir, "server-"+strconv.Itoa(int(tmpl.SerialNumber.Int64()&0xffffff)))
	certFile, keyFile = base+".pem", base+"-key.pem"
	writePEM(tb, certFile, "CERTIFICATE", der)
	writePEM(tb, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

// Pool is a certificate pool holding only this CA.
func (ca *TestCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func serial(tb testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatalf("testenv: serial: %v", err)
	}
	return n
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
}

// RedisTLSOptions configure StartRedisTLS.
type RedisTLSOptions struct {
	// CA signs the server's certificate (default: a new one).
	CA *TestCA
	// Names the certificate is valid for (default 127.0.0.1 and localhost).
	Names []string
	// Password is the default user's (requirepass; default: a random one).
	Password string
	// Users are ACL users: name → passwords. Each gets the rules of
	// ACLFile.
	Users map[string][]string
}

// RedisTLSServer is a private TLS-only redis-server (no plain port).
type RedisTLSServer struct {
	Addr     string // 127.0.0.1:port
	CA       *TestCA
	Password string // the default user's
	cmd      *exec.Cmd
	logFile  string
}

// URL is rediss://addr with no credentials.
func (s *RedisTLSServer) URL() string { return "rediss://" + s.Addr }

// Admin returns a client of the default user (closed at cleanup).
func (s *RedisTLSServer) Admin(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.Password,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.CA.Pool(), ServerName: "127.0.0.1"}})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Log is what the server wrote so far, for failure messages.
func (s *RedisTLSServer) Log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// StartRedisTLS starts a private redis-server that listens with TLS only
// (port 0, tls-port on a free port), stopped at cleanup. redis-server from
// Debian is built with TLS; one without fails the test saying so.
func StartRedisTLS(tb testing.TB, o RedisTLSOptions) *RedisTLSServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("testenv: redis-server not found (apt-get install redis-server): %v", err)
	}
	if o.CA == nil {
		o.CA = NewTestCA(tb, "shardflow test CA")
	}
	if len(o.Names) == 0 {
		o.Names = []string{"127.0.0.1", "localhost"}
	}
	if o.Password == "" {
		o.Password = "admin-" + randomHex(tb, 8)
	}
	certFile, keyFile := o.CA.ServerCert(tb, o.Names...)
	acl := ShardflowACL(tb)
	dir := tb.TempDir()
	var conf strings.Builder
	fmt.Fprintf(&conf, "port 0\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\n", dir)
	fmt.Fprintf(&conf, "tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients no\n", certFile, keyFile, o.CA.CertFile)
	fmt.Fprintf(&conf, "requirepass %s\n", o.Password)
	for name, pws := range o.Users {
		fmt.Fprintf(&conf, "user %s on", name)
		for _, pw := range pws {
			fmt.Fprintf(&conf, " >%s", pw)
		}
		fmt.Fprintf(&conf, " %s\n", acl)
	}
	for attempt := 1; ; attempt++ {
		port := freePort(tb)
		confFile := filepath.Join(dir, "redis.conf")
		if err := os.WriteFile(confFile, []byte(conf.String()+"tls-port "+strconv.Itoa(port)+"\n"), 0o600); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		s := &RedisTLSServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), CA: o.CA, Password: o.Password,
			logFile: filepath.Join(dir, "redis-"+strconv.Itoa(attempt)+".log")}
		logf, err := os.Create(s.logFile)
		if err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		s.cmd = exec.Command(bin, confFile)
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
		if err := s.cmd.Start(); err != nil {
			_ = logf.Close()
			tb.Fatalf("testenv: start redis-server: %v", err)
		}
		// The goroutine ends when the process does: stop kills it and waits.
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = s.cmd.Wait(); _ = logf.Close(); close(exited) }()
		stop := func() {
			_ = s.cmd.Process.Kill()
			<-exited
		}
		err = s.waitReady(exited, &waitErr)
		if err == nil {
			tb.Cleanup(stop)
			return s
		}
		stop()
		log := s.Log()
		if strings.Contains(log, "Address already in use") && attempt < 5 {
			continue // the free port was taken in between
		}
		if strings.Contains(log, "tls-port") && strings.Contains(strings.ToLower(log), "not supported") {
			tb.Fatalf("testenv: this redis-server is built without TLS (Debian's has it): %s", log)
		}
		tb.Fatalf("testenv: TLS redis-server on %s: %v\n%s", s.Addr, err, log)
	}
}

// waitReady waits until the server answers PING over TLS as the default
// user, or exits.
func (s *RedisTLSServer) waitReady(exited <-chan struct{}, waitErr *error) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.Password, MaxRetries: -1, DialTimeout: time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.CA.Pool(), ServerName: "127.0.0.1"}})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %v", *waitErr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG over TLS within 15s: %w", err)
		}
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ACLLog returns the server's ACL LOG (denied commands and AUTH failures),
// one line per entry, for failure messages.
func ACLLog(ctx context.Context, admin *redis.Client) string {
	entries, err := admin.Do(ctx, "ACL", "LOG").Slice()
	if err != nil {
		return "ACL LOG: " + err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%v\n", e)
	}
	return b.String()
}
