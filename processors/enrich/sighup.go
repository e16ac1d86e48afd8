package enrich

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// WatchSIGHUP reloads tables each time the process receives SIGHUP, until
// ctx is done or stop is called. It owns one goroutine; stop unregisters the
// signal, ends the goroutine and waits for it (a reload in progress
// finishes first). Each reload is logged; a failed one keeps the table in
// use. The signal is registered before WatchSIGHUP returns.
func WatchSIGHUP(ctx context.Context, log *slog.Logger, tables ...*StaticTable) (stop func()) {
	if log == nil {
		log = slog.Default()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
			}
			for _, t := range tables {
				if err := t.Reload(); err != nil {
					log.Error("enrich: reloading static table on SIGHUP failed; keeping the loaded one",
						"file", t.opts.File, "generation", t.Generation(), "err", err)
					continue
				}
				log.Info("enrich: reloaded static table on SIGHUP", "file", t.opts.File,
					"keys", t.Len(), "generation", t.Generation())
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
