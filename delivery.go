package tfc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tfkit/tfc/internal/printguard"
)

// Delivery is one accepted run task request as the check sees it: the request, and
// helpers for the plan, the configuration and progress updates. Every call they make
// carries the delivery's access token and is held to its rate window
// (WithPerTokenRateLimit). Its methods are safe for concurrent use.
type Delivery struct {
	// Request is the decoded request.
	Request *RunTaskRequest

	receiver     *Receiver
	log          *slog.Logger
	ctx          context.Context // ends at the deadline, on shutdown, or when the service says final
	cancel       context.CancelCauseFunc
	caller       context.Context // Process's (nil in process): a hand-back (ErrHandBack) ends it
	callerCtx    context.Context // the ctx given to Process (nil in process), to tell its end from others
	stopDeadline context.CancelFunc
	receivedAt   time.Time
	weight       int64 // bytes held against the pending bound while it waits
	tracked      bool  // remembered in the receiver's duplicate check
	beats        *heartbeats

	windowMu      sync.Mutex
	window        Limiter // the access token's rate window, taken at the first call
	releaseWindow func()
	windowDone    bool // the delivery ended: its window is given back

	// finishing ends when the final result is about to be sent: it cuts short a
	// progress update in flight (a check's Progress with a context that never ends,
	// retrying against a failing service) that would hold mu, and so the final.
	finishing      context.Context
	startFinishing context.CancelFunc

	mu      sync.Mutex // serialises callbacks
	started bool       // the check has begun
	done    bool       // the final result is being or was reported
	message string     // the last progress message, repeated by heartbeats
}

// Default progress messages, before the check said anything.
const (
	queuedProgressMessage  = "Waiting for a free check slot."
	defaultProgressMessage = "Check in progress."
)

// ReceivedAt is when the delivery arrived: its check deadline counts from then.
func (d *Delivery) ReceivedAt() time.Time { return d.receivedAt }

// HasPlan reports whether the delivery carries a plan to fetch (plan_json_api_url).
// Deliveries at post_plan, pre_apply and post_apply do, and so do deliveries in the
// 2021 format, which have no stage (run tasks then ran only after the plan).
func (d *Delivery) HasPlan() bool { return d.Request.PlanJSONAPIURL != "" }

// Progress reports "running" with message (and keeps the task result alive: the
// service errors a task result with no update for 10 minutes). Heartbeats repeat the
// last message. If the service answers that the result is already final, or that the
// token is no longer valid, the check's context is cancelled. Once the final result
// is due, Progress returns ErrDeliveryFinished, and an update still in flight (its
// retries included) is cut short, so that it never delays the final result.
//
// PATCH task_result_callback_url with status "running".
func (d *Delivery) Progress(ctx context.Context, message string) error {
	return d.progress(ctx, message, true)
}

// progress is Progress; a message not kept is sent once, and heartbeats go on
// repeating the one before.
func (d *Delivery) progress(ctx context.Context, message string, keep bool) error {
	if d.finishing != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(d.finishing, cancel)()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done || (d.finishing != nil && d.finishing.Err() != nil) {
		return ErrDeliveryFinished
	}
	msg := message
	if msg == "" {
		msg = d.message
	} else if keep {
		d.message = msg
	}
	switch {
	case msg != "":
	case d.started:
		msg = defaultProgressMessage
	default:
		msg = queuedProgressMessage
	}
	err := d.callbackLocked(ctx, TaskResultUpdate{Status: TaskResultRunning, Message: msg})
	if err != nil && d.finishing != nil && d.finishing.Err() != nil {
		return ErrDeliveryFinished // cut short for the final result
	}
	switch {
	case errors.Is(err, ErrConflict):
		d.cancel(errAlreadyFinal)
	case errors.Is(err, ErrUnauthorized):
		d.cancel(fmt.Errorf("%w: %w", errTokenRejected, err))
	}
	return err
}

// PlanJSON streams the run's plan in Terraform's JSON format, of any size. The caller
// closes it. For a large plan, decode it piece by piece with a json.Decoder rather
// than whole with Plan (see the README).
//
// GET plan_json_api_url with the access token; the service redirects to its blob
// store, which is fetched without the token. A delivery without a plan URL (pre_plan)
// gives ErrNoPlan. While the service answers 204 (the plan is not ready), it is asked
// again with backoff within ctx.
func (d *Delivery) PlanJSON(ctx context.Context) (io.ReadCloser, error) {
	body, _, err := d.planJSON(ctx)
	return body, err
}

// planJSON is PlanJSON with the length the service declared (-1 when unknown, as after
// transfer compression).
func (d *Delivery) planJSON(ctx context.Context) (io.ReadCloser, int64, error) {
	if !d.HasPlan() {
		return nil, 0, fmt.Errorf("%w (stage %q)", ErrNoPlan, d.Request.Stage)
	}
	return d.download(ctx, d.Request.PlanJSONAPIURL, "plan_json_api_url")
}

// Plan fetches the run's plan (see PlanJSON) and decodes it with
// github.com/hashicorp/terraform-json, reading at most the receiver's plan cap
// (WithMaxPlanBytes, default 32 MiB) after any transfer compression is undone. A
// larger plan gives an error matching ErrPlanTooLarge, having read no more than the
// cap (nothing, when the service declares its length): stream it with PlanJSON
// instead. Decoding takes about seven times the plan's size in memory, so at most
// WithMaxConcurrentPlans (4) Plan calls read and decode at once; the others wait,
// within ctx.
func (d *Delivery) Plan(ctx context.Context) (*tfjson.Plan, error) {
	return d.PlanWithLimit(ctx, d.receiver.maxPlanBytes)
}

// PlanWithLimit is Plan with a cap of maxBytes instead of the receiver's.
func (d *Delivery) PlanWithLimit(ctx context.Context, maxBytes int64) (*tfjson.Plan, error) {
	var plan tfjson.Plan
	err := d.withPlanJSON(ctx, maxBytes, func(body io.Reader) error {
		data, err := readChunked(body)
		if err != nil {
			if errors.Is(err, ErrPlanTooLarge) {
				return err
			}
			return fmt.Errorf("tfc: reading the plan JSON: %w", err)
		}
		if err := json.Unmarshal(data, &plan); err != nil {
			return fmt.Errorf("tfc: decoding the plan JSON: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &plan, nil
}

// DecodePlan streams the run's plan JSON (see PlanJSON) to decode, for a decoder other
// than terraform-json's (an OPA input document, say), with Plan's guards: decode reads
// at most the receiver's plan cap (WithMaxPlanBytes) after any transfer compression is
// undone, and gets an error matching ErrPlanTooLarge past it (nothing is read when
// the service declares a larger length); and the call counts against
// WithMaxConcurrentPlans until decode returns, so that large decodes do not all hold
// their memory at once. DecodePlan returns decode's error, or the download's.
func (d *Delivery) DecodePlan(ctx context.Context, decode func(io.Reader) error) error {
	return d.withPlanJSON(ctx, d.receiver.maxPlanBytes, decode)
}

// withPlanJSON takes a plan slot, opens the plan JSON and hands it to read, capped at
// maxBytes, returning read's error as it is.
func (d *Delivery) withPlanJSON(ctx context.Context, maxBytes int64, read func(io.Reader) error) error {
	if maxBytes <= 0 {
		return invalidArg("max plan bytes", "must be positive")
	}
	plans := d.receiver.plans
	select {
	case plans <- struct{}{}:
		defer func() { <-plans }()
	case <-ctx.Done():
		return ctx.Err()
	}
	body, declared, err := d.planJSON(ctx)
	if err != nil {
		return err
	}
	defer body.Close()
	if declared > maxBytes {
		return errPlanTooLarge(maxBytes)
	}
	return read(&cappedReader{r: body, n: maxBytes, tooLarge: errPlanTooLarge(maxBytes)})
}

func errPlanTooLarge(limit int64) error {
	return fmt.Errorf("%w of %d bytes: stream it with Delivery.PlanJSON, or raise the cap (WithMaxPlanBytes, PlanWithLimit)", ErrPlanTooLarge, limit)
}

// readChunked reads r whole (withPlanJSON caps what r yields). Memory grows only as
// bytes arrive, in chunks that double up to 4 MiB, which are joined into one slice at
// the end: the peak is about twice the plan, never twice the cap.
func readChunked(r io.Reader) ([]byte, error) {
	var chunks [][]byte
	total, size := 0, 32<<10
	for {
		chunk := make([]byte, size)
		n, err := io.ReadFull(r, chunk)
		chunks = append(chunks, chunk[:n])
		total += n
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		size = min(2*size, 4<<20)
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	data := make([]byte, 0, total)
	for i, c := range chunks {
		data = append(data, c...)
		chunks[i] = nil // collectable as soon as the GC runs
	}
	return data, nil
}

// ConfigurationVersion streams the run's configuration as a .tar.gz archive. The
// caller closes it.
//
// GET configuration_version_download_url with the access token; the redirect to the
// blob store is followed without it. ErrNoConfigurationVersion when the service offers
// none.
func (d *Delivery) ConfigurationVersion(ctx context.Context) (io.ReadCloser, error) {
	raw := deref(d.Request.ConfigurationVersionDownloadURL)
	if raw == "" {
		return nil, ErrNoConfigurationVersion
	}
	body, _, err := d.download(ctx, raw, "configuration_version_download_url")
	return body, err
}

// maxNotReady bounds how often a download answered 204 is asked again.
const maxNotReady = 6

// download GETs target with the delivery's token and returns the body and the length
// the response declares (-1 when unknown).
func (d *Delivery) download(ctx context.Context, target, name string) (io.ReadCloser, int64, error) {
	p := &d.receiver.client.pipeline
	for attempt := 0; ; attempt++ {
		resp, _, err := p.send(ctx, call{method: http.MethodGet, url: target, urlName: name, token: d.Request.AccessToken, limiter: d.rateWindow()})
		if err != nil {
			return nil, 0, err
		}
		if resp.StatusCode != http.StatusNoContent {
			return resp.Body, resp.ContentLength, nil
		}
		drainAndClose(resp.Body)
		if attempt == maxNotReady {
			return nil, 0, fmt.Errorf("tfc: GET %s: the service kept answering 204 No Content (not ready)", name)
		}
		t := time.NewTimer(p.retry.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, 0, ctx.Err()
		case <-t.C:
		}
	}
}

func (d *Delivery) callback(ctx context.Context, u TaskResultUpdate) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.callbackLocked(ctx, u)
}

func (d *Delivery) callbackLocked(ctx context.Context, u TaskResultUpdate) error {
	kind := CallbackFinal
	if u.Status == TaskResultRunning {
		kind = CallbackProgress
	}
	return d.receiver.client.TaskResults.callback(ctx, d.Request.CallbackTarget(), u, d.rateWindow(), d.receiver.attemptObserver(kind))
}

// rateWindow returns the window of the delivery's access token, which it takes from
// the receiver at the first call (not on the handler's path) and gives back when the
// delivery ends. A check that overran and still calls gets a window of its own.
func (d *Delivery) rateWindow() Limiter {
	d.windowMu.Lock()
	defer d.windowMu.Unlock()
	if d.windowDone {
		return d.receiver.tokens.private()
	}
	if d.releaseWindow == nil {
		d.window, d.releaseWindow = d.receiver.tokens.acquire(d.Request.AccessToken)
	}
	return d.window
}

// giveBackWindow returns the delivery's window, if it took one.
func (d *Delivery) giveBackWindow() {
	d.windowMu.Lock()
	defer d.windowMu.Unlock()
	d.windowDone = true
	if d.releaseWindow != nil {
		d.releaseWindow()
	}
}

// String describes the delivery without its secrets.
func (d *Delivery) String() string { return "delivery of " + d.Request.String() }

// Format prints String whatever the verb, so that no verb reaches the token or plan.
func (d *Delivery) Format(f fmt.State, verb rune) { printguard.Format(f, verb, d) }

// LogValue logs the delivery as its request's identifying fields.
func (d *Delivery) LogValue() slog.Value { return d.Request.LogValue() }
