package largeplans

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tfkit/tfc"
)

// check fails plans that delete resources, reading the plan as a stream: a plan of any
// size costs one resource change of memory at a time.
func check(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	if !d.HasPlan() {
		return tfc.Passed("No plan at this stage."), nil
	}
	body, err := d.PlanJSON(ctx)
	if err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	defer body.Close()
	deleted, err := deletions(body)
	if err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	if len(deleted) > 0 {
		return tfc.Failed(fmt.Sprintf("%d resources would be deleted.", len(deleted))), nil
	}
	return tfc.Passed("Nothing is deleted."), nil
}

// deletions returns the addresses a plan deletes, decoding resource_changes one at a
// time and skipping everything else token by token.
func deletions(plan io.Reader) ([]string, error) {
	dec := json.NewDecoder(plan)
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var deleted []string
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if key != "resource_changes" {
			if err := skip(dec); err != nil { // prior_state, planned_values, …
				return nil, err
			}
			continue
		}
		if _, err := dec.Token(); err != nil { // [
			return nil, err
		}
		for dec.More() {
			var rc tfjson.ResourceChange
			if err := dec.Decode(&rc); err != nil {
				return nil, err
			}
			if rc.Change != nil && (rc.Change.Actions.Delete() || rc.Change.Actions.Replace()) {
				deleted = append(deleted, rc.Address)
			}
		}
		if _, err := dec.Token(); err != nil { // ]
			return nil, err
		}
	}
	return deleted, nil
}

// skip reads past one value without holding it.
func skip(dec *json.Decoder) error {
	for depth := 0; ; {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
