package tfc

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeService plays HCP Terraform's side of the run task protocol for receiver tests:
// it signs and delivers requests, serves plan JSON and configuration archives behind a
// 307 to a second (blob) host, refuses callbacks outside the documented limits with
// 422, and records every callback.
type fakeService struct {
	t    *testing.T
	key  Secret
	api  *httptest.Server
	blob *httptest.Server
	plan []byte

	apiHits      atomic.Int64 // requests to the API host
	blobHits     atomic.Int64 // requests to the blob host
	planRequests atomic.Int64 // requests to the plan endpoint
	// planArrived and planRelease, if set, hold every plan download at the blob host:
	// it sends on planArrived, then waits to receive from planRelease.
	planArrived, planRelease chan struct{}

	mu        sync.Mutex
	callbacks map[string][]recordedCallback // by task result ID
	blobAuth  []string                      // Authorization headers the blob host saw
	// respond, if set, picks the status of the nth (from 1) callback for a task result;
	// 0 means answer 200, dropCallback closes the connection without an answer.
	respond func(taskResultID string, n int, status TaskResultStatus) int
	// planNotReady makes the plan endpoint answer 204 that many times first.
	planNotReady int
	// planGzip serves the plan with Content-Encoding: gzip.
	planGzip bool
	// planLocation, if set, is the Location of the plan endpoint's redirect.
	planLocation string
	finals       chan recordedCallback // every accepted final callback
	running      chan recordedCallback // every accepted running callback
}

type recordedCallback struct {
	TaskResultID string
	Auth         string
	Status       TaskResultStatus
	Message      string
	URL          string
	Outcomes     []json.RawMessage
	Body         []byte
	HTTPStatus   int
}

func newFakeService(t *testing.T, key Secret) *fakeService {
	f := &fakeService{
		t: t, key: key, callbacks: map[string][]recordedCallback{},
		plan:   fixture(t, "plan_deletes.json"),
		finals: make(chan recordedCallback, 1024), running: make(chan recordedCallback, 1024),
	}
	f.blob = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.blobHits.Add(1)
		f.mu.Lock()
		f.blobAuth = append(f.blobAuth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/object/plan-"):
			if f.planArrived != nil {
				f.planArrived <- struct{}{}
				<-f.planRelease
			}
			f.mu.Lock()
			plan, gz := f.plan, f.planGzip
			f.mu.Unlock()
			if gz {
				w.Header().Set("Content-Encoding", "gzip")
				zw := gzip.NewWriter(w)
				_, _ = zw.Write(plan)
				_ = zw.Close()
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(plan)))
			_, _ = w.Write(plan)
		case strings.HasPrefix(r.URL.Path, "/v1/object/cv-"):
			_, _ = w.Write([]byte("\x1f\x8b fake tar.gz"))
		default:
			http.NotFound(w, r)
		}
	}))
	mux := http.NewServeMux()
	mux.HandleFunc("PATCH /api/v2/task-results/{id}/callback", f.callback)
	mux.HandleFunc("GET /api/v2/plans/{id}/json-output", func(w http.ResponseWriter, r *http.Request) {
		f.planRequests.Add(1)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer at-") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		notReady := f.planNotReady > 0
		f.planNotReady--
		f.mu.Unlock()
		if notReady {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f.mu.Lock()
		location := f.planLocation
		f.mu.Unlock()
		if location != "" {
			w.Header()["Location"] = []string{location}
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		http.Redirect(w, r, f.blob.URL+"/v1/object/plan-signed-"+r.PathValue("id"), http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("GET /api/v2/configuration-versions/{id}/download", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, f.blob.URL+"/v1/object/cv-signed-"+r.PathValue("id"), http.StatusFound)
	})
	f.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.apiHits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.close)
	return f
}

// dropCallback, as a respond status, closes the connection without an answer.
const dropCallback = -1

// host is the API host, for WithAllowedHosts.
func (f *fakeService) host() string { return strings.TrimPrefix(f.api.URL, "http://") }

func (f *fakeService) close() {
	f.api.Close()
	f.blob.Close()
}

func (f *fakeService) callback(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var doc struct {
		Data struct {
			Type       string `json:"type"`
			Attributes struct {
				Status  TaskResultStatus `json:"status"`
				Message string           `json:"message"`
				URL     string           `json:"url"`
			} `json:"attributes"`
			Relationships struct {
				Outcomes struct {
					Data []json.RawMessage `json:"data"`
				} `json:"outcomes"`
			} `json:"relationships"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Data.Type != "task-results" ||
		r.Header.Get("Content-Type") != mediaTypeJSONAPI || !withinOutcomeLimits(doc.Data.Relationships.Outcomes.Data) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	id := r.PathValue("id")
	cb := recordedCallback{TaskResultID: id, Auth: r.Header.Get("Authorization"), Status: doc.Data.Attributes.Status,
		Message: doc.Data.Attributes.Message, URL: doc.Data.Attributes.URL, Outcomes: doc.Data.Relationships.Outcomes.Data, Body: body}
	f.mu.Lock()
	n := len(f.callbacks[id]) + 1
	status := http.StatusOK
	if cb.Auth != "Bearer "+accessTokenFor(id) {
		status = http.StatusUnauthorized
	} else if f.respond != nil {
		if s := f.respond(id, n, cb.Status); s != 0 {
			status = s
		}
	}
	cb.HTTPStatus = status
	f.callbacks[id] = append(f.callbacks[id], cb)
	f.mu.Unlock()
	switch status {
	case dropCallback:
		dropConnection(w)
		return
	case http.StatusOK:
		if cb.Status == TaskResultRunning {
			f.running <- cb
		} else {
			f.finals <- cb
		}
	}
	w.WriteHeader(status)
	if status != http.StatusOK {
		fmt.Fprintf(w, `{"errors":[{"status":"%d","title":"%s"}]}`, status, http.StatusText(status))
	}
}

// withinOutcomeLimits applies the service's limits to the outcomes of a callback.
func withinOutcomeLimits(raw []json.RawMessage) bool {
	outcomes := make([]Outcome, len(raw))
	for i, r := range raw {
		var o resource[outcomeAttrs, noRelationships]
		if json.Unmarshal(r, &o) != nil || o.Type != typeTaskResultOutcomes {
			return false
		}
		a := o.Attributes
		outcomes[i] = Outcome{ID: a.OutcomeID, Description: a.Description, Body: a.Body, URL: a.URL, Tags: a.Tags}
	}
	return validateOutcomes(outcomes) == nil
}

// accessTokenFor is the per-delivery access token the fake hands out.
func accessTokenFor(taskResultID string) string {
	return "at-" + taskResultID + "-4QEuyyxug1f2rw.atlasv1"
}

// request builds a delivery for task result id at stage, shaped like the documented
// post_plan payload, with every URL on the fake's API host.
func (f *fakeService) request(id string, stage Stage, outcomes bool) map[string]any {
	var p map[string]any
	if err := json.Unmarshal(fixture(f.t, "runtask_request_post_plan.json"), &p); err != nil {
		f.t.Fatal(err)
	}
	p["stage"] = string(stage)
	p["task_result_id"] = id
	p["access_token"] = accessTokenFor(id)
	p["capabilities"] = map[string]any{"outcomes": outcomes}
	p["task_result_callback_url"] = f.api.URL + "/api/v2/task-results/" + id + "/callback?url_code=cb-secret-" + id
	p["configuration_version_download_url"] = f.api.URL + "/api/v2/configuration-versions/cv-" + id + "/download"
	if stage.HasPlan() {
		p["plan_json_api_url"] = f.api.URL + "/api/v2/plans/plan-" + id + "/json-output"
	} else {
		delete(p, "plan_json_api_url")
	}
	return p
}

// deliver signs payload with the fake's key and POSTs it to the receiver.
func (f *fakeService) deliver(receiverURL string, payload any) int {
	body, err := json.Marshal(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.deliverRaw(receiverURL, body, SignatureHeader, Sign(f.key, body))
}

// serve signs a delivery of task result id and hands it to h in-process, for the
// answer's headers and body.
func (f *fakeService) serve(h http.Handler, id string) *httptest.ResponseRecorder {
	body, _ := json.Marshal(f.request(id, StagePostPlan, false))
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set(SignatureHeader, Sign(f.key, body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func (f *fakeService) deliverRaw(receiverURL string, body []byte, header, signature string) int {
	req, _ := http.NewRequest(http.MethodPost, receiverURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "TFC/1.0 (+https://app.terraform.io; TFC)")
	if header != "" {
		req.Header.Set(header, signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("delivering: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitFinal waits for the next accepted final callback.
func (f *fakeService) waitFinal() recordedCallback {
	f.t.Helper()
	select {
	case cb := <-f.finals:
		return cb
	case <-time.After(10 * time.Second):
		f.t.Fatal("no final callback within 10s")
		return recordedCallback{}
	}
}

func (f *fakeService) callbacksFor(id string) []recordedCallback {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedCallback(nil), f.callbacks[id]...)
}

func (f *fakeService) allCallbacks() map[string][]recordedCallback {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string][]recordedCallback, len(f.callbacks))
	for k, v := range f.callbacks {
		out[k] = append([]recordedCallback(nil), v...)
	}
	return out
}
