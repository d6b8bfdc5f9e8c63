package regocheck

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine outlives them: a receiver
// worker, a fake service's delivery or an evaluation left running would show here.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
