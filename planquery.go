package tfc

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tfkit/tfc/internal/printguard"
)

// Action is what Terraform plans to do with one resource instance: the meaning of a
// resource change's "actions" list in the plan's JSON format.
type Action string

// Actions of a resource change. A list Terraform may add later is kept as its
// elements joined with "+" (for example "create+something"), so that it never reads
// as a known action.
const (
	ActionNoOp   Action = "no-op"  // ["no-op"]
	ActionCreate Action = "create" // ["create"]
	ActionRead   Action = "read"   // ["read"]: a data source read during apply
	ActionUpdate Action = "update" // ["update"]: changed in place
	ActionDelete Action = "delete" // ["delete"]
	// ActionReplace is ["delete","create"], ["create","delete"] (create_before_destroy)
	// or ["create","forget"] (the old object is left alone: destroy = false). Use
	// Change.Deletes to tell whether the old object is destroyed.
	ActionReplace Action = "replace"
	ActionForget  Action = "forget" // ["forget"]: removed from state, not destroyed
)

// actionOf reads a resource change's actions list.
func actionOf(actions tfjson.Actions) Action {
	switch len(actions) {
	case 0:
		return ""
	case 1:
		return Action(actions[0])
	case 2:
		switch {
		case actions.Replace(), actions[0] == tfjson.ActionCreate && actions[1] == tfjson.ActionForget:
			return ActionReplace
		}
	}
	parts := make([]string, len(actions))
	for i, a := range actions {
		parts[i] = string(a)
	}
	return Action(strings.Join(parts, "+"))
}

// Change is one resource change of a plan: the plan's record, as terraform-json
// decoded it (Address, Type, Name, Mode, ModuleAddress, Index, Change, …), and the
// Action it adds up to. It is a small value; copying it does not copy the record.
type Change struct {
	*tfjson.ResourceChange
	// Action is what Terraform will do, read from Change.Actions.
	Action Action
}

// Deletes reports whether the change destroys the existing object: a delete, or a
// replacement other than create-then-forget.
func (c Change) Deletes() bool {
	switch c.Action {
	case ActionDelete:
		return true
	case ActionReplace:
		return c.change().Actions.Replace()
	}
	return false
}

// Creates reports whether the change creates a new object: a create or a replacement.
func (c Change) Creates() bool { return c.Action == ActionCreate || c.Action == ActionReplace }

// IsData reports whether the change is to a data source (mode "data") rather than a
// managed resource.
func (c Change) IsData() bool {
	return c.ResourceChange != nil && c.Mode == tfjson.DataResourceMode
}

// CountIndex returns the instance's count index, for a resource that uses count.
func (c Change) CountIndex() (int, bool) {
	if c.ResourceChange == nil {
		return 0, false
	}
	n, ok := Value{raw: c.Index, exists: true}.AsInt()
	return int(n), ok
}

// EachKey returns the instance's for_each key, for a resource that uses for_each.
func (c Change) EachKey() (string, bool) {
	if c.ResourceChange == nil {
		return "", false
	}
	key, ok := c.Index.(string)
	return key, ok
}

// Before returns the attribute at path in the object before the change (empty for a
// create): each step is an attribute or map key (string) or a list, set or tuple
// index (int). Values marked in before_sensitive report Sensitive.
//
//	c.Before("tags", "owner")
func (c Change) Before(path ...any) Value {
	ch := c.change()
	return Value{raw: ch.Before, exists: ch.Before != nil, sensitive: ch.BeforeSensitive}.Get(path...)
}

// After returns the attribute at path in the object after the change (empty for a
// delete), with the same path steps as Before. Values Terraform knows only after
// apply (after_unknown) report Unknown; values marked in after_sensitive report
// Sensitive.
//
//	c.After("ingress", 0, "cidr_blocks", 0)
func (c Change) After(path ...any) Value {
	ch := c.change()
	return Value{raw: ch.After, exists: ch.After != nil || isTrue(ch.AfterUnknown), unknown: ch.AfterUnknown, sensitive: ch.AfterSensitive}.Get(path...)
}

// change is the record's change, or an empty one for a Change not made by Changes.
func (c Change) change() *tfjson.Change {
	if c.ResourceChange == nil || c.ResourceChange.Change == nil {
		return &tfjson.Change{}
	}
	return c.ResourceChange.Change
}

// String is the change's address and action, as in "aws_instance.web (replace)".
func (c Change) String() string {
	if c.ResourceChange == nil {
		return "tfc.Change{}"
	}
	return fmt.Sprintf("%s (%s)", c.Address, c.Action)
}

// Format prints String whatever the verb, so that no verb reaches the record's
// before and after values, which may be sensitive.
func (c Change) Format(f fmt.State, verb rune) { printguard.Format(f, verb, c) }

// LogValue logs the address, action and mode only: slog's JSON handler would
// otherwise marshal the whole record, sensitive values included.
func (c Change) LogValue() slog.Value {
	if c.ResourceChange == nil {
		return slog.GroupValue()
	}
	return slog.GroupValue(
		slog.String("address", c.Address),
		slog.String("action", string(c.Action)),
		slog.String("mode", string(c.Mode)),
	)
}

// ChangeSeq is a sequence of a plan's resource changes, in the plan's order: an
// iter.Seq[Change] to range over, whose methods narrow it or sum it up. Each method
// returns a new sequence and leaves s as it was; nothing is read until the sequence
// is ranged over, so a sequence can be ranged over any number of times.
//
//	for c := range tfc.Changes(plan).Type("aws_s3_bucket").Action(tfc.ActionCreate) {
//		…
//	}
type ChangeSeq func(yield func(Change) bool)

// Changes returns the resource changes of plan (resource_changes), skipping entries
// without a change. A nil plan has none.
func Changes(plan *tfjson.Plan) ChangeSeq {
	if plan == nil {
		return none
	}
	rcs := plan.ResourceChanges
	return func(yield func(Change) bool) {
		for _, rc := range rcs {
			if rc == nil || rc.Change == nil {
				continue
			}
			if !yield(Change{ResourceChange: rc, Action: actionOf(rc.Change.Actions)}) {
				return
			}
		}
	}
}

func none(func(Change) bool) {}

// Where returns the changes of s for which keep returns true. Methods of Change fit:
//
//	tfc.Changes(plan).Where(tfc.Change.Deletes)
func (s ChangeSeq) Where(keep func(Change) bool) ChangeSeq {
	if s == nil || keep == nil {
		return none
	}
	return func(yield func(Change) bool) {
		for c := range s {
			if keep(c) && !yield(c) {
				return
			}
		}
	}
}

// Type returns the changes of s to resources of any of types ("aws_s3_bucket").
func (s ChangeSeq) Type(types ...string) ChangeSeq {
	return s.Where(func(c Change) bool { return c.ResourceChange != nil && slices.Contains(types, c.Type) })
}

// Action returns the changes of s whose action is any of actions.
func (s ChangeSeq) Action(actions ...Action) ChangeSeq {
	return s.Where(func(c Change) bool { return slices.Contains(actions, c.Action) })
}

// Managed returns the changes of s to managed resources (mode "managed").
func (s ChangeSeq) Managed() ChangeSeq {
	return s.Where(func(c Change) bool { return c.ResourceChange != nil && c.Mode == tfjson.ManagedResourceMode })
}

// Data returns the changes of s to data sources (mode "data").
func (s ChangeSeq) Data() ChangeSeq { return s.Where(Change.IsData) }

// Module returns the changes of s to resources declared directly in any of the
// modules named: "" is the root module; "module.net" is every instance of that module
// call (module.net, module.net[0], module.net["eu"]); "module.net[0]" is one instance;
// nested calls are spelled out ("module.net.module.subnets"). Resources of modules
// nested deeper are not included.
func (s ChangeSeq) Module(modules ...string) ChangeSeq {
	return s.Where(func(c Change) bool {
		return c.ResourceChange != nil && slices.ContainsFunc(modules, func(m string) bool { return moduleMatches(m, c.ModuleAddress) })
	})
}

// Count returns how many changes s holds.
func (s ChangeSeq) Count() int {
	n := 0
	for range s.orNone() {
		n++
	}
	return n
}

// Collect returns the changes of s as a slice.
func (s ChangeSeq) Collect() []Change {
	var out []Change
	for c := range s.orNone() {
		out = append(out, c)
	}
	return out
}

// First returns the first change of s, and false when s is empty.
func (s ChangeSeq) First() (Change, bool) {
	for c := range s.orNone() {
		return c, true
	}
	return Change{}, false
}

// Addresses returns the addresses of the changes of s, in order.
func (s ChangeSeq) Addresses() []string {
	var out []string
	for c := range s.orNone() {
		if c.ResourceChange != nil {
			out = append(out, c.Address)
		}
	}
	return out
}

func (s ChangeSeq) orNone() ChangeSeq {
	if s == nil {
		return none
	}
	return s
}

// PlanSummary counts a plan's changes the way Terraform's plan output does in its
// last line, "Plan: 1 to import, 2 to add, 1 to change, 1 to destroy.": a
// replacement is one to add and one to destroy (create-then-forget only one to add),
// reads, no-ops and forgets are not counted, a deleted data source is not shown at
// all, and every change that imports an object is one to import.
type PlanSummary struct {
	Import, Add, Change, Destroy int
}

// Summary sums up the changes of s as Terraform does (see PlanSummary).
func (s ChangeSeq) Summary() PlanSummary {
	var sum PlanSummary
	for c := range s.orNone() {
		if c.Action == ActionDelete && c.Mode != tfjson.ManagedResourceMode {
			continue // Terraform does not show deleted data sources
		}
		if c.change().Importing != nil {
			sum.Import++
		}
		switch c.Action {
		case ActionCreate:
			sum.Add++
		case ActionUpdate:
			sum.Change++
		case ActionDelete:
			sum.Destroy++
		case ActionReplace:
			sum.Add++
			if c.Deletes() {
				sum.Destroy++
			}
		}
	}
	return sum
}

// String is Terraform's summary line: "Plan: 2 to add, 1 to change, 1 to destroy.",
// with "N to import, " after "Plan: " when anything is imported, and "No changes."
// when nothing is, as Terraform prints for a plan without resource changes.
func (s PlanSummary) String() string {
	if s == (PlanSummary{}) {
		return "No changes."
	}
	var b strings.Builder
	b.WriteString("Plan: ")
	if s.Import > 0 {
		fmt.Fprintf(&b, "%d to import, ", s.Import)
	}
	fmt.Fprintf(&b, "%d to add, %d to change, %d to destroy.", s.Add, s.Change, s.Destroy)
	return b.String()
}

// moduleMatches reports whether the module instance address addr is pattern, where
// steps of pattern without an instance key match any key.
func moduleMatches(pattern, addr string) bool {
	for {
		if pattern == "" || addr == "" {
			return pattern == addr
		}
		pName, pKey, pRest, ok := nextModuleStep(pattern)
		if !ok {
			return false
		}
		aName, aKey, aRest, ok := nextModuleStep(addr)
		if !ok || pName != aName || (pKey != "" && pKey != aKey) {
			return false
		}
		pattern, addr = pRest, aRest
	}
}

// nextModuleStep splits the first step off a module address: module.NAME, then an
// optional [KEY] (a number or a quoted string, which may hold any character), then
// "." and the rest.
func nextModuleStep(addr string) (name, key, rest string, ok bool) {
	addr, ok = strings.CutPrefix(addr, "module.")
	if !ok {
		return "", "", "", false
	}
	end := strings.IndexAny(addr, ".[")
	if end < 0 {
		return addr, "", "", addr != ""
	}
	name, addr = addr[:end], addr[end:]
	if addr[0] == '[' {
		i := 1
		if i < len(addr) && addr[i] == '"' {
			for i++; i < len(addr) && addr[i] != '"'; i++ {
				if addr[i] == '\\' {
					i++
				}
			}
			i++
		} else {
			for i < len(addr) && addr[i] != ']' {
				i++
			}
		}
		if i >= len(addr) || addr[i] != ']' {
			return "", "", "", false
		}
		key, addr = addr[:i+1], addr[i+1:]
	}
	if addr == "" {
		return name, key, "", name != ""
	}
	rest, ok = strings.CutPrefix(addr, ".")
	return name, key, rest, ok && name != "" && rest != ""
}
