package tfc

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// ServeHTTP receives one delivery; see Receiver. The steps: method, body (capped, and
// counted against the pending byte bound as it arrives), signature, decoding, the
// URLs the request names, then admission (admission.go).
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(w, req, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	buf, status := r.readBody(w, req)
	switch status {
	case 0:
	case http.StatusServiceUnavailable:
		r.busy(w, req, errPendingBytesFull.Error())
		return
	default:
		r.refuse(w, req, status, http.StatusText(status))
		return
	}
	body := buf.Bytes()
	weight := int64(len(body))
	// The body's bytes count against the pending bound until a queued delivery leaves
	// the queue; everywhere else they are given back here.
	heldByQueue := false
	defer func() {
		if !heldByQueue {
			r.held.Add(-weight)
		}
		releaseBuffer(buf)
	}()

	signature := signatureFrom(req.Header)
	rt, status, reason := r.accept(body, signature)
	if status != 0 {
		r.refuse(w, req, status, reason)
		return
	}
	if rt.IsVerification() {
		r.logger.Info("tfc: run task verification request answered", slog.String("organization", rt.OrganizationName))
		w.WriteHeader(http.StatusOK)
		return
	}
	log := r.logger.With(deliveryAttrs(rt)...)
	sum := maphash.Bytes(r.seed, body)
	if r.executor != nil {
		r.submit(w, req, rt, body, signature, sum, log)
		return
	}
	a, queued := r.admit(rt, sum, weight, log)
	switch a {
	case admitDuplicate:
		log.Info("tfc: duplicate run task delivery acknowledged")
		r.countDuplicate()
		w.WriteHeader(http.StatusOK)
	case admitClosing:
		r.busy(w, req, "shutting down")
	case admitFull:
		log.Warn("tfc: run task delivery not accepted: the pending queue is full")
		r.busy(w, req, "the pending queue is full")
	default:
		heldByQueue = queued
		log.Info("tfc: run task delivery accepted")
		r.countAccepted()
		w.WriteHeader(http.StatusOK)
	}
}

// submit hands a delivery to the executor and answers 200 only once Submit returned
// nil. Until then the task result is marked submitting: a repeat arriving meanwhile
// (the service gave up on the first request and retried) is answered 503, not 200,
// since the first Submit may still fail and leave nothing stored.
func (r *Receiver) submit(w http.ResponseWriter, req *http.Request, rt *RunTaskRequest, body []byte, signature string, sum uint64, log *slog.Logger) {
	switch r.remember(rt.TaskResultID, sum, log) {
	case admitDuplicate:
		log.Info("tfc: duplicate run task delivery acknowledged")
		r.countDuplicate()
		w.WriteHeader(http.StatusOK)
		return
	case admitClosing:
		r.busy(w, req, "shutting down")
		return
	case admitSubmitting:
		log.Info("tfc: run task delivery repeated while the first is being stored; asked to retry")
		r.busy(w, req, "the same delivery is being stored")
		return
	}
	job := Job{Body: bytes.Clone(body), Signature: signature, TaskResultID: rt.TaskResultID, ReceivedAt: r.now()}
	err := r.executor.Submit(req.Context(), job)
	if errors.Is(err, ErrDuplicateJob) {
		r.submitted(rt.TaskResultID)
		log.Info("tfc: duplicate run task delivery acknowledged: the job queue holds it already")
		r.countDuplicate()
		w.WriteHeader(http.StatusOK)
		return
	}
	if err != nil {
		r.forget(rt.TaskResultID)
		// The executor's error stays in the log: it may describe the queue's address.
		log.Warn("tfc: run task delivery not accepted", slog.String("reason", err.Error()))
		r.busy(w, req, "the job queue did not take the delivery")
		return
	}
	r.submitted(rt.TaskResultID)
	log.Info("tfc: run task delivery accepted")
	r.countAccepted()
	w.WriteHeader(http.StatusOK)
}

var errPendingBytesFull = errors.New("the receiver holds as many bytes of deliveries as it may")

// readBody reads the raw body under the cap, into a pooled buffer that grows only as
// bytes arrive (never from Content-Length), and counts what it read against the
// pending byte bound. A declared length over the cap is refused without reading. On
// success the caller owns the buffer and the bytes counted (its length).
func (r *Receiver) readBody(w http.ResponseWriter, req *http.Request) (*bytes.Buffer, int) {
	if req.ContentLength > r.maxBody {
		return nil, http.StatusRequestEntityTooLarge
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	src := &heldReader{r: http.MaxBytesReader(w, req.Body, r.maxBody), held: &r.held, limit: r.maxPendingBytes}
	if _, err := buf.ReadFrom(src); err != nil {
		r.held.Add(-src.n)
		releaseBuffer(buf)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, http.StatusRequestEntityTooLarge
		case errors.Is(err, errPendingBytesFull):
			return nil, http.StatusServiceUnavailable
		}
		return nil, http.StatusBadRequest
	}
	return buf, 0
}

// heldReader counts the bytes it reads against a shared bound, and fails once the
// bound would be passed.
type heldReader struct {
	r     io.Reader
	held  *atomic.Int64
	limit int64
	n     int64 // counted so far
}

func (h *heldReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		if h.held.Add(int64(n)) > h.limit {
			h.held.Add(-int64(n))
			return 0, errPendingBytesFull
		}
		h.n += int64(n)
	}
	return n, err
}

// accept verifies and decodes a body. It returns an HTTP status and a reason when the
// delivery is refused.
func (r *Receiver) accept(body []byte, signature string) (*RunTaskRequest, int, string) {
	if r.allowUnsigned() {
		if strings.TrimSpace(signature) != "" {
			return nil, http.StatusBadRequest, "the request is signed but no HMAC key is configured"
		}
	} else if err := r.verifier.VerifyHex(signature, body); err != nil {
		return nil, http.StatusUnauthorized, err.Error()
	}
	var rt RunTaskRequest
	if err := scanWith(body, rt.decodeFields); err != nil {
		return nil, http.StatusBadRequest, "malformed JSON"
	}
	if rt.PayloadVersion != 1 {
		return nil, http.StatusBadRequest, fmt.Sprintf("unsupported payload_version %d", rt.PayloadVersion)
	}
	if rt.IsVerification() {
		return &rt, 0, ""
	}
	if status, reason := r.checkTargets(&rt); status != 0 {
		return nil, status, reason
	}
	return &rt, 0, ""
}

// checkTargets checks what the callback and downloads need, and where they would go:
// all URLs on one host (the service's) and scheme, https unless plain http is allowed,
// and that host allowed.
func (r *Receiver) checkTargets(rt *RunTaskRequest) (int, string) {
	switch {
	case rt.TaskResultID == "":
		return http.StatusBadRequest, "task_result_id is missing"
	case rt.AccessToken == "":
		return http.StatusBadRequest, "access_token is missing"
	}
	callback, err := url.Parse(rt.TaskResultCallbackURL)
	if err != nil || (callback.Scheme != "http" && callback.Scheme != "https") || callback.Host == "" || callback.User != nil {
		return http.StatusBadRequest, "task_result_callback_url is not an absolute http(s) URL"
	}
	if callback.Scheme != "https" && !r.allowHTTP {
		return http.StatusForbidden, "task_result_callback_url is plain http; the receiver requires https"
	}
	if !r.hostAllowed(callback) {
		return http.StatusForbidden, "task_result_callback_url names a host that is not allowed"
	}
	for name, raw := range map[string]string{"plan_json_api_url": rt.PlanJSONAPIURL, "configuration_version_download_url": deref(rt.ConfigurationVersionDownloadURL)} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.User != nil || !strings.EqualFold(u.Host, callback.Host) || u.Scheme != callback.Scheme {
			return http.StatusForbidden, name + " is not on the callback URL's host"
		}
	}
	return 0, ""
}

func (r *Receiver) hostAllowed(u *url.URL) bool {
	if r.anyHost {
		return true
	}
	return r.allowedHosts[strings.ToLower(u.Host)] || r.allowedHosts[strings.ToLower(u.Hostname())]
}

// refuse answers a delivery that is not accepted, and logs why without its content.
func (r *Receiver) refuse(w http.ResponseWriter, req *http.Request, status int, reason string) {
	r.logger.Warn("tfc: run task delivery refused", slog.Int("status", status), slog.String("reason", reason),
		slog.String("remote", req.RemoteAddr))
	r.countRefused(status)
	http.Error(w, reason, status)
}

// retryAfterSeconds is what a 503 asks the service to wait before delivering again.
const retryAfterSeconds = 30

// busy answers 503 with a Retry-After, so the service delivers again later.
func (r *Receiver) busy(w http.ResponseWriter, req *http.Request, reason string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	r.refuse(w, req, http.StatusServiceUnavailable, reason)
}

func deliveryAttrs(rt *RunTaskRequest) []any {
	return []any{
		slog.String("run_id", rt.RunID),
		slog.String("task_result_id", rt.TaskResultID),
		slog.String("stage", string(rt.Stage)),
		slog.String("workspace", rt.OrganizationName+"/"+rt.WorkspaceName),
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
