package consumer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	"github.com/vmware/vmware-go-kcl-v2/logger"
)

// kclLogger routes a runner's KCL logging into slog. The KCL is chatty at
// Info; its Info lines go to Debug so that shardflow's own lines stay
// readable. Its errors about a reader that ended are remembered by the
// runner (the reason the coordinator reports) and logged by it once.
type kclLogger struct {
	l *slog.Logger
	r *runner // nil outside a runner
}

func (k kclLogger) Debugf(f string, a ...any) { k.l.Debug(fmt.Sprintf(f, a...), "src", "kcl") }
func (k kclLogger) Infof(f string, a ...any)  { k.l.Debug(fmt.Sprintf(f, a...), "src", "kcl") }
func (k kclLogger) Warnf(f string, a ...any)  { k.l.Warn(fmt.Sprintf(f, a...), "src", "kcl") }

func (k kclLogger) Errorf(f string, a ...any) {
	if k.r != nil && strings.HasPrefix(f, "Error in getRecords") {
		// The runner's end reports it (with what happens next); a reader
		// ended by a lost lease is the loss, already logged.
		for _, v := range a {
			if err, ok := v.(error); ok {
				k.r.readerError(err)
			}
		}
		k.l.Debug(fmt.Sprintf(f, a...), "src", "kcl")
		return
	}
	k.l.Error(fmt.Sprintf(f, a...), "src", "kcl")
}

// Fatalf and Panicf are called by the KCL on configuration it cannot use;
// keep the KCL's contract (it expects not to continue) but log through slog.
func (k kclLogger) Fatalf(f string, a ...any) {
	k.l.Error(fmt.Sprintf(f, a...), "src", "kcl")
	panic(fmt.Sprintf(f, a...))
}
func (k kclLogger) Panicf(f string, a ...any) {
	k.l.Error(fmt.Sprintf(f, a...), "src", "kcl")
	panic(fmt.Sprintf(f, a...))
}

func (k kclLogger) WithFields(fields logger.Fields) logger.Logger {
	args := make([]any, 0, 2*len(fields))
	for key, v := range fields {
		args = append(args, key, v)
	}
	return kclLogger{l: k.l.With(args...), r: k.r}
}

var routeOnce sync.Once

// RouteKCLLogs sends what the KCL logs through logrus's global logger (its
// lease-renewal code ignores the configured logger) to l as structured
// lines, at Debug: shardflow logs every lease event itself. It changes
// process-wide state, so main calls it once, before any consumer starts;
// later calls do nothing.
func RouteKCLLogs(l *slog.Logger) {
	routeOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.DebugLevel)
		logrus.AddHook(logrusToSlog{l.With("src", "kcl")})
	})
}

type logrusToSlog struct{ l *slog.Logger }

func (logrusToSlog) Levels() []logrus.Level { return logrus.AllLevels }

func (h logrusToSlog) Fire(e *logrus.Entry) error {
	if !h.l.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	args := make([]any, 0, 2*len(e.Data)+2)
	for k, v := range e.Data {
		args = append(args, k, v)
	}
	args = append(args, "kcl_level", e.Level.String())
	h.l.Debug(strings.TrimSpace(e.Message), args...)
	return nil
}
