package redishook

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/metrics"
)

// Hook is a redis.Hook calling RedisCall for every command, pipeline and
// dial.
type Hook struct{ h metrics.Hooks }

var _ redis.Hook = Hook{}

// New returns a hook reporting to h (nil: nothing).
func New(h metrics.Hooks) Hook { return Hook{metrics.OrNop(h)} }

func (k Hook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		start := time.Now()
		conn, err := next(ctx, network, addr)
		k.h.RedisCall("dial", time.Since(start), err)
		return conn, err
	}
}

func (k Hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		k.h.RedisCall(cmd.Name(), time.Since(start), failure(err))
		return err
	}
}

func (k Hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		op, failed := "pipeline", failure(err)
		switch {
		case len(cmds) > 0 && cmds[0].Name() == "multi":
			op = "multi"
		case setInfo(cmds):
			// go-redis identifies every new connection with CLIENT
			// SETINFO and ignores its failure on servers before 7.2:
			// so does this hook.
			op, failed = "client_setinfo", nil
		}
		k.h.RedisCall(op, time.Since(start), failed)
		return err
	}
}

func setInfo(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if c.Name() != "client" {
			return false
		}
		if args := c.Args(); len(args) < 2 || args[1] != "setinfo" {
			return false
		}
	}
	return len(cmds) > 0
}

// failure is err unless it only says a key was missing.
func failure(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
