package tfc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/tfkit/tfc"
)

// newFakeCTS is a stand-in for a CTS daemon holding one task, task_a, that can be read,
// inspected, enabled and disabled.
func newFakeCTS() *httptest.Server {
	var mu sync.Mutex
	enabled := true
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tasks/task_a", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, `{"request_id":"b7559ab0","task":{"name":"task_a","enabled":%t,"module":"path/to/module",
			"condition":{"schedule":{"cron":"*/5 * * * *"}}}}`, enabled)
	})
	mux.HandleFunc("PATCH /v1/tasks/task_a", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Enabled bool `json:"enabled"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"error":{"message":"bad body"}}`, http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("run") == "inspect" {
			fmt.Fprint(w, `{"inspect":{"changes_present":true,"plan":"Plan: 0 to add, 0 to change, 3 to destroy."}}`)
			return
		}
		mu.Lock()
		enabled = body.Enabled
		mu.Unlock()
		fmt.Fprint(w, `{}`)
	})
	return httptest.NewServer(mux)
}

func ExampleCTSTasksService_Update() {
	srv := newFakeCTS()
	defer srv.Close()

	// In real use: tfc.NewCTSClient(tfc.CTSFromEnv()), which reads CTS_ADDRESS and the
	// CTS TLS variables.
	cts, err := tfc.NewCTSClient(tfc.WithCTSAddress(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	res, err := cts.Tasks.Read(ctx, "task_a")
	if err != nil {
		log.Fatal(err)
	}
	toggle := tfc.CTSTaskUpdateOptions{Enabled: tfc.Ptr(!res.Task.IsEnabled())}

	// Preview first: with CTSRunInspect nothing changes.
	toggle.Run = tfc.CTSRunInspect
	preview, err := cts.Tasks.Update(ctx, "task_a", toggle)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("changes present:", preview.Inspection.ChangesPresent)
	fmt.Println(preview.Inspection.Plan)

	toggle.Run = ""
	if _, err := cts.Tasks.Update(ctx, "task_a", toggle); err != nil {
		log.Fatal(err)
	}
	res, err = cts.Tasks.Read(ctx, "task_a")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("task_a enabled:", res.Task.IsEnabled())

	// Tasks that do not exist, and followers of a high-availability cluster, fail with
	// errors that errors.Is recognises.
	_, err = cts.Tasks.Read(ctx, "task_z")
	fmt.Println("not found:", errors.Is(err, tfc.ErrNotFound), "not leader:", errors.Is(err, tfc.ErrNotLeader))
	// Output:
	// changes present: true
	// Plan: 0 to add, 0 to change, 3 to destroy.
	// task_a enabled: false
	// not found: true not leader: false
}
