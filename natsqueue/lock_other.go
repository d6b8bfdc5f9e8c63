//go:build !unix

package natsqueue

// dirLock is a no-op where flock is not available: on such systems the operator
// must make sure that one process at a time opens a state directory.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (*dirLock) release() {}
