package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a private redis-server the harness started, listening on a unix
// socket only, so that INFO commandstats counts this process's commands and
// nobody else's. Close stops it.
type Redis struct {
	cmd    *exec.Cmd
	done   chan error
	Client *redis.Client
}

// StartRedis starts redis-server (from PATH) with no persistence, its socket
// in dir.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("harness: redis-server: %w", err)
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: start redis-server: %w", err)
	}
	r := &Redis{cmd: cmd, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }() // owned by r; ends when the process does
	r.Client = redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.Client.Ping(ctx).Err()
		if err == nil {
			return r, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.Close()
			return nil, fmt.Errorf("harness: redis-server did not answer: %w", err)
		}
		select {
		case werr := <-r.done:
			r.done <- werr
			r.Close()
			return nil, fmt.Errorf("harness: redis-server exited: %v", werr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Commands is the number of commands the server has executed (the sum of
// INFO commandstats calls, the INFO call itself included).
func (r *Redis) Commands(ctx context.Context) (int64, error) {
	return CommandCount(ctx, r.Client)
}

// InputBytes is the number of bytes the server has read from its clients
// (INFO stats total_net_input_bytes): what the path writes to Redis.
func (r *Redis) InputBytes(ctx context.Context) (int64, error) {
	info, err := r.Client.Info(ctx, "stats").Result()
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "total_net_input_bytes:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO stats has no total_net_input_bytes")
}

// CommandCount sums the calls of INFO commandstats of rdb's server.
func CommandCount(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, err
	}
	var total int64
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := sc.Text()
		_, stats, ok := strings.Cut(line, ":calls=")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		n, _, _ := strings.Cut(stats, ",")
		c, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("commandstats line %q: %w", line, err)
		}
		total += c
	}
	return total, nil
}

// Close closes the client and stops the server.
func (r *Redis) Close() error {
	cerr := r.Client.Close()
	_ = r.cmd.Process.Kill()
	werr := <-r.done
	var exit *exec.ExitError
	if errors.As(werr, &exit) {
		werr = nil // killed, as asked
	}
	return errors.Join(cerr, werr)
}
