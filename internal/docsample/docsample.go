// Package docsample reads the official API samples that testdata/ keeps exactly as the
// documentation prints them. Some are not JSON as printed: "{...}" stands for an
// omitted relationship, a comma is missing, a trailing comma or a "//" comment was left
// in. Read undoes those printing quirks, and only those, so that tests can decode what
// the service really sends while the files stay byte for byte as published. Quirks
// that are valid JSON (a string "true" for a boolean, "hmac_key" for "hmac-key") are
// left for the decoders and their tests.
package docsample

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// repair replaces every occurrence of old with new.
type repair struct{ old, new string }

// repairs lists, per file of testdata/, the printing quirks Read undoes, in order.
// testdata/README.md names each one.
var repairs = map[string][]repair{
	// The object after "result-count" is not followed by a comma.
	"policy_evaluations_list_response.json": {
		{"}\n            \"status-timestamps\"", "},\n            \"status-timestamps\""},
	},
	// Relationships are printed as "{...}", and the list ends with a "{...}" item.
	"runs_list_response.json": {
		{"},\n    {...}\n  ]", "}\n  ]"},
		{"{...}", "{}"},
	},
	"run_show_response.json": {
		{"{...}", "{}"},
	},
	// As runs_list_response.json.
	"runs_org_list_response.json": {
		{"},\n    {...}\n  ]", "}\n  ]"},
		{"{...}", "{}"},
	},
	// Two "//" comments, and a comma after the last relationship.
	"workspace_show_response.json": {
		{"      // Listed for HCP Terraform users with access to the change request feature\n", ""},
		{"      //\n", ""},
		{" // Deprecated; same as current-run", ""},
		{"      },\n    }\n  }\n}", "      }\n    }\n  }\n}"},
	},
	// A comma after the last attribute.
	"runtasks_create_task_configs_request.json": {
		{"\"category\": \"task\",\n    },", "\"category\": \"task\"\n    },"},
	},
	"tasks_create_response.json": {
		{"\"hmac-key\": null,\n    },", "\"hmac-key\": null\n    },"},
	},
	"tasks_list_response.json": {
		{"\"hmac-key\": null,\n      },", "\"hmac-key\": null\n      },"},
	},
	"tasks_show_response.json": {
		{"\"hmac-key\": null,\n      },", "\"hmac-key\": null\n      },"},
	},
}

// Read returns the sample name from dir (a testdata directory) with its printing quirks
// undone. It fails when a listed quirk is no longer in the file, so that the file
// cannot drift from the printed sample unnoticed.
func Read(dir, name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	s := string(b)
	for _, r := range repairs[name] {
		if !strings.Contains(s, r.old) {
			return nil, fmt.Errorf("docsample: %s no longer holds the printed quirk %q", name, r.old)
		}
		s = strings.ReplaceAll(s, r.old, r.new)
	}
	return []byte(s), nil
}

// Quirky reports whether the printed sample name needs repairs to be JSON.
func Quirky(name string) bool { return len(repairs[name]) > 0 }
