package natsqueue

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/tfkit/tfc/internal/syncbuf"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func captureLogs() (*slog.Logger, *syncbuf.Buffer) {
	b := &syncbuf.Buffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug - 8})), b
}
