package tfc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tfkit/tfc"
)

// readPlan decodes a plan from testdata as the receiver's Delivery.Plan does.
func readPlan(t testing.TB, name string) *tfjson.Plan {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var plan tfjson.Plan
	if err := json.Unmarshal(b, &plan); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &plan
}

func TestChangesFilters(t *testing.T) {
	plan := readPlan(t, "plan_queries.json")
	all := tfc.Changes(plan)
	if n := all.Count(); n != 15 {
		t.Fatalf("%d changes, want 15", n)
	}
	tests := []struct {
		name string
		seq  tfc.ChangeSeq
		want []string
	}{
		{"type", all.Type("aws_s3_bucket"), []string{"aws_s3_bucket.logs", `module.app["eu"].aws_s3_bucket.assets`, `module.app["us.east"].aws_s3_bucket.assets`}},
		{"types", all.Type("aws_iam_role", "aws_iam_user"), []string{"aws_iam_role.legacy", "aws_iam_user.bot"}},
		{"replace", all.Action(tfc.ActionReplace), []string{"aws_instance.web[0]", "aws_instance.web[1]", "aws_iam_role.legacy"}},
		{"read", all.Action(tfc.ActionRead), []string{"data.aws_ami.ubuntu"}},
		{"no-op", all.Action(tfc.ActionNoOp), []string{`module.app["us.east"].aws_s3_bucket.assets`, "aws_route53_zone.main"}},
		{"forget", all.Action(tfc.ActionForget), []string{"aws_iam_user.bot"}},
		{"create or update", all.Action(tfc.ActionCreate, tfc.ActionUpdate).Module(""), []string{"aws_s3_bucket.logs", "aws_db_instance.main", "aws_vpc.main", "aws_secretsmanager_secret_version.api"}},
		{"deletes", all.Managed().Where(tfc.Change.Deletes), []string{"aws_instance.web[0]", "aws_instance.web[1]", `module.app["eu"].aws_s3_bucket.assets`, "module.net.aws_subnet.private[2]"}},
		{"data", all.Data(), []string{"data.aws_ami.ubuntu", "data.aws_caller_identity.old"}},
		{"every instance of a module call", all.Module("module.app"), []string{`module.app["eu"].aws_s3_bucket.assets`, `module.app["us.east"].aws_s3_bucket.assets`}},
		{"one instance", all.Module(`module.app["us.east"]`), []string{`module.app["us.east"].aws_s3_bucket.assets`}},
		{"nested", all.Module(`module.app["eu"].module.db`), []string{`module.app["eu"].module.db.aws_db_instance.replica["read-1"]`}},
		{"nested, any instance", all.Module("module.app.module.db", "module.net"), []string{`module.app["eu"].module.db.aws_db_instance.replica["read-1"]`, "module.net.aws_subnet.private[2]"}},
		{"no such module", all.Module("module.ap", "module.app.module"), nil},
		{"chained", all.Managed().Type("aws_db_instance").Action(tfc.ActionCreate), []string{`module.app["eu"].module.db.aws_db_instance.replica["read-1"]`}},
		{"nothing", all.Type("google_storage_bucket"), nil},
	}
	for _, tt := range tests {
		if got := tt.seq.Addresses(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		if n := tt.seq.Count(); n != len(tt.want) {
			t.Errorf("%s: Count %d, want %d", tt.name, n, len(tt.want))
		}
		// A sequence can be ranged over again, and stops when the loop does.
		var first []string
		for c := range tt.seq {
			first = append(first, c.Address)
			break
		}
		if len(tt.want) > 0 && (len(first) != 1 || first[0] != tt.want[0]) {
			t.Errorf("%s: first of a broken loop %q", tt.name, first)
		}
	}
}

func TestChangeFacts(t *testing.T) {
	plan := readPlan(t, "plan_queries.json")
	byAddr := map[string]tfc.Change{}
	for _, c := range tfc.Changes(plan).Collect() {
		byAddr[c.Address] = c
	}
	web0 := byAddr["aws_instance.web[0]"]
	if i, ok := web0.CountIndex(); !ok || i != 0 {
		t.Errorf("web[0] count index %d %v", i, ok)
	}
	if _, ok := web0.EachKey(); ok {
		t.Error("web[0] has a for_each key")
	}
	replica := byAddr[`module.app["eu"].module.db.aws_db_instance.replica["read-1"]`]
	if k, ok := replica.EachKey(); !ok || k != "read-1" {
		t.Errorf("replica key %q %v", k, ok)
	}
	if _, ok := replica.CountIndex(); ok {
		t.Error("replica has a count index")
	}
	if _, ok := byAddr["aws_vpc.main"].CountIndex(); ok {
		t.Error("vpc has a count index")
	}
	for addr, want := range map[string][2]bool{ // deletes, creates
		"aws_instance.web[0]":  {true, true},
		"aws_instance.web[1]":  {true, true},
		"aws_iam_role.legacy":  {false, true}, // create then forget: the old object stays
		"aws_iam_user.bot":     {false, false},
		"aws_db_instance.main": {false, false},
		"data.aws_ami.ubuntu":  {false, false},
		"aws_s3_bucket.logs":   {false, true},
	} {
		c := byAddr[addr]
		if c.Deletes() != want[0] || c.Creates() != want[1] {
			t.Errorf("%s: deletes %v creates %v, want %v", addr, c.Deletes(), c.Creates(), want)
		}
	}
	if !byAddr["data.aws_ami.ubuntu"].IsData() || byAddr["aws_s3_bucket.logs"].IsData() {
		t.Error("IsData")
	}
	if s := fmt.Sprint(web0); s != "aws_instance.web[0] (replace)" {
		t.Errorf("String %q", s)
	}
}

func TestChangeValues(t *testing.T) {
	plan := readPlan(t, "plan_queries.json")
	get := func(addr string) tfc.Change {
		c, ok := tfc.Changes(plan).Where(func(c tfc.Change) bool { return c.Address == addr }).First()
		if !ok {
			t.Fatalf("no change %s", addr)
		}
		return c
	}
	bucket := get("aws_s3_bucket.logs")
	if s, ok := bucket.After("acl").AsString(); !ok || s != "public-read" {
		t.Errorf("acl %q %v", s, ok)
	}
	if s, _ := bucket.After("tags", "kubernetes.io/role").AsString(); s != "logs" {
		t.Errorf("tag with a dot in its key: %q", s)
	}
	if b, ok := bucket.After("versioning", 0, "enabled").AsBool(); !ok || !b {
		t.Errorf("versioning.0.enabled %v %v", b, ok)
	}
	if v := bucket.After("versioning", 0, "mfa_delete"); !v.Null() || !v.Exists() || v.String() != "null" {
		t.Errorf("null attribute: %v", v)
	}
	if v := bucket.After("arn"); !v.Unknown() || !v.Exists() || v.Known() || v.Raw() != nil || v.String() != "(known after apply)" {
		t.Errorf("unknown arn: exists %v unknown %v %v", v.Exists(), v.Unknown(), v)
	}
	if v := bucket.After("arn", "deeper"); !v.Unknown() {
		t.Error("a part of an unknown value is known")
	}
	for _, v := range []tfc.Value{bucket.After("nope"), bucket.Before("acl"), bucket.After("versioning", 3), bucket.After("versioning", -1), bucket.After("acl", 0), bucket.After(1.5)} {
		if v.Exists() || v.Known() || v.Unknown() || v.Null() || v.String() != "(absent)" {
			t.Errorf("absent value reads %v", v)
		}
	}
	if n := bucket.After("tags").Len(); n != 2 {
		t.Errorf("tags Len %d", n)
	}

	db := get("aws_db_instance.main")
	pw := db.After("password")
	if !pw.Sensitive() || !pw.Known() {
		t.Errorf("password sensitive %v known %v", pw.Sensitive(), pw.Known())
	}
	if s, _ := pw.AsString(); s != "new-secret-pw" {
		t.Errorf("the accessor hides the sensitive value the check may need: %q", s)
	}
	if n, ok := db.Before("allocated_storage").AsInt(); !ok || n != 20 {
		t.Errorf("allocated_storage before %d %v", n, ok)
	}
	if f, ok := db.After("allocated_storage").AsNumber(); !ok || f != 100 {
		t.Errorf("allocated_storage after %v %v", f, ok)
	}
	if db.After("instance_class").Sensitive() || !db.Before("password").Sensitive() {
		t.Error("sensitive marks of before and after mixed up")
	}
	want := `{"allocated_storage": 100, "identifier": "main", "instance_class": "db.r6g.large", "password": (sensitive value)}`
	if s := db.After().String(); s != want {
		t.Errorf("whole object:\n%s\nwant\n%s", s, want)
	}

	web := get("aws_instance.web[0]")
	if v := web.After("ebs_block_device", 0); !v.Unknown() {
		t.Error("an unknown list element (null in after) reads as known")
	}
	if v := web.After("ebs_block_device", 1, "volume_id"); !v.Unknown() || !v.Exists() {
		t.Error("an unknown attribute left out of after reads as absent")
	}
	if n, _ := web.After("ebs_block_device", 1, "volume_size").AsInt(); n != 50 {
		t.Errorf("volume_size %d", n)
	}
	want = `{"ami": "ami-new", "ebs_block_device": [(known after apply), {"volume_id": (known after apply), "volume_size": 50}], "id": (known after apply), "instance_type": "t3.micro"}`
	if s := web.After().String(); s != want {
		t.Errorf("whole object:\n%s\nwant\n%s", s, want)
	}

	secret := get("aws_secretsmanager_secret_version.api")
	if !secret.After("secret_string").Sensitive() || !secret.After().Sensitive() {
		t.Error("after_sensitive true does not cover every attribute")
	}
	if v := secret.After("arn"); !v.Unknown() || !v.Sensitive() {
		t.Errorf("unknown arn of a sensitive object: unknown %v sensitive %v", v.Unknown(), v.Sensitive())
	}

	deleted := get("module.net.aws_subnet.private[2]")
	if deleted.After().Exists() || !deleted.Before("cidr_block").Known() {
		t.Error("a deleted object has an after value, or no before")
	}
}

// TestValueNeverPrintsSensitive: fmt (%v, %+v, %#v, %s), slog and String all redact,
// for a Value and for a whole Change.
func TestValueNeverPrintsSensitive(t *testing.T) {
	plan := readPlan(t, "plan_queries.json")
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	jsonLog := slog.New(slog.NewJSONHandler(&buf, nil))
	for c := range tfc.Changes(plan) {
		for _, v := range []tfc.Value{c.Before(), c.After(), c.Before("password"), c.After("password"), c.After("secret_string")} {
			fmt.Fprintf(&buf, "%v %+v %#v %s %q\n", v, v, v, v, v)
			log.Info("value", "v", v)
			jsonLog.Info("value", "v", v)
		}
	}
	for c := range tfc.Changes(plan) {
		fmt.Fprintf(&buf, "%v %+v %#v %s %d\n", c, c, c, c, c)
		log.Info("change", "c", c)
		jsonLog.Info("change", "c", c)
	}
	for _, secret := range []string{"old-secret-pw", "new-secret-pw", "replica-secret", "s3cr3t-token-value"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("%q printed", secret)
		}
	}
	if !strings.Contains(buf.String(), "(sensitive value)") {
		t.Error("no redaction marker printed")
	}
}

func TestSummaryCountsAsTerraform(t *testing.T) {
	for _, tt := range []struct {
		file string
		want tfc.PlanSummary
		line string
	}{
		{"plan_safe.json", tfc.PlanSummary{Add: 1, Change: 1}, "Plan: 1 to add, 1 to change, 0 to destroy."},
		{"plan_deletes.json", tfc.PlanSummary{Add: 3, Change: 1, Destroy: 3}, "Plan: 3 to add, 1 to change, 3 to destroy."},
		// create, two replacements, create-then-forget (add only), a nested create and a
		// create: 6 to add; two updates; the replacements, a module's delete and a
		// count index's delete: 4 to destroy. Not counted: forget, no-op, read and the
		// deleted data source. The imported no-op and the imported update: 2 to import.
		{"plan_queries.json", tfc.PlanSummary{Import: 2, Add: 6, Change: 2, Destroy: 4}, "Plan: 2 to import, 6 to add, 2 to change, 4 to destroy."},
	} {
		got := tfc.Changes(readPlan(t, tt.file)).Summary()
		if got != tt.want || got.String() != tt.line {
			t.Errorf("%s: %+v %q, want %+v %q", tt.file, got, got, tt.want, tt.line)
		}
	}
	if got := tfc.Changes(readPlan(t, "plan_queries.json")).Module("module.app").Summary(); got != (tfc.PlanSummary{Destroy: 1}) {
		t.Errorf("summary of a module: %+v", got)
	}
	if got := tfc.Changes(nil).Summary().String(); got != "No changes." {
		t.Errorf("summary of no changes: %q", got)
	}
}

// TestUnusualInput: nothing panics on a nil plan, a zero Change, empty or future
// action lists, or records without a change.
func TestUnusualInput(t *testing.T) {
	if n := tfc.Changes(nil).Count(); n != 0 {
		t.Errorf("nil plan: %d", n)
	}
	var zero tfc.ChangeSeq
	if zero.Count() != 0 || zero.Type("x").Count() != 0 || zero.Collect() != nil || zero.Summary() != (tfc.PlanSummary{}) {
		t.Error("a zero ChangeSeq is not empty")
	}
	if _, ok := zero.First(); ok {
		t.Error("a zero ChangeSeq has a first change")
	}
	if tfc.Changes(readPlan(t, "plan_safe.json")).Where(nil).Count() != 0 {
		t.Error("Where(nil) keeps changes")
	}
	var c tfc.Change
	if c.Deletes() || c.Creates() || c.IsData() || c.After("x").Exists() || c.Before().Exists() || c.String() != "tfc.Change{}" {
		t.Error("zero Change")
	}
	if _, ok := c.CountIndex(); ok {
		t.Error("zero Change has an index")
	}
	if _, ok := c.EachKey(); ok {
		t.Error("zero Change has a key")
	}
	// A ChangeSeq a caller builds may hold zero Changes: the filters skip them.
	zeros := tfc.ChangeSeq(func(yield func(tfc.Change) bool) { yield(tfc.Change{}) })
	if zeros.Type("a").Count()+zeros.Managed().Count()+zeros.Module("").Count() != 0 || zeros.Addresses() != nil {
		t.Error("a zero Change kept by a filter")
	}

	// A sensitive part of an unknown value is unknown and sensitive.
	var marked tfjson.Plan
	if err := json.Unmarshal([]byte(`{"format_version":"1.2","resource_changes":[{"address":"a.b","mode":"managed","type":"a","name":"b",
		"change":{"actions":["create"],"after":{},"after_unknown":{"config":true},"after_sensitive":{"config":{"password":true}}}}]}`), &marked); err != nil {
		t.Fatal(err)
	}
	mc, _ := tfc.Changes(&marked).First()
	if v := mc.After("config", "password"); !v.Unknown() || !v.Sensitive() {
		t.Errorf("config.password under an unknown config: unknown %v sensitive %v", v.Unknown(), v.Sensitive())
	}
	if v := mc.After("config", "port"); !v.Unknown() || v.Sensitive() {
		t.Errorf("config.port under an unknown config: unknown %v sensitive %v", v.Unknown(), v.Sensitive())
	}

	var plan tfjson.Plan
	err := json.Unmarshal([]byte(`{"format_version":"1.2","resource_changes":[
		null,
		{"address":"a.no_change","mode":"managed","type":"a","name":"no_change"},
		{"address":"a.empty","mode":"managed","type":"a","name":"empty","change":{"actions":[]}},
		{"address":"a.future","mode":"managed","type":"a","name":"future","change":{"actions":["delete","read"]}},
		{"address":"a.triple","mode":"managed","type":"a","name":"triple","change":{"actions":["create","update","delete"]}},
		{"address":"a.big","mode":"managed","type":"a","name":"big","index":1e300,"change":{"actions":["update"],"after":{"n":1.5,"m":1e300}}}]}`), &plan)
	if err != nil {
		t.Fatal(err)
	}
	var actions []tfc.Action
	for c := range tfc.Changes(&plan) {
		actions = append(actions, c.Action)
	}
	if want := []tfc.Action{"", "delete+read", "create+update+delete", tfc.ActionUpdate}; !slices.Equal(actions, want) {
		t.Errorf("actions %q, want %q", actions, want)
	}
	if got := tfc.Changes(&plan).Summary(); got != (tfc.PlanSummary{Change: 1}) {
		t.Errorf("unknown actions counted: %+v", got)
	}
	big, _ := tfc.Changes(&plan).Type("a").Action(tfc.ActionUpdate).First()
	if _, ok := big.CountIndex(); ok {
		t.Error("1e300 read as a count index")
	}
	if _, ok := big.After("n").AsInt(); ok {
		t.Error("1.5 read as an int")
	}
	if _, ok := big.After("m").AsInt(); ok {
		t.Error("1e300 read as an int64")
	}
}

// TestJSONNumbers: a plan decoded with UseJSONNumber reads the same.
func TestJSONNumbers(t *testing.T) {
	b, err := os.ReadFile("testdata/plan_queries.json")
	if err != nil {
		t.Fatal(err)
	}
	var plan tfjson.Plan
	plan.UseJSONNumber(true)
	if err := json.Unmarshal(b, &plan); err != nil {
		t.Fatal(err)
	}
	web1, _ := tfc.Changes(&plan).Where(func(c tfc.Change) bool { return c.Address == "aws_instance.web[1]" }).First()
	if i, ok := web1.CountIndex(); !ok || i != 1 {
		t.Errorf("count index %d %v", i, ok)
	}
	db, _ := tfc.Changes(&plan).Type("aws_db_instance").First()
	if n, ok := db.After("allocated_storage").AsInt(); !ok || n != 100 {
		t.Errorf("int %d %v", n, ok)
	}
	if f, ok := db.After("allocated_storage").AsNumber(); !ok || f != 100 {
		t.Errorf("number %v %v", f, ok)
	}
	if s := db.After("allocated_storage").String(); s != "100" {
		t.Errorf("String %q", s)
	}
}

// FuzzPlanValues: any attribute values and marks are read and printed without a
// panic, and a value marked sensitive is never printed.
func FuzzPlanValues(f *testing.F) {
	f.Add([]byte(`{"acl":"public-read","tags":{"owner":"a"},"ingress":[{"cidr_blocks":["0.0.0.0/0"]},null]}`),
		[]byte(`{"id":true,"ingress":[{},true]}`), []byte(`{"tags":{"owner":true}}`), "hunter2")
	f.Add([]byte(`[1,2,{"a":1e300}]`), []byte(`true`), []byte(`[false,{"a":true}]`), "s3cr3t")
	f.Fuzz(func(t *testing.T, after, unknown, sensitive []byte, secret string) {
		var rc tfjson.ResourceChange
		rc.Change = &tfjson.Change{Actions: tfjson.Actions{tfjson.ActionUpdate}}
		for _, part := range []struct {
			doc []byte
			to  *any
		}{{after, &rc.Change.After}, {unknown, &rc.Change.AfterUnknown}, {sensitive, &rc.Change.AfterSensitive}} {
			if json.Unmarshal(part.doc, part.to) != nil {
				return
			}
		}
		plan := &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{&rc}}
		c, _ := tfc.Changes(plan).First()
		for _, v := range []tfc.Value{c.After(), c.After("tags", "owner"), c.After("ingress", 0, "cidr_blocks", 0), c.After(1, "a")} {
			_, _ = v.AsString()
			_, _ = v.AsInt()
			_, _ = v.AsNumber()
			_ = v.Len()
			_ = v.String()
		}
		_ = tfc.Changes(plan).Summary()

		// With a sensitive attribute added, its value makes no difference to the print.
		obj, ok := rc.Change.After.(map[string]any)
		if !ok {
			return
		}
		marks, ok := rc.Change.AfterSensitive.(map[string]any)
		if !ok {
			marks = map[string]any{}
			rc.Change.AfterSensitive = marks
		}
		marks["password"] = true
		obj["password"] = secret
		withSecret := c.After().String()
		obj["password"] = "another value"
		if other := c.After().String(); withSecret != other {
			t.Fatalf("the sensitive value shows in the print:\n%s\n%s", withSecret, other)
		}
	})
}
