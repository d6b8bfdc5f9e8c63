package tfc

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
	"time"

	"github.com/tfkit/tfc/internal/syncbuf"
)

// assertNoSecrets fails if text holds any of the secrets.
func assertNoSecrets(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s leaks %q:\n%s", where, s, text)
		}
	}
}

// TestNoSecretsInLogsOrErrors runs the client's flows with a debug logger and checks
// that neither the logs nor the errors carry the token, the Authorization header or a
// signed blob URL.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	const signedPath = "/v1/object/dmF1bHQ6djE6c2lnbmVkLXNlY3JldA"
	blob := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "<Error><Code>AccessDenied</Code><Key>%s</Key></Error>", r.URL.Path)
	}))
	defer blob.Close()

	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	api := newTestAPI(t, WithLogger(logger))
	var attempts atomic.Int64
	api.handle("GET /api/v2/tasks/task-ok", flaky(t, &attempts, "runtasks_show_response.json", status(429, "X-RateLimit-Reset", "0.001"), status(503)))
	api.handle("GET /api/v2/tasks/task-missing", serveFixture(t, http.StatusNotFound, "error_404.json"))
	api.handle("GET /api/v2/tasks/task-blob", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, blob.URL+signedPath+"?sig=abc", http.StatusTemporaryRedirect)
	})
	api.handle("GET /api/v2/tasks/task-drop", func(w http.ResponseWriter, r *http.Request) { dropConnection(w) })

	ctx := context.Background()
	var errs []string
	for _, id := range []string{"task-ok", "task-missing", "task-blob", "task-drop"} {
		if _, err := api.client.RunTasks.Read(ctx, id, nil); err != nil {
			errs = append(errs, fmt.Sprintf("%v | %+v | %#v", err, err, err))
		}
	}
	if len(errs) != 3 {
		t.Fatalf("want 3 failing calls, got errors %q", errs)
	}
	secrets := []string{testToken, "Bearer", signedPath, "sig=abc", "dmF1bHQ6"}
	assertNoSecrets(t, "errors", strings.Join(errs, "\n"), secrets...)
	assertNoSecrets(t, "debug logs", logs.String(), secrets...)
	if !strings.Contains(logs.String(), "tfc: http attempt") || !strings.Contains(logs.String(), "tfc: retrying request") {
		t.Errorf("logs lack the attempt and retry records:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "/[redacted]") {
		t.Errorf("the blob attempt is not logged in redacted form:\n%s", logs.String())
	}
}

func TestSecretPrinting(t *testing.T) {
	s := Secret("hmac-key-value")
	opts := RunTaskCreateOptions{Name: "n", URL: "https://x", HMACKey: s}
	update := RunTaskUpdateOptions{HMACKey: Set(s)}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", s, "opts", opts, "update", update)
	out := fmt.Sprintf("%v %+v %#v %s %q %x", s, opts, opts, s, s, s) +
		fmt.Sprintf("%v %+v %#v", update, update, update) + logs.String()
	assertNoSecrets(t, "formatting", out, "hmac-key-value")
	if string(s) != "hmac-key-value" {
		t.Error("the value itself is lost")
	}
	if Secret("").String() != "" {
		t.Error("an empty secret should print empty")
	}
}

// secretMarker is planted in every value that holds a secret; no printed form of any
// exported type may contain it.
const secretMarker = "SECRET-MARKER-9c41e7"

// revealsSecret reports whether printed output holds secretMarker as text, in hex
// (%x, %X) or as the decimal bytes %d prints for a byte slice.
func revealsSecret(out string) bool {
	decimal := fmt.Sprintf("%d", []byte(secretMarker))
	return strings.Contains(out, secretMarker) ||
		strings.Contains(strings.ToLower(out), fmt.Sprintf("%x", secretMarker)) ||
		strings.Contains(out, strings.Trim(decimal, "[]"))
}

// secretFieldName matches the names of fields that hold secrets. A field so named must
// have a type that prints redacted (Secret, wireSecret, Nullable[Secret]).
var secretFieldName = regexp.MustCompile(`(?i)token|secret|password|passwd|hmac|credential|private_?key|api_?key`)

// isSecretName reports whether a field's name says it holds a secret. The ID of a
// credential (an OAuth token's "ot-…") names it and is not secret.
func isSecretName(field string) bool {
	return secretFieldName.MatchString(field) && !strings.HasSuffix(field, "ID") && !strings.HasSuffix(field, "IDs")
}

// secretSamples returns a populated value of every exported type of the package that
// holds data, or a pointer to one. Types whose state is unexported are built through
// their constructors with secret values; plain data types are filled field by field
// (see fillValue).
func secretSamples(t *testing.T) map[string]any {
	t.Helper()
	client, err := NewClient(WithToken(secretMarker), WithHeader("X-Extra-Key", secretMarker))
	if err != nil {
		t.Fatal(err)
	}
	cts, err := NewCTSClient(WithCTSUserAgent("probe"))
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := NewSignatureVerifier(Secret(secretMarker))
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := NewReceiver(func(context.Context, *Delivery) (TaskResultUpdate, error) { return Passed(""), nil },
		WithHMACKeys(Secret(secretMarker)), WithCallbackClient(client), WithAllowedHosts("app.terraform.io"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = receiver.Shutdown(context.Background()) })
	delivery := &Delivery{Request: filled[RunTaskRequest](), receiver: receiver}
	body := fmt.Sprintf(`{"access_token":%q}`, secretMarker)

	// A plan value marked sensitive, as terraform-json decodes it.
	change := Change{Action: ActionCreate, ResourceChange: &tfjson.ResourceChange{
		Address: "aws_db_instance.db", Type: "aws_db_instance", Mode: tfjson.ManagedResourceMode,
		Change: &tfjson.Change{Actions: tfjson.Actions{tfjson.ActionCreate},
			After: map[string]any{"password": secretMarker}, AfterSensitive: map[string]any{"password": true}},
	}}

	samples := map[string]any{
		"Change":                    change,
		"Value":                     change.After("password"),
		"Client":                    client,
		"CTSClient":                 cts,
		"CTSTasksService":           cts.Tasks,
		"SignatureVerifier":         verifier,
		"Receiver":                  receiver,
		"Delivery":                  delivery,
		"Job":                       Job{Body: []byte(body), Signature: Sign(Secret(secretMarker), []byte(body)), TaskResultID: "taskrs-1"},
		"WindowLimiter":             NewWindowLimiter(3, time.Second),
		"RunTasksService":           client.RunTasks,
		"WorkspaceRunTasksService":  client.WorkspaceRunTasks,
		"TaskStagesService":         client.TaskStages,
		"TaskResultsService":        client.TaskResults,
		"OrganizationsService":      client.Organizations,
		"PolicyChecksService":       client.PolicyChecks,
		"TestConfigurationsService": client.TestConfigurations,
		"PolicyEvaluationsService":  client.PolicyEvaluations,
		"PolicySetOutcomesService":  client.PolicySetOutcomes,
		"TaskConfigsService":        client.TaskConfigs,
		"WorkspacesService":         client.Workspaces,
		"RunsService":               client.Runs,
		"CallbackTarget": CallbackTarget{URL: "https://app.terraform.io/api/v2/task-results/x/callback?code=" + secretMarker,
			AccessToken: Secret(secretMarker), Outcomes: true},
		"Secret":           Secret(secretMarker),
		"Nullable":         Set(Secret(secretMarker)),
		"Page":             Page[RunTaskRequest]{Items: []*RunTaskRequest{filled[RunTaskRequest]()}},
		"APIError":         APIError{StatusCode: 401, Method: "GET", Path: "/api/v2/x", Errors: []ErrorObject{{Detail: "unauthorized"}}},
		"StatusTimestamps": StatusTimestamps{"passed-at": time.Unix(0, 0)},
		"RawRequest": RawRequest{Method: "POST", Path: "teams/team-1/authentication-token",
			Query: url.Values{"token": {secretMarker}}, Body: map[string]string{"token": secretMarker}},
	}
	// Plain data: every exported field filled, secrets where the names say so.
	for _, v := range []any{
		AWSOIDCConfiguration{}, ArgumentError{}, AzureOIDCConfiguration{}, CTSBufferPeriod{},
		CTSCatalogServicesCondition{}, CTSClusterMember{}, CTSClusterStatus{}, CTSCondition{},
		CTSConsulKVCondition{}, CTSConsulKVModuleInput{}, CTSEvent{}, CTSEventConfig{}, CTSEventError{},
		CTSInspection{}, CTSModuleInput{}, CTSOverallStatus{}, CTSRunMode(""), CTSScheduleCondition{},
		CTSServicesCondition{}, CTSServicesModuleInput{}, CTSStatus(""), CTSTask{}, CTSTaskDeletion{},
		CTSTaskList{}, CTSTaskResult{}, CTSTaskStatus{}, CTSTaskStatusListOptions{}, CTSTaskStatusOptions{},
		CTSTaskUpdateOptions{}, CTSTaskUpdateResult{}, CTSTerraformCloudWorkspace{}, EnforcementLevel(""),
		EntitlementSet{}, ErrorObject{}, ErrorSource{}, GCPOIDCConfiguration{}, ListOptions{},
		NotLeaderError{}, OIDCProvider(""), Organization{}, Outcome{}, Pagination{}, PolicyCheck{},
		PolicyCheckInclude(""), PolicyCheckListOptions{}, PolicyCheckOutputOptions{}, PolicyCheckPolicy{},
		PolicyCheckReadOptions{}, PolicyCheckResult{}, PolicyCheckStatus(""), PolicyCheckWaitOptions{},
		PolicyEvaluation{}, PolicyResultCount{}, PolicyScope(""), RegistryModuleAddress{}, RetryPolicy{},
		RawResponse{}, RunTask{}, RunTaskCapabilities{}, RunTaskCreateOptions{}, RunTaskGlobalConfiguration{},
		RunTaskGlobalConfigurationOptions{}, RunTaskInclude(""), RunTaskListOptions{}, RunTaskReadOptions{},
		RunTaskRequest{}, RunTaskUpdateOptions{}, Stage(""), Tag{}, TagLevel(""), TaskResult{},
		TaskResultStatus(""), TaskResultUpdate{}, TaskStage{}, TaskStageInclude(""), TaskStageListOptions{},
		TaskStageOverrideOptions{}, TaskStagePermissions{}, TaskStageReadOptions{}, TaskStageStatus(""),
		TestConfiguration{}, VaultOIDCConfiguration{}, WorkspaceRunTask{}, WorkspaceRunTaskCreateOptions{},
		WorkspaceRunTaskListOptions{}, WorkspaceRunTaskUpdateOptions{},
		PolicyEvaluationStatus(""), PolicyKind(""), PolicyEvaluationListOptions{}, PolicySetOutcome{},
		PolicyOutcome{}, PolicyOutcomeStatus(""), PolicySetOutcomeListOptions{}, PolicySetOutcomeFilter{},
		RunStatus(""), RunOperation(""), RunSource(""), RunStatusGroup(""), Run{}, RunVariable{}, RunActions{},
		RunPermissions{}, CostEstimate{}, RunListOptions{}, RunActionOptions{}, RunInclude(""), RunReadOptions{}, RunOrganizationListOptions{}, WorkspaceInclude(""), WorkspaceReadOptions{}, TaskConfig{}, TaskConfigOptions{},
		TaskConfigCreateOptions{}, TaskConfigUpdateOptions{}, TaskConfigTargetType(""), TaskConfigListOptions{},
		Workspace{}, WorkspaceVCSRepo{}, WorkspacePermissions{}, WorkspaceSettingOverwrites{},
		Severity(""), Finding{}, Report{}, Action(""), PlanSummary{},
		ReceiverHooks{}, CheckRun{}, CheckResult(""), CallbackKind(""), CallbackAttempt{}, FinalReport{},
		FinalOutcome(""), ReceiverStats{},
	} {
		rv := reflect.New(reflect.TypeOf(v)).Elem()
		fillValue(rv, "", 0)
		samples[rv.Type().Name()] = rv.Interface()
	}
	return samples
}

// filled returns a *T with every exported field filled by fillValue.
func filled[T any]() *T {
	v := new(T)
	fillValue(reflect.ValueOf(v).Elem(), "", 0)
	return v
}

// fillValue sets every settable part of v: strings to a plain value, or to the secret
// marker when the field's name or type says it is a secret; numbers to 1, booleans to
// true; pointers, slices and maps to one filled element. Types of other packages are
// left alone, except an http.Header, which gets an Authorization header.
func fillValue(v reflect.Value, field string, depth int) {
	if depth > 5 || !v.CanSet() {
		return
	}
	switch v.Type() {
	case reflect.TypeFor[Secret]():
		v.SetString(secretMarker)
		return
	case reflect.TypeFor[Nullable[Secret]]():
		v.Set(reflect.ValueOf(Set(Secret(secretMarker))))
		return
	case reflect.TypeFor[Nullable[string]]():
		v.Set(reflect.ValueOf(Set("plain-" + field)))
		return
	case reflect.TypeFor[http.Header]():
		v.Set(reflect.ValueOf(http.Header{"Authorization": {"Bearer " + secretMarker}}))
		return
	}
	if pkg := v.Type().PkgPath(); pkg != "" && pkg != reflect.TypeFor[Client]().PkgPath() {
		return // time.Time, url.URL, json.RawMessage…: nothing of ours inside
	}
	switch v.Kind() {
	case reflect.String:
		if isSecretName(field) {
			v.SetString(secretMarker)
		} else {
			v.SetString("plain-" + field)
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillValue(p.Elem(), field, depth+1)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if secretFieldName.MatchString(field) {
				v.SetBytes([]byte(secretMarker))
			}
			return
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillValue(s.Index(0), field, depth+1)
		v.Set(s)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		m := reflect.MakeMap(v.Type())
		val := reflect.New(v.Type().Elem()).Elem()
		fillValue(val, field, depth+1)
		m.SetMapIndex(reflect.ValueOf("key").Convert(v.Type().Key()), val)
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				fillValue(v.Field(i), f.Name, depth+1)
			}
		}
	}
}

// packageTypes parses the package's non-test files and returns its exported type
// declarations that hold data (not func or interface types), and every struct field
// whose name looks like a secret, as "Type.field: type".
func packageTypes(t *testing.T) (dataTypes []string, secretFields map[string]string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	secretFields = map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			switch spec.Type.(type) {
			case *ast.FuncType, *ast.InterfaceType:
			default:
				if spec.Name.IsExported() {
					dataTypes = append(dataTypes, spec.Name.Name)
				}
			}
			ast.Inspect(spec.Type, func(n ast.Node) bool {
				field, ok := n.(*ast.Field)
				if !ok {
					return true
				}
				for _, id := range field.Names {
					if isSecretName(id.Name) {
						secretFields[spec.Name.Name+"."+id.Name] = types.ExprString(field.Type)
					}
				}
				return true
			})
			return false
		})
	}
	return dataTypes, secretFields
}

// TestSecretFieldsHoldSecrets is the static half: a field named like a secret (token,
// HMAC key, password…) anywhere in the package, exported or not, must not be a plain
// string or byte slice, which %v and %+v print as they are.
func TestSecretFieldsHoldSecrets(t *testing.T) {
	_, fields := packageTypes(t)
	if len(fields) == 0 {
		t.Fatal("found no secret fields: the parser or the pattern is broken")
	}
	for field, typ := range fields {
		switch {
		case strings.Contains(typ, "Secret"), strings.Contains(typ, "wireSecret"):
		case strings.Contains(typ, "string"), strings.Contains(typ, "[]byte"):
			t.Errorf("%s is %s: hold it as a Secret so that printing cannot reveal it", field, typ)
		}
	}
}

// printFormats are the ways a value is printed in the secrets tests: the verbs fmt
// routes to String and GoString, and verbs it does not (%d, %t, %e), which print a
// struct's fields and, for a bad verb, the raw value in "%!d(T=…)".
var printFormats = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%e", "%10.4v"}

// TestNoExportedTypePrintsASecret is the dynamic half: every exported type of the
// package, as a value and as a pointer, populated with secret values, is printed in
// each of printFormats, and no output may contain a secret, as text or in hex. A new exported type fails
// the test until it has a sample in secretSamples.
func TestNoExportedTypePrintsASecret(t *testing.T) {
	dataTypes, _ := packageTypes(t)
	samples := secretSamples(t)
	for _, name := range dataTypes {
		if _, ok := samples[name]; !ok {
			t.Errorf("exported type %s has no populated sample in secretSamples: add one (a constructor-built "+
				"value holding secrets, or %s{} in the list of plain data) so that its printed forms are checked", name, name)
		}
	}
	if len(samples) < 100 {
		t.Errorf("only %d samples", len(samples))
	}
	for name, v := range samples {
		ptr := reflect.ValueOf(v)
		if ptr.Kind() != reflect.Pointer {
			ptr = reflect.New(ptr.Type())
			ptr.Elem().Set(reflect.ValueOf(v))
		}
		// The value is printed through reflection, as fmt receives it from a caller that
		// dereferenced the pointer (a copy, locks included, which is fine here).
		for _, x := range []any{ptr.Elem().Interface(), ptr.Interface()} {
			for _, format := range printFormats {
				if out := fmt.Sprintf(format, x); revealsSecret(out) {
					t.Errorf("%s of a %T (%s) prints a secret: %s", format, x, name, out)
				}
			}
		}
	}
}
