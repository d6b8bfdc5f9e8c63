package docsample

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testdata = "../../testdata"

// TestRepairsMakeJSON: every listed sample is not JSON as printed, and is once its
// quirks are undone.
func TestRepairsMakeJSON(t *testing.T) {
	for name := range repairs {
		printed, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			t.Fatal(err)
		}
		if json.Valid(printed) {
			t.Errorf("%s is JSON as printed; it needs no repairs", name)
		}
		b, err := Read(testdata, name)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Errorf("%s is still not JSON after its repairs", name)
		}
	}
}

func TestReadLeavesOtherSamplesAlone(t *testing.T) {
	name := "task_config_response.json"
	printed, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Read(testdata, name)
	if err != nil || string(b) != string(printed) || Quirky(name) {
		t.Errorf("%s changed: %v", name, err)
	}
}

func TestReadFailsWhenAQuirkIsGone(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "run_show_response.json"), []byte(`{"data":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir, "run_show_response.json"); err == nil || !strings.Contains(err.Error(), "no longer holds") {
		t.Errorf("error %v", err)
	}
	if _, err := Read(dir, "missing.json"); err == nil {
		t.Error("a missing file read")
	}
}
