package tfc_test

import (
	"bytes"
	"context"
	"errors"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/tfkit/tfc"
)

func ExampleNewClient() {
	// Point the client at Terraform Enterprise; no request is made here.
	client, err := tfc.NewClient(
		tfc.WithAddress("tfe.example.com"),
		tfc.WithToken("an-api-token"),
		tfc.WithUserAgent("inventory/1.0"),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.BaseURL())
	// Output: https://tfe.example.com/api/v2/
}

func ExampleRunTasksService_All() {
	// A stand-in for HCP Terraform that serves two pages of one run task each.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page[number]") == "2" {
			fmt.Fprint(w, `{"data":[{"id":"task-2","type":"tasks","attributes":{"name":"cost-check"}}],
				"meta":{"pagination":{"current-page":2,"prev-page":1,"next-page":null,"total-pages":2,"total-count":2}}}`)
			return
		}
		fmt.Fprint(w, `{"data":[{"id":"task-1","type":"tasks","attributes":{"name":"deletion-guard"}}],
			"meta":{"pagination":{"current-page":1,"prev-page":null,"next-page":2,"total-pages":2,"total-count":2}}}`)
	}))
	defer srv.Close()

	client, err := tfc.NewClient(tfc.WithAddress(srv.URL), tfc.WithToken("an-api-token"))
	if err != nil {
		log.Fatal(err)
	}
	for task, err := range client.RunTasks.All(context.Background(), "my-org", nil) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(task.ID, task.Name)
	}
	// Output:
	// task-1 deletion-guard
	// task-2 cost-check
}

func ExampleAPIError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "a1b2c3")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errors":[{"status":"404","title":"not found"}]}`)
	}))
	defer srv.Close()
	client, err := tfc.NewClient(tfc.WithAddress(srv.URL), tfc.WithToken("an-api-token"))
	if err != nil {
		log.Fatal(err)
	}

	_, err = client.RunTasks.Read(context.Background(), "task-missing", nil)
	var apiErr *tfc.APIError
	if errors.Is(err, tfc.ErrNotFound) && errors.As(err, &apiErr) {
		fmt.Println("no such run task; request id", apiErr.RequestID)
	}
	fmt.Println(err)
	// Output:
	// no such run task; request id a1b2c3
	// tfc: GET /api/v2/tasks/task-missing: 404 Not Found: not found (request id a1b2c3)
}

func ExampleNewReceiver() {
	check := func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		return tfc.Passed("Nothing to object to."), nil
	}
	// A receiver must be told which service hosts its deliveries may name.
	_, err := tfc.NewReceiver(check, tfc.WithHMACKeys("the-run-task-hmac-key"))
	fmt.Println(errors.Is(err, tfc.ErrInvalidArgument))

	receiver, err := tfc.NewReceiver(check,
		tfc.WithHMACKeys("the-run-task-hmac-key"),
		tfc.WithAllowedHosts("app.terraform.io"), // or your Terraform Enterprise host
	)
	if err != nil {
		log.Fatal(err)
	}
	defer receiver.Shutdown(context.Background())

	// A delivery naming another host is refused before any token is sent.
	body := []byte(`{"payload_version":1,"stage":"post_plan","access_token":"at-1","task_result_id":"taskrs-1",` +
		`"task_result_callback_url":"https://169.254.169.254/latest/meta-data"}`)
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set(tfc.SignatureHeader, tfc.Sign("the-run-task-hmac-key", body))
	rec := httptest.NewRecorder()
	receiver.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// true
	// 403 task_result_callback_url names a host that is not allowed
}

// Count what a receiver does with any metrics library; here the standard library's
// expvar. Gauges come from Stats, read when asked.
func ExampleWithReceiverHooks() {
	accepted := new(expvar.Int)
	refused := new(expvar.Map).Init()      // by status
	checks := new(expvar.Map).Init()       // by result
	checkSeconds := new(expvar.Map).Init() // by result
	finals := new(expvar.Map).Init()       // by status and outcome
	hooks := tfc.ReceiverHooks{
		DeliveryAccepted: func() { accepted.Add(1) },
		DeliveryRefused:  func(status int) { refused.Add(strconv.Itoa(status), 1) },
		CheckDone: func(c tfc.CheckRun) {
			checks.Add(string(c.Result), 1)
			checkSeconds.AddFloat(string(c.Result), c.Duration.Seconds())
		},
		FinalReported: func(f tfc.FinalReport) { finals.Add(string(f.Status)+" "+string(f.Outcome), 1) },
	}
	check := func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		return tfc.Passed("Nothing to object to."), nil
	}
	receiver, err := tfc.NewReceiver(check,
		tfc.WithHMACKeys("the-run-task-hmac-key"),
		tfc.WithAllowedHosts("app.terraform.io"),
		tfc.WithReceiverHooks(hooks),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer receiver.Shutdown(context.Background())

	// An unsigned delivery is refused with 401, and counted.
	body := []byte(`{"payload_version":1,"stage":"post_plan","access_token":"at-1","task_result_id":"taskrs-1"}`)
	rec := httptest.NewRecorder()
	receiver.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
	stats := receiver.Stats()
	fmt.Println(rec.Code, refused, accepted, stats.Pending, stats.InFlight)
	// Output:
	// 401 {"401": 1} 0 0 0
}
