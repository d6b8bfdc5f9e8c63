package natsqueue

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embeddedServerName names the embedded server in JetStream's metadata. It is fixed,
// so that a restart on the same state directory is the same server.
const embeddedServerName = "tfc-natsqueue"

// startEmbedded starts a single NATS server with JetStream in this process, its file
// store under cfg.StateDir, listening on no port unless cfg.Listen asks for one. The
// state directory is locked for the server's life, so a second process cannot open it.
func startEmbedded(ctx context.Context, cfg Config) (*server.Server, *dirLock, error) {
	dir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, nil, fmt.Errorf("natsqueue: state directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("natsqueue: state directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, nil, err
	}
	opts := &server.Options{
		ServerName:         embeddedServerName,
		JetStream:          true,
		StoreDir:           dir,
		JetStreamMaxMemory: 64 << 20, // the queue stores on file; memory holds only caches
		MaxPayload:         embeddedMaxPayload,
		NoSigs:             true, // signals belong to the program that embeds us
		NoSystemAccount:    true,
		DontListen:         cfg.Listen == "",
	}
	if cfg.SyncInterval == 0 {
		opts.SyncAlways = true
	} else {
		opts.SyncInterval = cfg.SyncInterval
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			lock.release()
			return nil, nil, invalid("Listen must be host:port: " + err.Error())
		}
		if opts.Port, err = strconv.Atoi(port); err != nil || opts.Port < 0 || opts.Port > 65535 {
			lock.release()
			return nil, nil, invalid("Listen's port must be a number from 0 to 65535")
		}
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT
		}
		opts.Host = host
	}
	s, err := server.NewServer(opts)
	if err != nil {
		lock.release()
		return nil, nil, fmt.Errorf("natsqueue: embedded server: %w", err)
	}
	logger := &serverLogger{l: cfg.Logger}
	s.SetLoggerV2(logger, false, false, false)
	s.Start()
	if err := waitReady(ctx, s, logger); err != nil {
		s.Shutdown()
		s.WaitForShutdown()
		lock.release()
		return nil, nil, err
	}
	return s, lock, nil
}

// waitReady waits until the server accepts connections and JetStream is up (its
// store recovered), within ctx. A fatal error the server logs while starting (a
// store it cannot read, a port in use) ends the wait with that error.
func waitReady(ctx context.Context, s *server.Server, logger *serverLogger) error {
	for {
		// ReadyForConnections blocks up to its argument; short steps keep ctx honoured.
		if s.ReadyForConnections(250*time.Millisecond) && s.JetStreamEnabled() {
			return nil
		}
		if msg := logger.fatal.Load(); msg != nil {
			return fmt.Errorf("natsqueue: embedded server did not start: %s", *msg)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("natsqueue: embedded server did not start: %w", err)
		}
	}
}

// serverLogger passes the embedded server's log lines to slog. Its notices (a banner
// and lifecycle lines at every start) go out at debug level. The server calls Fatalf
// where its own logger would exit the process; here the line is logged as an error
// and kept, so that Open can return it.
type serverLogger struct {
	l     *slog.Logger
	fatal atomic.Pointer[string]
}

func (s *serverLogger) Noticef(format string, v ...any) { s.log(slog.LevelDebug, format, v) }
func (s *serverLogger) Warnf(format string, v ...any)   { s.log(slog.LevelWarn, format, v) }
func (s *serverLogger) Errorf(format string, v ...any)  { s.log(slog.LevelError, format, v) }
func (s *serverLogger) Debugf(format string, v ...any)  { s.log(slog.LevelDebug-4, format, v) }
func (s *serverLogger) Tracef(format string, v ...any)  { s.log(slog.LevelDebug-8, format, v) }

func (s *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.fatal.CompareAndSwap(nil, &msg)
	s.log(slog.LevelError, "%s", []any{msg})
}

func (s *serverLogger) log(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	s.l.Log(ctx, level, "natsqueue: embedded server: "+fmt.Sprintf(format, v...))
}
