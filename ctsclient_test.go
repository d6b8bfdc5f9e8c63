package tfc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfkit/tfc/internal/syncbuf"
)

// ctsTestAPI is an httptest CTS daemon (routes under /v1/) with a client pointed at it.
type ctsTestAPI struct {
	t      *testing.T
	mux    *http.ServeMux
	server *httptest.Server
	client *CTSClient
}

func newCTSTestAPI(t *testing.T, opts ...CTSOption) *ctsTestAPI {
	t.Helper()
	api := &ctsTestAPI{t: t, mux: http.NewServeMux()}
	api.server = httptest.NewServer(api.mux)
	t.Cleanup(api.server.Close)
	base := []CTSOption{WithCTSAddress(api.server.URL), WithCTSRetryPolicy(fastRetries)}
	c, err := NewCTSClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewCTSClient: %v", err)
	}
	api.client = c
	return api
}

// handle registers a handler for "METHOD /v1/path" that checks first what every CTS
// request carries: plain JSON, no Authorization header.
func (api *ctsTestAPI) handle(pattern string, h http.HandlerFunc) {
	api.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Accept"); got != mediaTypeJSON {
			api.t.Errorf("%s: Accept = %q", pattern, got)
		}
		if r.ContentLength > 0 && r.Header.Get("Content-Type") != mediaTypeJSON {
			api.t.Errorf("%s: Content-Type = %q", pattern, r.Header.Get("Content-Type"))
		}
		if r.Header.Get("Authorization") != "" {
			api.t.Errorf("%s: an Authorization header was sent", pattern)
		}
		h(w, r)
	})
}

// serveCTS answers with status and a testdata file, as the daemon does: plain JSON.
func serveCTS(t *testing.T, status int, name string) http.HandlerFunc {
	body := fixture(t, name)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", mediaTypeJSON)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

func TestNewCTSClientDefaults(t *testing.T) {
	c, err := NewCTSClient(WithCTSHTTPClient(&http.Client{Transport: failTransport{t}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL().String(); got != "http://localhost:8558/v1/" {
		t.Errorf("BaseURL = %s", got)
	}
	if c.limiter != nil {
		t.Error("a CTS client has a rate ceiling by default")
	}
	if c.retry != DefaultRetryPolicy() {
		t.Errorf("retry = %+v", c.retry)
	}
	if c.userAgent != "tfc-go/"+Version {
		t.Errorf("User-Agent = %q", c.userAgent)
	}
}

func TestNewCTSClientAddress(t *testing.T) {
	for address, want := range map[string]string{
		"http://localhost:8558":             "http://localhost:8558/v1/",
		" https://cts.example.com:8558/ ":   "https://cts.example.com:8558/v1/",
		"https://proxy.example.com/cts":     "https://proxy.example.com/cts/v1/",
		"http://[::1]:8558":                 "http://[::1]:8558/v1/",
		"":                                  "",
		"localhost:8558":                    "",
		"cts.example.com":                   "",
		"ftp://cts.example.com":             "",
		"http://":                           "",
		"https://user:pw@cts.example.com":   "",
		"http://cts.example.com:8558/?x=1":  "",
		"http://cts.example.com:8558/#frag": "",
	} {
		c, err := NewCTSClient(WithCTSAddress(address))
		switch {
		case want == "" && !errors.Is(err, ErrInvalidArgument):
			t.Errorf("%q: err = %v, want an ErrInvalidArgument", address, err)
		case want != "" && err != nil:
			t.Errorf("%q: %v", address, err)
		case want != "" && c.BaseURL().String() != want:
			t.Errorf("%q: BaseURL = %s, want %s", address, c.BaseURL(), want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: the error repeats the password: %v", address, err)
		}
	}
}

func TestNewCTSClientOptionErrors(t *testing.T) {
	roundTripper := http.Client{Transport: failTransport{t}}
	for name, opts := range map[string][]CTSOption{
		"nil http client":           {WithCTSHTTPClient(nil)},
		"nil TLS config":            {WithCTSTLSConfig(nil)},
		"cert without key":          {WithCTSClientCert("cert.pem", "")},
		"key without cert":          {WithCTSClientCert("", "key.pem")},
		"user agent line break":     {WithCTSUserAgent("a\r\nX-Evil: 1")},
		"negative retries":          {WithCTSRetryPolicy(RetryPolicy{MaxRetries: -1})},
		"TLS on a custom transport": {WithCTSHTTPClient(&roundTripper), WithCTSInsecureSkipVerify(true)},
	} {
		if _, err := NewCTSClient(opts...); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want an ErrInvalidArgument", name, err)
		}
	}
}

func TestCTSClientPrintsNoSecrets(t *testing.T) {
	pki := newTestPKI(t)
	c, err := NewCTSClient(WithCTSAddress("https://cts.example.com:8558"),
		WithCTSClientCert(pki.clientCertFile, pki.clientKeyFile), WithCTSCACert(pki.caFile))
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", c, c, c, c, *c, *c, *c)
	keyPEM, err := os.ReadFile(pki.clientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	assertNoSecrets(t, "printing a CTSClient", out, "PRIVATE", string(block.Bytes[:16]), fmt.Sprint(block.Bytes[:16]))
	if !strings.Contains(out, "tfc.CTSClient(https://cts.example.com:8558/v1/)") {
		t.Errorf("printed as %s", out)
	}
}

func TestCTSErrorBodies(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("GET /v1/tasks/bad", serveCTS(t, http.StatusBadRequest, "cts_error_response.json"))
	api.handle("GET /v1/tasks/missing", serveCTS(t, http.StatusNotFound, "cts_error_response.json"))
	api.handle("GET /v1/tasks/proxy", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head></html>")
	})
	api.handle("GET /v1/tasks/bare", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = io.WriteString(w, `{"error":{"message":"this endpoint is only available with high availability configured"}}`)
	})
	ctx := context.Background()

	_, err := api.client.Tasks.Read(ctx, "bad")
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want an *APIError", err)
	}
	if apiErr.StatusCode != 400 || apiErr.RequestID != "bb63cd70-8f45-4f42-b27b-bc2a6f4931e6" ||
		len(apiErr.Errors) != 1 || apiErr.Errors[0].Detail != "this is an error message" {
		t.Errorf("APIError = %+v", apiErr)
	}
	if want := "tfc: GET /v1/tasks/bad: 400 Bad Request: this is an error message (request id bb63cd70-8f45-4f42-b27b-bc2a6f4931e6)"; err.Error() != want {
		t.Errorf("Error() =\n %s\nwant\n %s", err, want)
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotLeader) {
		t.Error("a plain 400 matches ErrNotFound or ErrNotLeader")
	}

	_, err = api.client.Tasks.Read(ctx, "missing")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("404: err = %v, want ErrNotFound", err)
	}

	_, err = api.client.Tasks.Read(ctx, "proxy")
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Message != "502 Bad Gateway" {
		t.Errorf("502 from a proxy: %v", err)
	}

	_, err = api.client.Tasks.Read(ctx, "bare")
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 405 || apiErr.RequestID != "" ||
		len(apiErr.Errors) != 1 || !strings.Contains(apiErr.Errors[0].Detail, "high availability") {
		t.Errorf("405 without request_id: %v", err)
	}
}

func TestCTSNotLeader(t *testing.T) {
	messages := readLines(t, "cts_error_messages.txt")
	want := []struct{ id, addr string }{
		{"cts-01", "cts-01.example.com:8558"},
		{"cts-01", ""},
		{"", ""},
	}
	if len(messages) != len(want) {
		t.Fatalf("cts_error_messages.txt has %d messages, want %d", len(messages), len(want))
	}
	for i, msg := range messages {
		t.Run(msg, func(t *testing.T) {
			api := newCTSTestAPI(t)
			var attempts atomic.Int64
			api.handle("PATCH /v1/tasks/task_a", func(w http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":{"message":%q}}`, msg)
			})
			_, err := api.client.Tasks.Update(context.Background(), "task_a", CTSTaskUpdateOptions{Enabled: Ptr(false)})
			if !errors.Is(err, ErrNotLeader) {
				t.Fatalf("err = %v, want ErrNotLeader", err)
			}
			var nl *NotLeaderError
			if !errors.As(err, &nl) || nl.LeaderID != want[i].id || nl.LeaderAddress != want[i].addr {
				t.Errorf("NotLeaderError = %+v, want leader %q at %q", nl, want[i].id, want[i].addr)
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
				t.Errorf("does not unwrap to the 400 *APIError: %v", err)
			}
			if !strings.Contains(err.Error(), msg) {
				t.Errorf("Error() = %q lacks the message", err)
			}
			if attempts.Load() != 1 {
				t.Errorf("attempts = %d, want 1", attempts.Load())
			}
		})
	}

	t.Run("fixture", func(t *testing.T) {
		api := newCTSTestAPI(t)
		api.handle("GET /v1/status", serveCTS(t, http.StatusBadRequest, "cts_error_ha_redirect_response.json"))
		_, err := api.client.Status(context.Background())
		var nl *NotLeaderError
		if !errors.As(err, &nl) || nl.LeaderID != "cts-01" || nl.LeaderAddress != "cts-01.example.com:8558" {
			t.Errorf("err = %v (%+v)", err, nl)
		}
	})
}

func readLines(t *testing.T, name string) []string {
	t.Helper()
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(fixture(t, name)))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

func TestParseLeaderRedirect(t *testing.T) {
	for _, tc := range []struct {
		msg      string
		id, addr string
		ok       bool
	}{
		{"redirect requests to leader 'cts-01' at cts-01.example.com:8558", "cts-01", "cts-01.example.com:8558", true},
		{"  Redirect requests to leader 'a b' at 10.0.0.1:8558.\n", "a b", "10.0.0.1:8558", true},
		{"redirect requests to leader 'cts-01'", "cts-01", "", true},
		{"redirect requests to leader", "", "", true},
		{"redirect requests to leader ''", "", "", true},
		{"redirect requests to leader '", "", "", true},
		{"redirect requests to leader 'unterminated at host", "", "", true},
		{"redirect requests to leader 'x' at", "x", "", true},
		{"redirect requests to leader 'x' at   ", "x", "", true},
		{"redirect requests to leader 'x' near host", "x", "", true},
		{"redirect requests to leadership", "", "", false},
		{"redirect requests to lead", "", "", false},
		{"task with name task_a already exists", "", "", false},
		{"", "", "", false},
		{"\xff\xfe'", "", "", false},
	} {
		id, addr, ok := parseLeaderRedirect(tc.msg)
		if id != tc.id || addr != tc.addr || ok != tc.ok {
			t.Errorf("parseLeaderRedirect(%q) = %q, %q, %v; want %q, %q, %v", tc.msg, id, addr, ok, tc.id, tc.addr, tc.ok)
		}
	}
}

func FuzzParseLeaderRedirect(f *testing.F) {
	for _, s := range []string{"redirect requests to leader 'cts-01' at cts-01.example.com:8558",
		"redirect requests to leader 'x'", "redirect requests to leader", "redirect requests to leader '", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		id, addr, ok := parseLeaderRedirect(msg)
		if !ok && (id != "" || addr != "") {
			t.Errorf("not a redirect, yet leader %q at %q", id, addr)
		}
		if strings.ContainsAny(addr, " \t\n") {
			t.Errorf("address %q holds whitespace", addr)
		}
	})
}

func TestCTSRetries(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		pattern string
		failure func(http.ResponseWriter)
		call    func(c *CTSClient) error
		want    int64 // attempts
	}{
		{"GET retried on 503", "GET /v1/tasks", status(503), func(c *CTSClient) error {
			_, err := c.Tasks.List(ctx)
			return err
		}, 2},
		{"GET retried after a dropped connection", "GET /v1/status/tasks", dropConnection, func(c *CTSClient) error {
			_, err := c.Tasks.ListStatuses(ctx, nil)
			return err
		}, 2},
		{"DELETE retried on 502", "DELETE /v1/tasks/task_a", status(502), func(c *CTSClient) error {
			_, err := c.Tasks.Delete(ctx, "task_a")
			return err
		}, 2},
		{"PATCH without run retried on 500", "PATCH /v1/tasks/task_a", status(500), func(c *CTSClient) error {
			_, err := c.Tasks.Update(ctx, "task_a", CTSTaskUpdateOptions{Enabled: Ptr(true)})
			return err
		}, 2},
		{"PATCH run=inspect retried on 500", "PATCH /v1/tasks/task_a", status(500), func(c *CTSClient) error {
			_, err := c.Tasks.Update(ctx, "task_a", CTSTaskUpdateOptions{Enabled: Ptr(true), Run: CTSRunInspect})
			return err
		}, 2},
		{"PATCH run=now not retried on 500", "PATCH /v1/tasks/task_a", status(500), func(c *CTSClient) error {
			_, err := c.Tasks.Update(ctx, "task_a", CTSTaskUpdateOptions{Enabled: Ptr(true), Run: CTSRunNow})
			return err
		}, 1},
		{"PATCH run=now not retried after a dropped connection", "PATCH /v1/tasks/task_a", dropConnection, func(c *CTSClient) error {
			_, err := c.Tasks.Update(ctx, "task_a", CTSTaskUpdateOptions{Enabled: Ptr(true), Run: CTSRunNow})
			return err
		}, 1},
		{"POST not retried on 503", "POST /v1/tasks", status(503), func(c *CTSClient) error {
			_, err := c.Tasks.Create(ctx, minimalCTSTask(), "")
			return err
		}, 1},
		{"POST retried on 429", "POST /v1/tasks", status(429), func(c *CTSClient) error {
			_, err := c.Tasks.Create(ctx, minimalCTSTask(), CTSRunNow)
			return err
		}, 2},
		{"health not retried on 503", "GET /v1/health", status(503), func(c *CTSClient) error {
			return c.Health(ctx)
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newCTSTestAPI(t)
			var attempts atomic.Int64
			api.handle(tc.pattern, func(w http.ResponseWriter, r *http.Request) {
				if attempts.Add(1) == 1 {
					tc.failure(w)
					return
				}
				_, _ = io.WriteString(w, `{}`)
			})
			err := tc.call(api.client)
			if got := attempts.Load(); got != tc.want {
				t.Errorf("attempts = %d, want %d (err %v)", got, tc.want, err)
			}
			if (tc.want == 1) != (err != nil) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func minimalCTSTask() CTSTask {
	return CTSTask{Name: "task_a", Module: "path/to/module",
		Condition: CTSCondition{Schedule: &CTSScheduleCondition{Cron: "*/5 * * * *"}}}
}

func TestCTSValidationSendsNothing(t *testing.T) {
	c, err := NewCTSClient(WithCTSHTTPClient(&http.Client{Transport: failTransport{t}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	withTask := func(change func(*CTSTask)) CTSTask {
		task := minimalCTSTask()
		change(&task)
		return task
	}
	create := func(task CTSTask) error {
		_, err := c.Tasks.Create(ctx, task, "")
		return err
	}
	tests := map[string]error{
		"get: empty name":          second(c.Tasks.Read(ctx, "")),
		"get: slash in name":       second(c.Tasks.Read(ctx, "a/../b")),
		"get: space in name":       second(c.Tasks.Read(ctx, "task a")),
		"delete: empty name":       second(c.Tasks.Delete(ctx, "")),
		"delete: slash in name":    second(c.Tasks.Delete(ctx, "../status")),
		"status: empty name":       second(c.Tasks.ReadStatus(ctx, "", nil)),
		"statuses: unknown status": second(c.Tasks.ListStatuses(ctx, &CTSTaskStatusListOptions{Status: "broken"})),
		"update: empty name":       second(c.Tasks.Update(ctx, "", CTSTaskUpdateOptions{Enabled: Ptr(true)})),
		"update: no enabled":       second(c.Tasks.Update(ctx, "task_a", CTSTaskUpdateOptions{Run: CTSRunNow})),
		"update: unknown run mode": second(c.Tasks.Update(ctx, "task_a", CTSTaskUpdateOptions{Enabled: Ptr(true), Run: "later"})),
		"create: unknown run mode": second(c.Tasks.Create(ctx, minimalCTSTask(), "NOW")),
		"create: no name":          create(withTask(func(t *CTSTask) { t.Name = "" })),
		"create: slash in name":    create(withTask(func(t *CTSTask) { t.Name = "a/b" })),
		"create: no module":        create(withTask(func(t *CTSTask) { t.Module = "" })),
		"create: no condition":     create(withTask(func(t *CTSTask) { t.Condition = CTSCondition{} })),
		"create: two conditions": create(withTask(func(t *CTSTask) {
			t.Condition.ConsulKV = &CTSConsulKVCondition{Path: "k"}
		})),
		"create: services without names or regexp": create(withTask(func(t *CTSTask) {
			t.Condition = CTSCondition{Services: &CTSServicesCondition{Datacenter: "dc1"}}
		})),
		"create: catalog services without regexp": create(withTask(func(t *CTSTask) {
			t.Condition = CTSCondition{CatalogServices: &CTSCatalogServicesCondition{}}
		})),
		"create: consul kv without path": create(withTask(func(t *CTSTask) {
			t.Condition = CTSCondition{ConsulKV: &CTSConsulKVCondition{Recurse: true}}
		})),
		"create: schedule without cron": create(withTask(func(t *CTSTask) {
			t.Condition = CTSCondition{Schedule: &CTSScheduleCondition{}}
		})),
		"create: module input services without names": create(withTask(func(t *CTSTask) {
			t.ModuleInput = &CTSModuleInput{Services: &CTSServicesModuleInput{}}
		})),
		"create: module input consul kv without path": create(withTask(func(t *CTSTask) {
			t.ModuleInput = &CTSModuleInput{ConsulKV: &CTSConsulKVModuleInput{}}
		})),
		"create: negative buffer min": create(withTask(func(t *CTSTask) {
			t.BufferPeriod = &CTSBufferPeriod{Min: -time.Second}
		})),
		"create: negative buffer max": create(withTask(func(t *CTSTask) {
			t.BufferPeriod = &CTSBufferPeriod{Max: -time.Second}
		})),
		"create: buffer min above max": create(withTask(func(t *CTSTask) {
			t.BufferPeriod = &CTSBufferPeriod{Min: time.Minute, Max: time.Second}
		})),
		//lint:ignore SA1012 a nil context is the point of the test
		"nil context": second(c.Tasks.List(nil)),
	}
	for name, err := range tests {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want an ErrInvalidArgument", name, err)
		}
	}
}

// second returns the error of a two-value call.
func second[T any](_ T, err error) error { return err }

// testPKI is a throwaway CA with a server certificate for the loopback addresses and a
// client certificate, written as PEM files to a test's temporary directory.
type testPKI struct {
	caPool         *x509.CertPool
	server         tls.Certificate
	caFile         string
	caDir          string
	clientCertFile string
	clientKeyFile  string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newTestKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tfc test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, tmpl *x509.Certificate) ([]byte, []byte) {
		key := newTestKey(t)
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = caTmpl.NotBefore, caTmpl.NotAfter
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	serverCert, serverKey := issue(2, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "cts server"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	clientCert, clientKey := issue(3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "cts operator"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	server, err := tls.X509KeyPair(serverCert, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	pki := &testPKI{
		caPool:         x509.NewCertPool(),
		server:         server,
		caFile:         filepath.Join(dir, "ca.pem"),
		caDir:          filepath.Join(dir, "ca.d"),
		clientCertFile: filepath.Join(dir, "client.pem"),
		clientKeyFile:  filepath.Join(dir, "client-key.pem"),
	}
	pki.caPool.AddCert(caCert)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.Mkdir(pki.caDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{
		pki.caFile:                         caPEM,
		filepath.Join(pki.caDir, "ca.pem"): caPEM,
		pki.clientCertFile:                 clientCert,
		pki.clientKeyFile:                  clientKey,
	} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return pki
}

func newTestKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// newTLSCTS starts an https CTS stand-in that answers /v1/health; with mutual, it
// demands a client certificate issued by the test CA.
func newTLSCTS(t *testing.T, pki *testPKI, mutual bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/health" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "{}")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}}
	if mutual {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		srv.TLS.ClientCAs = pki.caPool
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point of some tests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// setCTSEnv sets the CTS variables to env's values, and the others to "".
func setCTSEnv(t *testing.T, env map[string]string) {
	for _, k := range []string{"CTS_ADDRESS", "CTS_CACERT", "CTS_CAPATH", "CTS_CLIENT_CERT", "CTS_CLIENT_KEY", "CTS_SSL_VERIFY"} {
		t.Setenv(k, env[k])
	}
}

func TestCTSTLS(t *testing.T) {
	pki := newTestPKI(t)
	tlsSrv := newTLSCTS(t, pki, false)
	mtlsSrv := newTLSCTS(t, pki, true)
	clientCert := WithCTSClientCert(pki.clientCertFile, pki.clientKeyFile)

	tests := []struct {
		name string
		env  map[string]string
		opts []CTSOption
		ok   bool
	}{
		{"CA file", nil, []CTSOption{WithCTSAddress(tlsSrv.URL), WithCTSCACert(pki.caFile)}, true},
		{"CA directory", nil, []CTSOption{WithCTSAddress(tlsSrv.URL), WithCTSCAPath(pki.caDir)}, true},
		{"TLS config", nil, []CTSOption{WithCTSAddress(tlsSrv.URL), WithCTSTLSConfig(&tls.Config{RootCAs: pki.caPool})}, true},
		{"system roots do not know the CA", nil, []CTSOption{WithCTSAddress(tlsSrv.URL)}, false},
		{"verification off", nil, []CTSOption{WithCTSAddress(tlsSrv.URL), WithCTSInsecureSkipVerify(true)}, true},
		{"mutual TLS", nil, []CTSOption{WithCTSAddress(mtlsSrv.URL), WithCTSCACert(pki.caFile), clientCert}, true},
		{"mutual TLS without a client certificate", nil, []CTSOption{WithCTSAddress(mtlsSrv.URL), WithCTSCACert(pki.caFile)}, false},
		{"env: CA file and client certificate", map[string]string{
			"CTS_ADDRESS": mtlsSrv.URL, "CTS_CACERT": pki.caFile,
			"CTS_CLIENT_CERT": pki.clientCertFile, "CTS_CLIENT_KEY": pki.clientKeyFile,
		}, []CTSOption{CTSFromEnv()}, true},
		{"env: CA directory", map[string]string{"CTS_ADDRESS": tlsSrv.URL, "CTS_CAPATH": pki.caDir}, []CTSOption{CTSFromEnv()}, true},
		{"env: CTS_SSL_VERIFY=false", map[string]string{"CTS_ADDRESS": tlsSrv.URL, "CTS_SSL_VERIFY": "false"}, []CTSOption{CTSFromEnv()}, true},
		{"env: CTS_SSL_VERIFY=true", map[string]string{"CTS_ADDRESS": tlsSrv.URL, "CTS_SSL_VERIFY": "true"},
			[]CTSOption{WithCTSInsecureSkipVerify(true), CTSFromEnv()}, false},
		{"env: without a client certificate", map[string]string{"CTS_ADDRESS": mtlsSrv.URL, "CTS_CACERT": pki.caFile}, []CTSOption{CTSFromEnv()}, false},
		{"env: explicit option after env wins", map[string]string{"CTS_ADDRESS": "http://127.0.0.1:1"},
			[]CTSOption{CTSFromEnv(), WithCTSAddress(tlsSrv.URL), WithCTSCACert(pki.caFile)}, true},
		{"env: empty variables change nothing", map[string]string{"CTS_ADDRESS": "", "CTS_CACERT": ""},
			[]CTSOption{WithCTSAddress(tlsSrv.URL), WithCTSCACert(pki.caFile), CTSFromEnv()}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setCTSEnv(t, tc.env)
			c, err := NewCTSClient(append(tc.opts, WithCTSRetryPolicy(NoRetries()))...)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Health(context.Background())
			if tc.ok && err != nil {
				t.Errorf("Health: %v", err)
			}
			if !tc.ok && err == nil {
				t.Error("Health succeeded; want a TLS failure")
			}
		})
	}
}

func TestCTSTLSConfigErrors(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyDir := filepath.Join(dir, "empty")
	if err := os.Mkdir(emptyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	tests := map[string]struct {
		env  map[string]string
		opts []CTSOption
		is   error // what the error matches; nil for any error
	}{
		"missing CA file":                {opts: []CTSOption{WithCTSCACert(missing)}, is: fs.ErrNotExist},
		"CA file without PEM":            {opts: []CTSOption{WithCTSCACert(notPEM)}},
		"missing CA directory":           {opts: []CTSOption{WithCTSCAPath(missing)}, is: fs.ErrNotExist},
		"empty CA directory":             {opts: []CTSOption{WithCTSCAPath(emptyDir)}},
		"CA directory with a stray file": {opts: []CTSOption{WithCTSCAPath(dir)}},
		"client key missing":             {opts: []CTSOption{WithCTSClientCert(pki.clientCertFile, missing)}, is: fs.ErrNotExist},
		"client key mismatch":            {opts: []CTSOption{WithCTSClientCert(pki.clientCertFile, notPEM)}},
		"env: lone client cert": {env: map[string]string{"CTS_CLIENT_CERT": pki.clientCertFile}, opts: []CTSOption{CTSFromEnv()},
			is: ErrInvalidArgument},
		"env: lone client key": {env: map[string]string{"CTS_CLIENT_KEY": pki.clientKeyFile}, opts: []CTSOption{CTSFromEnv()},
			is: ErrInvalidArgument},
		"env: CTS_SSL_VERIFY not a boolean": {env: map[string]string{"CTS_SSL_VERIFY": "maybe"}, opts: []CTSOption{CTSFromEnv()},
			is: ErrInvalidArgument},
		"env: address without scheme": {env: map[string]string{"CTS_ADDRESS": "localhost:8558"}, opts: []CTSOption{CTSFromEnv()},
			is: ErrInvalidArgument},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			setCTSEnv(t, tc.env)
			_, err := NewCTSClient(tc.opts...)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("err = %v, want one matching %v", err, tc.is)
			}
		})
	}
}

func TestCTSTLSLeavesCallerTransportAlone(t *testing.T) {
	pki := newTestPKI(t)
	srv := newTLSCTS(t, pki, false)
	transport := &http.Transport{}
	hc := &http.Client{Transport: transport, Timeout: time.Minute}
	c, err := NewCTSClient(WithCTSAddress(srv.URL), WithCTSHTTPClient(hc), WithCTSCACert(pki.caFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Cloning a transport sets up its HTTP/2 defaults, which may create its
	// TLSClientConfig; what must not happen is the CA landing there.
	if (transport.TLSClientConfig != nil && transport.TLSClientConfig.RootCAs != nil) || hc.Transport != transport {
		t.Error("the caller's client or transport was modified")
	}
	t.Cleanup(transport.CloseIdleConnections)
}

func TestCTSLogger(t *testing.T) {
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	api := newCTSTestAPI(t, WithCTSLogger(logger), WithCTSUserAgent("cts-toggle/1.0"))
	var attempts atomic.Int64
	api.handle("GET /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("User-Agent"); got != "cts-toggle/1.0 tfc-go/"+Version {
			t.Errorf("User-Agent = %q", got)
		}
		if attempts.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		serveCTS(t, http.StatusOK, "cts_tasks_list_response.json")(w, r)
	})
	if _, err := api.client.Tasks.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tfc: http attempt", "path=/v1/tasks", "status=503", "tfc: retrying request", "status=200"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}
