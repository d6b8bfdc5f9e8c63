package tfc

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine outlives them: a receiver
// worker, a heartbeat, a retry timer or a response body left open would all show here.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
