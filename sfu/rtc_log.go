package sfu

import (
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs routes pion's logs (ICE, DTLS) to the server's logger: pion's
// warnings and errors at Debug, since a client's bad handshake is counted
// and answered, not an operator's concern; nothing per packet.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) Trace(string)          {}
func (l pionLogger) Tracef(string, ...any) {}
func (l pionLogger) Debug(string)          {}
func (l pionLogger) Debugf(string, ...any) {}
func (l pionLogger) Info(string)           {}
func (l pionLogger) Infof(string, ...any)  {}
func (l pionLogger) Warn(m string)         { l.log.Debug(m) }
func (l pionLogger) Warnf(f string, a ...any) {
	l.log.Debug(fmt.Sprintf(f, a...))
}
func (l pionLogger) Error(m string) { l.log.Debug(m) }
func (l pionLogger) Errorf(f string, a ...any) {
	l.log.Debug(fmt.Sprintf(f, a...))
}
