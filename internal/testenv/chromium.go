package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// ChromiumPath is where Debian's chromium package puts the browser, which
// deploy/local/ensure-chromium installs (`make test` runs it).
const ChromiumPath = "/usr/bin/chromium"

// Chromium returns the path of a headless-capable Chromium: $SHARDFLOW_CHROMIUM
// if set, else ChromiumPath, else chromium on $PATH. It fails the test (it
// never skips) when there is none.
func Chromium(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("SHARDFLOW_CHROMIUM"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			tb.Fatalf("testenv: SHARDFLOW_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	if _, err := exec.LookPath(ChromiumPath); err == nil {
		return ChromiumPath
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	tb.Fatalf("testenv: no chromium at %s nor on PATH: install it with deploy/local/ensure-chromium (`make test` does)", ChromiumPath)
	return ""
}
