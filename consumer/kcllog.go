package consumer

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/vmware/vmware-go-kcl-v2/logger"
)

// kclLogger routes the KCL's printf-style logging into slog. The KCL is
// chatty at Info; its Info lines go to Debug so that shardflow's own lines
// stay readable.
type kclLogger struct{ l *slog.Logger }

func (k kclLogger) Debugf(f string, a ...any) { k.l.Debug(fmt.Sprintf(f, a...), "src", "kcl") }
func (k kclLogger) Infof(f string, a ...any)  { k.l.Debug(fmt.Sprintf(f, a...), "src", "kcl") }

// The KCL warns "Error in rebalance" on every shard-sync tick while any
// shard is unleased (normal during start-up and failover); keep that at Debug.
func (k kclLogger) Warnf(f string, a ...any) {
	if strings.HasPrefix(f, "Error in rebalance") {
		k.l.Debug(fmt.Sprintf(f, a...), "src", "kcl")
		return
	}
	k.l.Warn(fmt.Sprintf(f, a...), "src", "kcl")
}
func (k kclLogger) Errorf(f string, a ...any) { k.l.Error(fmt.Sprintf(f, a...), "src", "kcl") }

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
	return kclLogger{k.l.With(args...)}
}
