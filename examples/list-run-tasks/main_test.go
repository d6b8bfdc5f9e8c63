package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/organizations/acme/tasks" || r.Header.Get("Authorization") != "Bearer t0ken" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"data":[
			{"id":"task-1","type":"tasks","attributes":{"name":"guard","url":"https://guard.example.com/","enabled":true}},
			{"id":"task-2","type":"tasks","attributes":{"name":"cost","url":"https://cost.example.com/","enabled":false}}],
			"meta":{"pagination":{"current-page":1,"next-page":null,"total-pages":1,"total-count":2}}}`))
	}))
	defer srv.Close()
	t.Setenv("TFE_TOKEN", "t0ken")
	t.Setenv("TFE_ADDRESS", srv.URL)

	var out bytes.Buffer
	if err := run(context.Background(), &out, "acme"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "task-1 ") || !strings.Contains(lines[0], "guard") ||
		!strings.Contains(lines[0], "enabled") || !strings.HasPrefix(lines[1], "task-2 ") || !strings.Contains(lines[1], "disabled") {
		t.Errorf("output:\n%s", out.String())
	}
	if err := run(context.Background(), &out, "unknown"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown org: %v", err)
	}
}
