package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeCTS is a CTS daemon in memory with two tasks; it records every PATCH.
type fakeCTS struct {
	mu      sync.Mutex
	enabled map[string]bool
	patches []string
}

func newFakeCTS(t *testing.T) *fakeCTS {
	f := &fakeCTS{enabled: map[string]bool{"task_a": true, "task_b": false}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		fmt.Fprintf(w, `{"request_id":"r1","tasks":[
			{"name":"task_a","enabled":%t,"module":"path/to/module","condition":{"services":{"names":["api","web"]}}},
			{"name":"task_b","enabled":%t,"module":"org/kv/module","condition":{"consul_kv":{"path":"my_key"}}}]}`,
			f.enabled["task_a"], f.enabled["task_b"])
	})
	mux.HandleFunc("PATCH /v1/tasks/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		name := r.PathValue("name")
		if _, ok := f.enabled[name]; !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"message":"task %s does not exist"},"request_id":"r2"}`, name)
			return
		}
		var body struct {
			Enabled *bool `json:"enabled"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Enabled == nil {
			http.Error(w, `{"error":{"message":"missing enabled"}}`, http.StatusBadRequest)
			return
		}
		f.patches = append(f.patches, fmt.Sprintf("%s enabled=%t %s", name, *body.Enabled, r.URL.RawQuery))
		if r.URL.Query().Get("run") == "inspect" {
			fmt.Fprint(w, `{"inspect":{"changes_present":true,"plan":"<terraform plan truncated> Plan: 3 to add, 0 to change, 0 to destroy."}}`)
			return
		}
		f.enabled[name] = *body.Enabled
		fmt.Fprint(w, `{}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("CTS_ADDRESS", srv.URL)
	for _, k := range []string{"CTS_CACERT", "CTS_CAPATH", "CTS_CLIENT_CERT", "CTS_CLIENT_KEY", "CTS_SSL_VERIFY"} {
		t.Setenv(k, "")
	}
	return f
}

func runArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out)
	return out.String(), err
}

func TestList(t *testing.T) {
	newFakeCTS(t)
	out, err := runArgs(t)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "task_a enabled services path/to/module" ||
		strings.Join(strings.Fields(lines[1]), " ") != "task_b disabled consul_kv org/kv/module" {
		t.Errorf("output:\n%s", out)
	}
}

func TestInspectChangesNothing(t *testing.T) {
	f := newFakeCTS(t)
	out, err := runArgs(t, "-disable", "task_a", "-inspect")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "to disable task_a would change infrastructure (nothing was changed)") ||
		!strings.Contains(out, "Plan: 3 to add, 0 to change, 0 to destroy.") {
		t.Errorf("output:\n%s", out)
	}
	if !f.enabled["task_a"] || len(f.patches) != 1 || f.patches[0] != "task_a enabled=false run=inspect" {
		t.Errorf("enabled %v, patches %q", f.enabled["task_a"], f.patches)
	}
}

func TestEnableAndDisable(t *testing.T) {
	f := newFakeCTS(t)
	if out, err := runArgs(t, "-enable", "task_b"); err != nil || out != "enabled task_b\n" {
		t.Fatalf("enable: %q, %v", out, err)
	}
	if out, err := runArgs(t, "-disable", "task_a"); err != nil || out != "disabled task_a\n" {
		t.Fatalf("disable: %q, %v", out, err)
	}
	if f.enabled["task_a"] || !f.enabled["task_b"] {
		t.Errorf("state = %v", f.enabled)
	}
	out, err := runArgs(t)
	if err != nil || !strings.Contains(strings.Join(strings.Fields(out), " "), "task_a disabled") {
		t.Errorf("list after the change: %q, %v", out, err)
	}
}

func TestErrors(t *testing.T) {
	f := newFakeCTS(t)
	for _, args := range [][]string{
		{"-inspect"},
		{"-enable", "task_a", "-disable", "task_b"},
		{"extra"},
	} {
		if _, err := runArgs(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want the usage error", args, err)
		}
	}
	if _, err := runArgs(t, "-enable", "task_z"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown task: %v", err)
	}
	t.Setenv("CTS_ADDRESS", "localhost:8558")
	if _, err := runArgs(t); err == nil || !strings.Contains(err.Error(), "CTS address") {
		t.Errorf("address without scheme: %v", err)
	}
	if len(f.patches) != 0 {
		t.Errorf("patches sent: %q", f.patches)
	}
}
