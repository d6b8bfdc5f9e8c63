package tfc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tfkit/tfc/internal/jsonscan"
)

// The fast decoders must give exactly what encoding/json gives through the same
// struct tags: same values, and an error exactly when encoding/json errs. Each case
// decodes a document both ways and compares the wire structs and the converted public
// values.

type decodeCase struct {
	name string
	// both decodes data with the fast path and with encoding/json and returns the
	// results (wire document and converted value) and errors.
	both func(data []byte) (fast, slow any, fastErr, slowErr error)
}

func oneCase[A, R, T any](name string, conv func(*resource[A, R], *includes) T) decodeCase {
	return decodeCase{name, func(data []byte) (any, any, error, error) {
		var fd, sd document[resource[A, R]]
		fe := decodeDocument(data, &fd, decodeResource[A, R])
		se := json.Unmarshal(data, &sd)
		return convertOne(&fd, conv, fe), convertOne(&sd, conv, se), fe, se
	}}
}

func listCase[A, R, T any](name string, conv func(*resource[A, R], *includes) T) decodeCase {
	return decodeCase{name, func(data []byte) (any, any, error, error) {
		var fd, sd document[[]resource[A, R]]
		fe := decodeDocument(data, &fd, decodeResourceList[A, R])
		se := json.Unmarshal(data, &sd)
		var fv, sv any
		if fe == nil {
			fv = []any{fd, pageFromDoc(&fd, conv)}
		}
		if se == nil {
			sv = []any{sd, pageFromDoc(&sd, conv)}
		}
		return fv, sv, fe, se
	}}
}

func convertOne[A, R, T any](doc *document[resource[A, R]], conv func(*resource[A, R], *includes) T, err error) any {
	if err != nil {
		return nil
	}
	var inc *includes
	if len(doc.Included) > 0 {
		inc = newIncludes(doc.Included)
	}
	return []any{*doc, conv(&doc.Data, inc)}
}

var decodeCases = []decodeCase{
	oneCase("run task", runTaskFromWire),
	listCase("run task list", runTaskFromWire),
	oneCase("workspace task", workspaceRunTaskFromWire),
	listCase("workspace task list", workspaceRunTaskFromWire),
	oneCase("task stage", taskStageFromWire),
	listCase("task stage list", taskStageFromWire),
	oneCase("task result", taskResultFromWire),
	listCase("policy evaluation list", policyEvaluationFromWire),
	oneCase("policy check", policyCheckFromWire),
	listCase("policy check list", policyCheckFromWire),
}

func checkSame(t *testing.T, c decodeCase, data []byte) {
	t.Helper()
	fast, slow, fe, se := c.both(data)
	if (fe == nil) != (se == nil) {
		t.Fatalf("%s: fast error %v, encoding/json error %v\ninput: %q", c.name, fe, se, data)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s: results differ\nfast: %#v\nslow: %#v\ninput: %q", c.name, fast, slow, data)
	}
}

// TestDecodeMatchesEncodingJSON runs every fixture through every decoder: each
// fixture is the right document for some and the wrong one for others, and both
// decoders must agree either way.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(files) < 40 {
		t.Fatalf("only %d fixtures", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range decodeCases {
			checkSame(t, c, data)
		}
	}
	for _, data := range edgeDocuments() {
		if hasCaseVariantKey([]byte(data)) {
			continue // see FuzzDecode
		}
		for _, c := range decodeCases {
			checkSame(t, c, []byte(data))
		}
	}
}

// edgeDocuments are hand-made inputs that exercise the corners of encoding/json's
// behaviour the fast path mirrors.
func edgeDocuments() []string {
	return []string{
		`null`, `{}`, `[]`, `"x"`, `{"data":null}`, `{"data":[]}`, `{"data":{}}`, `{"data":[null,{}]}`,
		`{"data":{"id":"task-1","type":"tasks","attributes":null,"relationships":null,"links":null}}`,
		`{"data":{"id":"a","id":"b","attributes":{"name":"x","name":null,"enabled":true,"enabled":null}}}`,
		`{"data":{"attributes":{"global-configuration":{"enabled":true},"global-configuration":{"stages":["pre-plan","post_plan"]}}}}`,
		`{"data":{"attributes":{"global-configuration":{"enabled":null,"stages":null}}}}`,
		`{"data":{"attributes":{"global-configuration":null}}}`,
		`{"data":{"attributes":{"name":"\u00e9\ud83d\ude00\n\t\"\\\/","description":"bad \ud800 surrogate"}}}`,
		"{\"data\":{\"attributes\":{\"name\":\"invalid \xff utf8\"}}}",
		"{\"data\":{\"attributes\":{\"name\":\"control \x01 char\"}}}",
		`{"data":{"attributes":{"created-at":"2026-11-01T10:00:00Z","updated-at":null}}}`,
		`{"data":{"attributes":{"created-at":"yesterday"}}}`,
		`{"data":{"attributes":{"created-at":12}}}`,
		`{"data":{"attributes":{"enabled":"true"}}}`,
		`{"data":{"attributes":{"duration":1.5}}}`,
		`{"data":{"attributes":{"duration":-0,"task-result-outcomes-count":9223372036854775807}}}`,
		`{"data":{"attributes":{"task-result-outcomes-count":9223372036854775808}}}`,
		`{"data":{"attributes":{"duration":1e3}}}`,
		`{"data":{"attributes":{"status-timestamps":{"passed-at":"2022-06-08T20:32:12+08:00","x-at":"nope","y-at":null}}}}`,
		`{"data":{"attributes":{"status-timestamps":{"passed-at":5}}}}`,
		`{"data":{"attributes":{"status-timestamps":null}}}`,
		`{"data":{"attributes":{"status-timestamps":[]}}}`,
		`{"data":{"relationships":{"organization":{"data":null},"workspace-tasks":{"data":null},"agent-pool":null}}}`,
		`{"data":{"relationships":{"workspace-tasks":{"data":[{"id":"w1","type":"workspace-tasks"},null]}}}}`,
		`{"data":{"relationships":{"task-results":{"data":"x"}}}}`,
		`{"data":{"links":{"self":{"href":"/a","meta":{}},"output":null}}}`,
		`{"data":{"links":{"self":5}}}`,
		`{"data":{"attributes":{"result":{"sentinel":null,"policies":[{"name":"p","messages":null},null,{"messages":["a",null]}]}}}}`,
		`{"data":{"attributes":{"actions":{"is-overridable":null},"permissions":{"can-override":false}}}}`,
		`{"data":[],"meta":{"pagination":{"current-page":1,"next-page":null,"next-page":2}}}`,
		`{"data":[],"meta":{"pagination":null}}`,
		`{"data":[],"meta":null}`,
		`{"data":[],"meta":{"pagination":"x"}}`,
		`{"data":{"id":"ts-1","relationships":{"task-results":{"data":[{"id":"r1","type":"task-results"}]}}},"included":[{"id":"r1","type":"task-results","attributes":{"status":"passed","duration":"long"}}]}`,
		`{"data":{"id":"ts-1","relationships":{"task-results":{"data":[{"id":"r1","type":"task-results"}]}}},"included":[{"id":"r1","type":"task-results","attributes":null,"relationships":{"task-stage":{"data":{"id":"ts-1"}}}}]}`,
		`{"data":{},"included":null}`,
		`{"data":{},"included":[null]}`,
		`{"data":{}} trailing`,
		`{"data":{}}   `,
		"{\"data\":{}}\x00",
		"{\"data\":{\"id\":\x00}}",
		`{"data":{},}`,
		`{"data" {}}`,
		`{"data":[1,]}`,
		`{"data":{"attributes":{"name":"x"`,
		`{"data":{"attributes":{"stage":"pre-apply","stages":["post-apply",null]}}}`,
		`{"DATA":{"id":"x"}}`,
		`{"data":{"attributes":{"permissions":{"can-override":"x"}}}}`,
		`{"data":{"attributes":{"permissions":[true]}}}`,
		`{"data":{"attributes":{"permissions":null,"error-message":null}}}`,
		`{"data":{"attributes":{"permissions":{"a":{"b":[1]}},"permissions":null}}}`,
		`{"data":{"attributes":{"permissions":{"can-override":true},"permissions":{ }}}}`,
		`{"data":{"attributes":{"permissions":{"can-override":tru}}}}`,
		`{"data":{"attributes":{"error-message":"boom","error-message":5}}}`,
		strings.Repeat(`{"a":`, 11000) + `1` + strings.Repeat(`}`, 11000),
		// Odd attributes: read as zero, or as the boolean a boolean string names.
		`{"data":{"attributes":{"enabled":"false","global-configuration":{"enabled":"true","stages":["pre_plan",5,{"a":1},null],"enforcement-level":7}}}}`,
		`{"data":{"attributes":{"global-configuration":"x"}}}`,
		`{"data":{"attributes":{"global-configuration":[]}}}`,
		`{"data":{"attributes":{"global-configuration":{"enabled":{"x":"true"}}}}}`,
		`{"data":{"attributes":{"global-configuration":{"enabled":"yes","stages":"pre_plan"}}}}`,
		`{"data":{"attributes":{"global-configuration":{"enabled":true},"global-configuration":{"enabled":"x"}}}}`,
		`{"data":{"attributes":{"global-configuration":{"enabled":[1],"stages":{"a":"b"}}}}}`,
		`{"data":{"attributes":{"name":5,"url":true,"description":{"a":1},"category":[1],"created-at":"yesterday","updated-at":12}}}`,
		`{"data":{"attributes":{"created-at":"2026-11-01T10:00:00Z","created-at":"nope","updated-at":{"t":"2026-11-01T10:00:00Z"}}}}`,
		`{"data":{"attributes":{"duration":"5","task-result-outcomes-count":1.5,"is-speculative":"true","stage":7,"status":false}}}`,
		`{"data":{"attributes":{"duration":1e2,"task-result-outcomes-count":-9223372036854775809,"workspace-task-enforcement-level":null}}}`,
		`{"data":{"attributes":{"enabled":"tru\u0065"}}}`,
		`{"data":{"attributes":{"enabled":" true","name":"n"}}}`,
		`{"data":{"attributes":{"enabled":"TRUE"}}}`,
		`{"data":{"attributes":{"enabled":true,"enabled":"x","enabled":1}}}`,
		`{"data":{"attributes":{"permissions":{"can-override":"true","can-override-policy":1,"can-override-tasks":"false"},"actions":{"is-overridable":"false"}}}}`,
		`{"data":{"attributes":{"permissions":"x","actions":[true]}}}`,
		`{"data":{"attributes":{"permissions":{"can-override":{}},"actions":{"is-overridable":{"a":1}}}}}`,
		`{"data":{"attributes":{"permissions":{"can-override":"x"},"actions":{"is-overridable":"x"}}}}`,
		`{"data":{"attributes":{"actions":{"is-overridable":true},"actions":{"is-overridable":"x"}}}}`,
		`{"data":{"attributes":{"result":{"result":"true","passed":"1","total-failed":2.5,"policies":[{"name":5,"result":true,"messages":[1,"a",null,{}]},"x",null],"sentinel":5}}}}`,
		`{"data":{"attributes":{"result":{"policies":"x","duration-ms":"7"}}}}`,
		`{"data":{"attributes":{"result":[]}}}`,
		`{"data":{"attributes":{"result":{"policies":[{"messages":"m"}]}}}}`,
		`{"data":{"attributes":{"status-timestamps":{"passed-at":5,"queued-at":"2022-06-08T20:32:12Z","x-at":{},"y-at":true}}}}`,
		`{"data":{"attributes":{"status-timestamps":"x"}}}`,
		`{"data":{"attributes":{"status-timestamps":{"queued-at":"2022-06-08T20:32:12Z"},"status-timestamps":5}}}`,
		`{"data":{"attributes":{"result-count":{"passed":"1","errored":1e2,"mandatory-failed":3},"policy-kind":["opa"]}}}`,
		`{"data":{"attributes":{"result-count":"x","policy-tool-version":5}}}`,
		`{"data":[{"id":"a","attributes":{"enabled":"true"}},{"id":"b","attributes":{"name":5}},{"id":"c","attributes":{"enabled":"maybe","stages":[1]}}]}`,
		`{"data":{"id":"ts-1","relationships":{"task-results":{"data":[{"id":"r1","type":"task-results"}]}}},"included":[{"id":"r1","type":"task-results","attributes":{"status":5,"is-speculative":"true","created-at":"x"}}]}`,
		// Not attributes: still strict.
		`{"data":{"attributes":"x"}}`,
		`{"data":{"attributes":[]}}`,
		`{"data":{"attributes":5}}`,
		`{"data":{"id":5,"attributes":{"name":"x"}}}`,
		`{"data":{"type":["tasks"]}}`,
		`{"data":{"relationships":{"organization":{"data":{"id":5}}}}}`,
		`{"data":{"relationships":"x"}}`,
		`{"data":[{"id":"a"},"x"]}`,
		`{"data":[],"meta":{"pagination":{"current-page":"1"}}}`,
		`{"data":{"attributes":{"enabled":"true"},"links":{"self":5}}}`,
	}
}

// FuzzDecode holds the fast decoders to encoding/json on arbitrary input, seeded with
// every fixture and edge case.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err == nil {
			f.Add(data)
		}
	}
	for _, e := range edgeDocuments() {
		if len(e) < 1000 {
			f.Add([]byte(e))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if hasCaseVariantKey(data) {
			// encoding/json matches keys case-insensitively; the service never varies
			// the case of its keys, and the fast path matches them exactly.
			return
		}
		for _, c := range decodeCases {
			checkSame(t, c, data)
		}
	})
}

// knownKeys are the object keys the fast decoders match.
var knownKeys = strings.Fields(`data included meta pagination type id attributes relationships links self output href
	current-page page-size prev-page next-page total-pages total-count name url description category enabled
	global-configuration stages enforcement-level created-at updated-at organization workspace-tasks tasks agent-pool
	stage task workspace status status-timestamps duration permissions can-override-policy can-override-tasks can-override
	actions is-overridable run task-results policy-evaluations policy-kind policy-tool-version result-count advisory-failed
	errored mandatory-failed passed message task-id task-name task-url is-speculative workspace-task-id
	workspace-task-enforcement-level agent-pool-id task-result-outcomes-count task-stage scope result total-failed
	hard-failed soft-failed duration-ms sentinel policies messages error-message task-configs`)

// hasCaseVariantKey reports whether data has an object key that equals a known key
// only when case is ignored. Keys are read unescaped, as both decoders read them.
func hasCaseVariantKey(data []byte) bool {
	var d jsonscan.Decoder
	d.Reset(data)
	found := false
	var walk func()
	walk = func() {
		switch d.Peek() {
		case '{':
			if d.Object() {
				for d.More() {
					k := string(d.Key())
					folded := jsonFolds.Replace(k)
					for _, known := range knownKeys {
						if k != known && strings.EqualFold(folded, known) {
							found = true
						}
					}
					walk()
				}
			}
		case '[':
			if d.Array() {
				for d.Next() {
					walk()
				}
			}
		default:
			d.Skip()
		}
	}
	walk()
	return found
}

// jsonFolds maps the Unicode folds encoding/json also applies to ASCII keys (the
// Kelvin sign for k, the long s for s).
var jsonFolds = strings.NewReplacer("\u212a", "k", "\u017f", "s")

// BenchmarkDecodeFastVsEncodingJSON compares the two paths on a 100-item page.
func BenchmarkDecodeFastVsEncodingJSON(b *testing.B) {
	body := runTaskPageJSON(100, 1, 100, nil)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var doc document[[]resource[runTaskAttrs, runTaskRels]]
			if err := decodeDocument(body, &doc, decodeResourceList[runTaskAttrs, runTaskRels]); err != nil {
				b.Fatal(err)
			}
			_ = pageFromDoc(&doc, runTaskFromWire)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var doc document[[]resource[runTaskAttrs, runTaskRels]]
			if err := json.Unmarshal(body, &doc); err != nil {
				b.Fatal(err)
			}
			_ = pageFromDoc(&doc, runTaskFromWire)
		}
	})
}
