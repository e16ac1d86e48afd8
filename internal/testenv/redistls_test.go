package testenv

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
)

// TestTestCAIssuesVerifiableServerCerts: a certificate the CA issues
// verifies against the CA for its names only, and not against another CA.
func TestTestCAIssuesVerifiableServerCerts(t *testing.T) {
	ca := NewTestCA(t, "ca")
	certFile, _ := ca.ServerCert(t, "127.0.0.1", "redis.local")
	raw, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "redis.local"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "other.local"}); err == nil {
		t.Error("verified for a name it was not issued for")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: NewTestCA(t, "other").Pool(), DNSName: "redis.local"}); err == nil {
		t.Error("verified against another CA")
	}
}

// TestShardflowACLIsTheScriptsList: the rules StartRedisTLS gives the
// shardflow user are deploy/local/redis-acl's, which deploy/local/redis-tls
// reads; they deny @dangerous and allow scripts and MULTI/EXEC.
func TestShardflowACLIsTheScriptsList(t *testing.T) {
	acl := ShardflowACL(t)
	for _, want := range []string{"-@all", "+@scripting", "+@transaction", "+@connection", "-@dangerous"} {
		if !strings.Contains(acl, want) {
			t.Errorf("ACL %q lacks %s", acl, want)
		}
	}
	if strings.Contains(acl, "#") {
		t.Errorf("ACL %q keeps a comment", acl)
	}
	script, err := os.ReadFile("../../deploy/local/redis-tls")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "ACL_RULES=$HERE/redis-acl") {
		t.Error("deploy/local/redis-tls does not read deploy/local/redis-acl")
	}
}

// TestStartRedisTLSUserGetsTheACL: the private server's shardflow user has
// the file's rules (ACL LIST), and the server has no plain port.
func TestStartRedisTLSUserGetsTheACL(t *testing.T) {
	srv := StartRedisTLS(t, RedisTLSOptions{Users: map[string][]string{"shardflow": {"pw"}}})
	admin := srv.Admin(t)
	ctx, cancel := cleanupContext()
	defer cancel()
	users, err := admin.Do(ctx, "ACL", "LIST").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	var cmds string
	for _, u := range users {
		if strings.HasPrefix(u, "user shardflow ") {
			cmds = u
		}
	}
	// Redis expands the categories: -@dangerous shows as its commands.
	if !strings.Contains(cmds, "+@scripting") || !strings.Contains(cmds, "+@transaction") || !strings.Contains(cmds, "-flushall") || !strings.Contains(cmds, "+cluster|slots") {
		t.Fatalf("shardflow user = %q, want the rules of %s", cmds, ACLFile)
	}
	port, err := admin.ConfigGet(ctx, "port").Result()
	if err != nil || port["port"] != "0" {
		t.Fatalf("port = %v (%v), want 0", port, err)
	}
}
