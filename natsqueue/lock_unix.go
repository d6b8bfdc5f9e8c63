//go:build unix

package natsqueue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the file in the state directory that the embedded server's process
// holds an exclusive lock on. Two servers on one file store would corrupt it.
const lockFileName = "natsqueue.lock"

// dirLock is a held lock on a state directory.
type dirLock struct{ f *os.File }

// lockDir takes the state directory's lock without waiting. The lock is the
// operating system's (flock), so it ends with the process however the process ends:
// a SIGKILLed server leaves nothing to clean up.
func lockDir(dir string) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("natsqueue: state directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("natsqueue: state directory %s is in use by another process", dir)
		}
		return nil, fmt.Errorf("natsqueue: state directory lock: %w", err)
	}
	return &dirLock{f: f}, nil
}

// release gives the lock up.
func (l *dirLock) release() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the descriptor releases the flock
		l.f = nil
	}
}
