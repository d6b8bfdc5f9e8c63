package tfctest

import (
	"strings"

	"github.com/tfkit/tfc"
)

// ReceiverOptions returns what a tfc.Receiver needs to serve this fake: its host on the
// allow-list (the blob store shares the host name, so downloads that redirect there
// pass the receiver's dial guard too), plain http allowed (the fake is not https), and
// callbacks retried fast (RetryPolicy), so that injected faults cost milliseconds. Add
// the HMAC key and options of your own after them:
//
//	receiver, err := tfc.NewReceiver(check, append(s.ReceiverOptions(), tfc.WithHMACKeys(key))...)
func (s *Server) ReceiverOptions() []tfc.ReceiverOption {
	return []tfc.ReceiverOption{
		tfc.WithAllowedHosts(strings.TrimPrefix(s.URL, "http://")),
		tfc.InsecureAllowHTTP(),
		tfc.WithCallbackRetryPolicy(RetryPolicy()),
	}
}
