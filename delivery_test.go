package tfc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReceiverPlanAndOutcomes(t *testing.T) {
	for _, outcomes := range []bool{true, false} {
		t.Run(fmt.Sprintf("outcomes=%v", outcomes), func(t *testing.T) {
			f := newFakeService(t, testHMACKey)
			_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
				plan, err := d.Plan(ctx)
				if err != nil {
					return TaskResultUpdate{}, err
				}
				u := Failed(fmt.Sprintf("%d resource changes", len(plan.ResourceChanges)))
				u.URL = "https://checks.example.com/runs/" + d.Request.RunID
				for _, rc := range plan.ResourceChanges {
					u.Outcomes = append(u.Outcomes, Outcome{ID: rc.Address, Description: "changes " + rc.Address,
						Tags: map[string][]Tag{"Severity": {{Label: "High", Level: TagError}}}})
				}
				return u, nil
			})
			if got := f.deliver(srv.URL, f.request("taskrs-plan", StagePostPlan, outcomes)); got != 200 {
				t.Fatalf("delivery: %d", got)
			}
			cb := f.waitFinal()
			if cb.Status != TaskResultFailed || cb.Message != "5 resource changes" || cb.URL != "https://checks.example.com/runs/run-i3Df5to9ELvibKpQ" {
				t.Errorf("final = %+v", cb)
			}
			if want := map[bool]int{true: 5, false: 0}[outcomes]; len(cb.Outcomes) != want {
				t.Errorf("outcomes sent: %d, want %d", len(cb.Outcomes), want)
			}
			if cb.Auth != "Bearer "+accessTokenFor("taskrs-plan") {
				t.Error("the callback did not carry the delivery's access token")
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.blobAuth) != 1 || f.blobAuth[0] != "" {
				t.Errorf("blob host saw Authorization %q", f.blobAuth)
			}
		})
	}
}

func TestDeliveryDownloads(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	f.planNotReady = 2
	type got struct {
		planErr, prePlanErr, cvErr error
		cv                         string
	}
	results := make(chan got, 2)
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		var g got
		if d.Request.Stage == StagePrePlan {
			_, g.prePlanErr = d.Plan(ctx)
		} else {
			rc, err := d.PlanJSON(ctx)
			if err == nil {
				rc.Close()
			}
			g.planErr = err
		}
		rc, err := d.ConfigurationVersion(ctx)
		g.cvErr = err
		if err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			g.cv = string(b)
		}
		results <- g
		return Passed("ok"), nil
	})
	f.deliver(srv.URL, f.request("taskrs-post", StagePostPlan, false))
	if g := <-results; g.planErr != nil || g.cvErr != nil || !strings.HasSuffix(g.cv, "fake tar.gz") {
		t.Errorf("post_plan downloads: %+v", g)
	}
	p := f.request("taskrs-pre", StagePrePlan, false)
	p["configuration_version_download_url"] = nil
	f.deliver(srv.URL, p)
	if g := <-results; !errors.Is(g.prePlanErr, ErrNoPlan) || !errors.Is(g.cvErr, ErrNoConfigurationVersion) {
		t.Errorf("pre_plan downloads: %+v", g)
	}
	f.waitFinal()
	f.waitFinal()
}

// TestDeliveryPlanOf2021Request: a delivery in the 2021 format (the official sample:
// no stage, a plan URL) gets its plan.
func TestDeliveryPlanOf2021Request(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	type got struct {
		hasPlan bool
		changes int
		err     error
	}
	results := make(chan got, 1)
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		g := got{hasPlan: d.HasPlan()}
		plan, err := d.Plan(ctx)
		g.err = err
		if err == nil {
			g.changes = len(plan.ResourceChanges)
		}
		results <- g
		return Passed("ok"), nil
	})
	var p map[string]any
	if err := json.Unmarshal(fixture(t, "runtask_request_2021.json"), &p); err != nil {
		t.Fatal(err)
	}
	if _, ok := p["stage"]; ok {
		t.Fatal("the 2021 sample has a stage")
	}
	p["access_token"] = accessTokenFor("taskrs-2021")
	p["task_result_id"] = "taskrs-2021"
	p["task_result_callback_url"] = f.api.URL + "/api/v2/task-results/taskrs-2021/callback"
	p["plan_json_api_url"] = f.api.URL + "/api/v2/plans/plan-6AFmRJW1PFJ7qbAh/json-output"
	if got := f.deliver(srv.URL, p); got != 200 {
		t.Fatalf("delivery: %d", got)
	}
	if g := <-results; !g.hasPlan || g.err != nil || g.changes != 5 {
		t.Errorf("2021 delivery: has plan %v, %d changes, %v", g.hasPlan, g.changes, g.err)
	}
	f.waitFinal()
}

// TestDeliveryPlanCap: Plan reads at most its cap of decoded bytes, also when the plan
// comes gzip-compressed, and says how to read a larger one; PlanJSON streams it whole.
func TestDeliveryPlanCap(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			f := newFakeService(t, testHMACKey)
			// 8 MiB of plan that compresses to a few KiB.
			big := append([]byte(`{"format_version":"1.2","variables":{"pad":{"value":"`), bytes.Repeat([]byte("a"), 8<<20)...)
			f.plan, f.planGzip = append(big, `"}}}`...), gz
			type got struct {
				capped, limited, decoded, decodeErr error
				streamed                            int64
			}
			results := make(chan got, 1)
			decodeFailed := errors.New("the decoder's own error")
			_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
				var g got
				_, g.capped = d.Plan(ctx)
				g.decoded = d.DecodePlan(ctx, func(r io.Reader) error {
					var doc map[string]any
					return json.NewDecoder(r).Decode(&doc)
				})
				if g.decodeErr = d.DecodePlan(ctx, func(io.Reader) error { return decodeFailed }); !gz && !errors.Is(g.decodeErr, ErrPlanTooLarge) {
					t.Errorf("DecodePlan of a plan declared over the cap called the decoder: %v", g.decodeErr)
				} else if gz && !errors.Is(g.decodeErr, decodeFailed) {
					t.Errorf("DecodePlan's decoder error came back as %v", g.decodeErr)
				}
				_, g.limited = d.PlanWithLimit(ctx, 16<<20)
				if rc, err := d.PlanJSON(ctx); err == nil {
					g.streamed, _ = io.Copy(io.Discard, rc)
					rc.Close()
				}
				results <- g
				return Passed("ok"), nil
			}, WithMaxPlanBytes(1<<20))
			f.deliver(srv.URL, f.request("taskrs-bigplan", StagePostPlan, false))
			g := <-results
			if !errors.Is(g.capped, ErrPlanTooLarge) || !strings.Contains(g.capped.Error(), "PlanJSON") {
				t.Errorf("Plan over the cap: %v", g.capped)
			}
			if !errors.Is(g.decoded, ErrPlanTooLarge) {
				t.Errorf("DecodePlan over the cap: %v", g.decoded)
			}
			if g.limited != nil || g.streamed != int64(len(f.plan)) {
				t.Errorf("PlanWithLimit: %v; streamed %d of %d bytes", g.limited, g.streamed, len(f.plan))
			}
			f.waitFinal()
		})
	}
}

// TestDeliveryCallsArePacedPerToken: a delivery's calls wait on its token's window,
// one delivery's window does not slow another's, and windows go away with their
// deliveries.
func TestDeliveryCallsArePacedPerToken(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var mu sync.Mutex
	elapsed := map[string]time.Duration{}
	r, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		start := time.Now()
		for range 4 {
			if err := d.Progress(ctx, "working"); err != nil {
				return TaskResultUpdate{}, err
			}
		}
		mu.Lock()
		elapsed[d.Request.TaskResultID] = time.Since(start)
		mu.Unlock()
		return Passed("ok"), nil
	}, WithPerTokenRateLimit(2), WithHeartbeat(0))
	f.deliver(srv.URL, f.request("taskrs-p1", StagePostPlan, false))
	f.deliver(srv.URL, f.request("taskrs-p2", StagePostPlan, false))
	f.waitFinal()
	f.waitFinal()
	mu.Lock()
	defer mu.Unlock()
	// Four calls at two per second: the third waits about a second. Each delivery
	// has its own window, so both finish in about one second rather than two.
	for id, d := range elapsed {
		if d < 900*time.Millisecond {
			t.Errorf("%s: four calls in %v under a window of two a second", id, d)
		}
	}
	r.Shutdown(context.Background())
	if n := r.tokens.len(); n != 0 {
		t.Errorf("%d token windows left after every delivery ended", n)
	}
}

func TestTokenLimiters(t *testing.T) {
	l := newTokenLimiters(5)
	a1, releaseA1 := l.acquire("a")
	a2, releaseA2 := l.acquire("a")
	b, releaseB := l.acquire("b")
	if a1 != a2 || a1 == b || l.len() != 2 {
		t.Fatalf("windows: shared %v, distinct %v, %d held", a1 == a2, a1 != b, l.len())
	}
	releaseA1()
	releaseA1() // once only
	if l.len() != 2 {
		t.Error("a window went while a delivery still used it")
	}
	releaseA2()
	releaseB()
	if l.len() != 0 {
		t.Errorf("%d windows held after every release", l.len())
	}
	off := newTokenLimiters(0)
	if lim, release := off.acquire("a"); lim != nil || off.len() != 0 {
		t.Error("a window without per-token limits")
	} else {
		release()
	}
}

func TestReadChunked(t *testing.T) {
	for _, n := range []int{0, 1, 32 << 10, 100 << 10, 1 << 20} {
		in := bytes.Repeat([]byte("x"), n)
		got, err := readChunked(&cappedReader{r: bytes.NewReader(in), n: 1 << 20, tooLarge: errPlanTooLarge(1 << 20)})
		if err != nil || !bytes.Equal(got, in) {
			t.Errorf("%d bytes under a cap of 1 MiB: %d bytes, %v", n, len(got), err)
		}
	}
	if _, err := readChunked(&cappedReader{r: bytes.NewReader(make([]byte, 1<<20+1)), n: 1 << 20, tooLarge: errPlanTooLarge(1 << 20)}); !errors.Is(err, ErrPlanTooLarge) {
		t.Errorf("one byte over the cap: %v", err)
	}
	if _, err := readChunked(iotestErrReader{}); err == nil || errors.Is(err, ErrPlanTooLarge) {
		t.Errorf("a failing body: %v", err)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestDeliveryPlansAtOnce: with WithMaxConcurrentPlans(1), a second Plan waits until
// the first has read and decoded its plan, and gives up when its context ends.
func TestDeliveryPlansAtOnce(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	f.planArrived, f.planRelease = make(chan struct{}), make(chan struct{})
	errs := make(chan error, 3)
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		if d.Request.TaskResultID == "taskrs-impatient" {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := d.Plan(ctx)
			errs <- err
			return Passed("ok"), nil
		}
		_, err := d.Plan(ctx)
		errs <- err
		return Passed("ok"), nil
	}, WithMaxConcurrentPlans(1), WithHeartbeat(0))
	f.deliver(srv.URL, f.request("taskrs-first", StagePostPlan, false))
	<-f.planArrived // the first download has reached the blob host, and waits there
	f.deliver(srv.URL, f.request("taskrs-second", StagePostPlan, false))
	f.deliver(srv.URL, f.request("taskrs-impatient", StagePostPlan, false))
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Errorf("Plan with an ended context while another reads: %v", err)
	}
	if n := f.planRequests.Load(); n != 1 {
		t.Errorf("%d plan downloads started at once, want 1", n)
	}
	close(f.planRelease)
	<-f.planArrived // the second download, once the first is done
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for range 3 {
		f.waitFinal()
	}
}
