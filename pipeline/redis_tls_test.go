package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/checkpoints"
	redisstore "github.com/shardflow/shardflow/checkpoints/redis"
	"github.com/shardflow/shardflow/checkpoints/storetest"
	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/pipeline"
)

// tlsClient builds a client with pipeline.RedisClient, closed at cleanup.
func tlsClient(t *testing.T, c pipeline.RedisConfig) redis.UniversalClient {
	t.Helper()
	rc, err := pipeline.RedisClient(c)
	if err != nil {
		t.Fatalf("RedisClient: %v", err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

func ping(rc redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rc.Ping(ctx).Err()
}

// TestRedisTLSVerifiedWithCAFile connects over TLS with the certificate
// verified against redis.tls.ca_file, as the ACL user, and runs the lease
// store's whole contract (its Lua scripts, MULTI/EXEC) through it.
func TestRedisTLSVerifiedWithCAFile(t *testing.T) {
	srv := testenv.StartRedisTLS(t, testenv.RedisTLSOptions{Users: map[string][]string{"shardflow": {"user-pw-1"}}})
	cfg := pipeline.RedisConfig{URL: srv.URL(), Username: "shardflow", Password: "user-pw-1",
		TLS: &pipeline.RedisTLS{CAFile: srv.CA.CertFile}}
	rc := tlsClient(t, cfg)
	if err := ping(rc); err != nil {
		t.Fatalf("PING over verified TLS as shardflow: %v", err)
	}
	// The server has no plain port: the connection is TLS.
	if port, err := srv.Admin(t).ConfigGet(context.Background(), "port").Result(); err != nil || port["port"] != "0" {
		t.Fatalf("server port = %v (%v), want 0 (TLS only)", port, err)
	}
	n := 0
	storetest.Run(t, func(t *testing.T) checkpoints.Store {
		n++
		s, err := redisstore.New(rc, redisstore.Options{Prefix: "tls", Application: fmt.Sprintf("app%d", n)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	if t.Failed() {
		t.Logf("ACL LOG:\n%s", testenv.ACLLog(context.Background(), srv.Admin(t)))
	}
}

// TestRedisTLSRejectsUnverifiedServer: a server whose certificate another
// CA signed, or that is not valid for the name dialled, is refused with an
// error that says TLS verification failed, names the server and the CA file
// and the reason.
func TestRedisTLSRejectsUnverifiedServer(t *testing.T) {
	srv := testenv.StartRedisTLS(t, testenv.RedisTLSOptions{})
	other := testenv.NewTestCA(t, "some other CA")
	cases := []struct {
		name   string
		tls    pipeline.RedisTLS
		reason string
	}{
		{"wrong CA", pipeline.RedisTLS{CAFile: other.CertFile}, "certificate signed by unknown authority"},
		{"wrong name", pipeline.RedisTLS{CAFile: srv.CA.CertFile, ServerName: "redis.example.com"}, "not redis.example.com"},
		{"system CAs", pipeline.RedisTLS{}, "certificate signed by unknown authority"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tlsConf := tc.tls
			rc := tlsClient(t, pipeline.RedisConfig{URL: srv.URL(), Password: srv.Password, TLS: &tlsConf})
			err := ping(rc)
			if err == nil {
				t.Fatal("PING succeeded against a server whose certificate does not verify")
			}
			var verr *pipeline.TLSVerifyError
			if !errors.As(err, &verr) {
				t.Fatalf("error %T %q is not a TLSVerifyError", err, err)
			}
			msg := err.Error()
			for _, want := range []string{"TLS verification failed", srv.Addr, tc.reason} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if tc.tls.CAFile != "" && !strings.Contains(msg, tc.tls.CAFile) {
				t.Errorf("error %q does not name the ca_file %s", msg, tc.tls.CAFile)
			}
		})
	}
	// A plain client to the TLS port, and a TLS client to a plain port,
	// fail too (never fall back).
	t.Run("plain to TLS port", func(t *testing.T) {
		rc := tlsClient(t, pipeline.RedisConfig{URL: "redis://" + srv.Addr, Password: srv.Password})
		if err := ping(rc); err == nil {
			t.Fatal("a plain client talked to the TLS-only server")
		}
	})
	t.Run("TLS to plain port", func(t *testing.T) {
		env := testenv.Load(t)
		plain, _ := env.Redis(t)
		addr := plain.Options().Addr
		// A plain Redis waits for the rest of the ClientHello: the dial
		// timeout ends the handshake.
		rc := tlsClient(t, pipeline.RedisConfig{URL: "rediss://" + addr, TLS: &pipeline.RedisTLS{CAFile: srv.CA.CertFile},
			DialTimeout: pipeline.Duration(300 * time.Millisecond)})
		err := ping(rc)
		if err == nil || !strings.Contains(err.Error(), "TLS handshake failed") || !strings.Contains(err.Error(), addr) {
			t.Fatalf("TLS to the plain Redis at %s: %v; want an error saying the TLS handshake failed", addr, err)
		}
	})
}

// TestRedisAUTHPasswordsUsersAndRotation: a wrong password fails naming the
// user; the ACL user works; during a token rotation the old and the new
// password both work, and once the old one is removed it fails.
func TestRedisAUTHPasswordsUsersAndRotation(t *testing.T) {
	srv := testenv.StartRedisTLS(t, testenv.RedisTLSOptions{Users: map[string][]string{"shardflow": {"old-token"}}})
	admin := srv.Admin(t)
	ctx := context.Background()
	base := pipeline.RedisConfig{URL: srv.URL(), TLS: &pipeline.RedisTLS{CAFile: srv.CA.CertFile}}
	with := func(user, pw string) pipeline.RedisConfig {
		c := base
		c.Username, c.Password = user, pw
		return c
	}
	wantAuthErr := func(t *testing.T, err error, user string) {
		t.Helper()
		var aerr *pipeline.RedisAuthError
		if !errors.As(err, &aerr) {
			t.Fatalf("error %T %v is not a RedisAuthError", err, err)
		}
		for _, want := range []string{"AUTH as user " + user + " failed", "WRONGPASS", srv.Addr} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "wrong-pw") || strings.Contains(err.Error(), "old-token") {
			t.Errorf("error %q repeats a password", err)
		}
	}

	t.Run("wrong password", func(t *testing.T) {
		wantAuthErr(t, ping(tlsClient(t, with("", "wrong-pw"))), "default")
		wantAuthErr(t, ping(tlsClient(t, with("shardflow", "wrong-pw"))), "shardflow")
	})
	t.Run("no password", func(t *testing.T) {
		err := ping(tlsClient(t, with("", "")))
		if err == nil || !strings.Contains(err.Error(), "NOAUTH") || !strings.Contains(err.Error(), "AUTH required") {
			t.Fatalf("no password: %v; want NOAUTH, AUTH required", err)
		}
	})
	t.Run("ACL user may not run dangerous commands", func(t *testing.T) {
		rc := tlsClient(t, with("shardflow", "old-token"))
		err := rc.FlushAll(ctx).Err()
		if err == nil || !strings.Contains(err.Error(), "NOPERM") || !strings.Contains(err.Error(), "may not run FLUSHALL") {
			t.Fatalf("FLUSHALL as shardflow: %v; want NOPERM naming FLUSHALL", err)
		}
	})

	// Rotation, as ElastiCache's ROTATE then SET: the user gets the new
	// token beside the old one; clients still on the old one keep working
	// (a long-lived pool, and new connections) while new clients use the
	// new one; then the old one is removed.
	oldClient := tlsClient(t, with("shardflow", "old-token"))
	if err := oldClient.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "shardflow", ">new-token").Err(); err != nil {
		t.Fatal(err)
	}
	newClient := tlsClient(t, with("shardflow", "new-token"))
	freshOld := tlsClient(t, with("shardflow", "old-token"))
	for name, rc := range map[string]redis.UniversalClient{"old pool": oldClient, "new token": newClient, "old token, new connection": freshOld} {
		if err := rc.Set(ctx, "k", name, 0).Err(); err != nil {
			t.Errorf("during rotation, %s: %v", name, err)
		}
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "shardflow", "<old-token").Err(); err != nil {
		t.Fatal(err)
	}
	// Connections already authenticated stay so (Redis checks AUTH once per
	// connection); a new connection with the old token is refused.
	wantAuthErr(t, ping(tlsClient(t, with("shardflow", "old-token"))), "shardflow")
	if err := ping(tlsClient(t, with("shardflow", "new-token"))); err != nil {
		t.Fatalf("after rotation, new token: %v", err)
	}
}

// TestRedisTLSPlanChecksCAFile: validate (Plan) reports a missing or
// non-PEM CA file and a contradictory tls, by field path.
func TestRedisTLSPlanChecksCAFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := testenv.NewTestCA(t, "plan CA")
	cases := []struct{ redis, want string }{
		{`{url: "rediss://127.0.0.1:6390", tls: {ca_file: ` + filepath.Join(dir, "missing.pem") + `}}`, "redis.tls.ca_file: cannot read the CA file"},
		{`{url: "rediss://127.0.0.1:6390", tls: {ca_file: ` + notPEM + `}}`, "redis.tls.ca_file: " + notPEM + " holds no PEM certificate"},
		{`{url: "rediss://127.0.0.1:6390", tls: false}`, "redis.tls: is false but redis.url is rediss://"},
		{`{url: "redis://127.0.0.1:6390", tls: {ca_file: ` + ca.CertFile + `}}`, "redis.tls: is on but redis.url is redis://"},
		{`{url: "rediss://127.0.0.1:6390", tls: maybe}`, "redis.tls: must be true, false or a mapping"},
		{`{url: "rediss://127.0.0.1:6390", dial_timeout: 0s}`, "redis.dial_timeout: must be at least 100ms"},
		{`{url: "rediss://127.0.0.1:6390", pool_size: 2, min_idle_conns: 3}`, "redis.min_idle_conns: must not exceed redis.pool_size"},
	}
	for _, tc := range cases {
		_, err := planYAML(tc.redis)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("redis: %s\n  got  %v\n  want %q", tc.redis, err, tc.want)
		}
	}
	for _, ok := range []string{
		`{url: "rediss://127.0.0.1:6390", tls: {ca_file: ` + ca.CertFile + `, server_name: redis.local}}`,
		`{url: "rediss://127.0.0.1:6390", tls: true, username: shardflow}`,
		`{cluster_addrs: ["127.0.0.1:7000"], tls: {ca_file: ` + ca.CertFile + `}}`,
	} {
		if _, err := planYAML(ok); err != nil {
			t.Errorf("redis: %s: %v", ok, err)
		}
	}
}

func planYAML(redisYAML string) (*pipeline.Resolved, error) {
	cfg, err := pipeline.Parse([]byte(`
name: tlsplan
redis: `+redisYAML+`
source: {stream: s}
schema: [{name: a, type: string}]
outputs: [{name: out, firehose: {delivery_stream: d}}]
`), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	return pipeline.Plan(cfg)
}

// TestRedisTLSLocalStack: the local stack's TLS Redis (deploy/local/redis-tls)
// answers the ACL user over verified TLS with the CA file it wrote.
func TestRedisTLSLocalStack(t *testing.T) {
	s := testenv.Load(t).RedisTLS(t)
	rc := tlsClient(t, pipeline.RedisConfig{URL: s.URL, Username: s.Username, Password: s.Password,
		TLS: &pipeline.RedisTLS{CAFile: s.CAFile}})
	if err := ping(rc); err != nil {
		t.Fatalf("local stack TLS Redis %s as %s with ca_file %s: %v", s.URL, s.Username, s.CAFile, err)
	}
	other := testenv.NewTestCA(t, "not the stack's CA")
	err := ping(tlsClient(t, pipeline.RedisConfig{URL: s.URL, Username: s.Username, Password: s.Password,
		TLS: &pipeline.RedisTLS{CAFile: other.CertFile}}))
	if err == nil || !strings.Contains(err.Error(), "TLS verification failed") {
		t.Fatalf("with another CA: %v; want TLS verification failed", err)
	}
}

// TestPipelineOverRedisTLSWithACLUser runs a pipeline whose leases,
// checkpoints and window state live in a TLS Redis reached as the ACL user:
// it takes every shard, delivers every event once and checkpoints; the ACL
// LOG shows no denied command. `shardflow validate` and a run against a
// wrong CA say TLS verification failed.
func TestPipelineOverRedisTLSWithACLUser(t *testing.T) {
	const events = 600
	srv := testenv.StartRedisTLS(t, testenv.RedisTLSOptions{Users: map[string][]string{"shardflow": {"pipe-pw"}}})
	s := newStack(t, 2)
	tlsRedis := fmt.Sprintf(`redis: {url: "%s", username: shardflow, password: "${REDIS_AUTH_TOKEN}", tls: {ca_file: %s}, key_prefix: "sf-%s"}`,
		srv.URL(), srv.CA.CertFile, s.name)
	winDelivery := s.name + "-win"
	fh := s.env.Firehose(t)
	if err := delivered.CreateDeliveryStream(context.Background(), fh, winDelivery, s.env.S3Bucket, time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = fh.DeleteDeliveryStream(context.Background(), &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(winDelivery)})
	})
	yml := s.yaml("redis", "", windowYAML(winDelivery))
	plainRedis := fmt.Sprintf(`redis: {url: "%s", key_prefix: "sf-%s"}`, s.env.RedisURL, s.name)
	if !strings.Contains(yml, plainRedis) {
		t.Fatalf("test config has no %q", plainRedis)
	}
	yml = strings.Replace(yml, plainRedis, tlsRedis, 1)
	lookup := func(k string) (string, bool) {
		if k == "REDIS_AUTH_TOKEN" {
			return "pipe-pw", true
		}
		return "", false
	}
	cfg, err := pipeline.Parse([]byte(yml), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Plan(cfg); err != nil {
		t.Fatalf("Plan: %v", err)
	}

	gen := workload.New(workload.Config{Seed: 7, Total: events})
	if _, err := produce.Put(context.Background(), s.env.Kinesis(t), gen, produce.Options{Stream: s.stream, Count: events}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	replay := workload.New(workload.Config{Seed: 7, Total: events})
	for range events {
		e := replay.Next()
		want[e.ID()] = true
	}
	p, stop := runPipeline(t, cfg, "w1")
	waitFor(t, "2 leases over TLS", 30*time.Second, func() bool { return len(p.OwnedShards()) == 2 })
	res := s.waitDelivered(t, events, 90*time.Second)
	// The window operator applied its flushes (Lua scripts) to the TLS Redis.
	waitFor(t, "window flushes", 30*time.Second, func() bool {
		return scrape(t, p.OpsAddr(), "shardflow_window_flushes_total", "") > 0
	})
	stop()
	admin := srv.Admin(t)
	if log := testenv.ACLLog(context.Background(), admin); log != "" {
		t.Errorf("ACL LOG is not empty (a command the shardflow user needs is denied):\n%s", log)
	}
	checkExactlyOnce(t, res, want)
	// The leases and checkpoints are in the TLS Redis.
	keys, err := admin.Keys(context.Background(), "sf-"+s.name+":{"+s.name+"}:lease:*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("lease keys in the TLS Redis: %v %v, want 2", keys, err)
	}
	for _, k := range keys {
		if cp, _ := admin.HGet(context.Background(), k, "checkpoint").Result(); cp == "" {
			t.Errorf("%s has no checkpoint", k)
		}
	}

	// The same config with another CA: `shardflow run` fails naming the
	// cause. (validate is offline: it checks the CA file parses.)
	other := testenv.NewTestCA(t, "wrong CA")
	bad := strings.Replace(yml, srv.CA.CertFile, other.CertFile, 1)
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := shardflowBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "-c", file)
	cmd.Env = append(os.Environ(), "REDIS_AUTH_TOKEN=pipe-pw")
	out, err := cmd.CombinedOutput()
	last := lastLine(out)
	if err == nil || !strings.HasPrefix(last, "shardflow: pipeline "+s.name+": redis "+srv.Addr+": TLS verification failed") || !strings.Contains(last, other.CertFile) {
		t.Fatalf("shardflow run with a wrong CA: %v; want it to stop saying TLS verification failed with the server and ca_file:\n%s", err, out)
	}
	t.Logf("shardflow run with a wrong CA: %v: %s", err, last)

	// The right CA and a wrong token: it stops saying AUTH failed.
	cmd = exec.CommandContext(ctx, bin, "run", "-c", file)
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "REDIS_AUTH_TOKEN=not-the-token")
	out, err = cmd.CombinedOutput()
	last = lastLine(out)
	if err == nil || !strings.Contains(last, "AUTH as user shardflow failed: WRONGPASS") || strings.Contains(string(out), "not-the-token") {
		t.Fatalf("shardflow run with a wrong token: %v; want it to stop saying AUTH failed, without the token:\n%s", err, out)
	}
	t.Logf("shardflow run with a wrong token: %v: %s", err, last)
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// A New stopped by a certificate that does not verify, or a refused AUTH,
// says so and leaves no goroutine behind.
func TestNewStopsOnRedisTLSOrAUTHFailure(t *testing.T) {
	srv := testenv.StartRedisTLS(t, testenv.RedisTLSOptions{Users: map[string][]string{"shardflow": {"pw"}}})
	s := newStack(t, 1)
	other := testenv.NewTestCA(t, "wrong CA")
	plainRedis := fmt.Sprintf(`redis: {url: "%s", key_prefix: "sf-%s"}`, s.env.RedisURL, s.name)
	for _, tc := range []struct{ name, caFile, pw, want string }{
		{"wrong CA", other.CertFile, "pw", "TLS verification failed"},
		{"wrong password", srv.CA.CertFile, "nope", "AUTH as user shardflow failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redisYAML := fmt.Sprintf(`redis: {url: "%s", username: shardflow, password: "${PW}", tls: {ca_file: %s}, key_prefix: "sf-%s"}`,
				srv.URL(), tc.caFile, s.name)
			y := strings.Replace(s.yaml("redis", ""), plainRedis, redisYAML, 1)
			cfg, err := pipeline.Parse([]byte(y), func(k string) (string, bool) { return tc.pw, k == "PW" })
			if err != nil {
				t.Fatal(err)
			}
			plan, err := pipeline.Plan(cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := runtime.NumGoroutine()
			for range 3 {
				_, err = pipeline.New(context.Background(), plan, pipeline.Options{WorkerID: "tls"})
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), srv.Addr) {
					t.Fatalf("New: err = %v, want %q naming %s", err, tc.want, srv.Addr)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before+2 {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines before, %d after three failed New calls:\n%s", before, n, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}
