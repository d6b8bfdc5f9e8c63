package natsqueue

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tfkit/tfc"
)

// Headers of a job message. The message's data is the delivery's body exactly as the
// service signed it, so that the worker verifies the very bytes the service sent.
const (
	// HeaderMsgID is JetStream's de-duplication header: the task result ID.
	HeaderMsgID = jetstream.MsgIDHeader // "Nats-Msg-Id"
	// HeaderSignature carries the delivery's X-TFC-Task-Signature (hex HMAC-SHA512),
	// absent for an unsigned delivery.
	HeaderSignature = "Tfc-Task-Signature"
	// HeaderReceivedAt is when the receiver accepted the delivery, RFC 3339 with
	// nanoseconds in UTC. The check's deadline counts from it.
	HeaderReceivedAt = "Tfc-Received-At"
	// HeaderJobVersion is the version of this layout, "1".
	HeaderJobVersion = "Tfc-Job-Version"
)

const jobVersion = "1"

// errNotAJob: a message on the subject that this package did not write.
var errNotAJob = errors.New("not a tfc run task job")

// encodeJob lays a job out as a message on subject.
func encodeJob(subject string, job tfc.Job) *nats.Msg {
	msg := nats.NewMsg(subject)
	msg.Data = job.Body
	msg.Header.Set(HeaderMsgID, job.TaskResultID)
	msg.Header.Set(HeaderJobVersion, jobVersion)
	if job.Signature != "" {
		msg.Header.Set(HeaderSignature, job.Signature)
	}
	if !job.ReceivedAt.IsZero() {
		msg.Header.Set(HeaderReceivedAt, job.ReceivedAt.UTC().Format(time.RFC3339Nano))
	}
	return msg
}

// decodeJob reads a job back from a message's headers and data. The data is not
// copied: the message is not reused.
func decodeJob(h nats.Header, data []byte) (tfc.Job, error) {
	if v := h.Get(HeaderJobVersion); v != jobVersion {
		return tfc.Job{}, fmt.Errorf("%w: %s is %q, want %q", errNotAJob, HeaderJobVersion, v, jobVersion)
	}
	job := tfc.Job{Body: data, Signature: h.Get(HeaderSignature), TaskResultID: h.Get(HeaderMsgID)}
	if job.TaskResultID == "" {
		return tfc.Job{}, fmt.Errorf("%w: no %s", errNotAJob, HeaderMsgID)
	}
	if raw := h.Get(HeaderReceivedAt); raw != "" {
		at, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return tfc.Job{}, fmt.Errorf("%w: %s is not an RFC 3339 time", errNotAJob, HeaderReceivedAt)
		}
		job.ReceivedAt = at
	}
	return job, nil
}
