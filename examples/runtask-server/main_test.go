package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tfkit/tfc"
)

func TestServesDeliveries(t *testing.T) {
	const key = "example-hmac-key"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return map[string]string{"RUN_TASK_HMAC_KEY": key}[k] }, &logs, ready)
	}()
	addr := <-ready

	post := func(body, signature string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
		req.Header.Set(tfc.SignatureHeader, signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	verification := `{"payload_version":1,"stage":"test","access_token":"test-token","task_result_id":"taskrs-xxxxxxxxxxxxxxxx"}`
	if got := post(verification, tfc.Sign(key, []byte(verification))); got != 200 {
		t.Errorf("signed verification request: %d", got)
	}
	if got := post(verification, ""); got != 401 {
		t.Errorf("unsigned request: %d", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), key) {
		t.Error("the HMAC key was logged")
	}
}

func TestNeedsKey(t *testing.T) {
	err := run(context.Background(), nil, func(string) string { return "" }, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "RUN_TASK_HMAC_KEY") {
		t.Errorf("error = %v", err)
	}
}
