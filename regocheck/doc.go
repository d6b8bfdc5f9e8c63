// Package regocheck runs a team's Rego policies, written for conftest against
// `terraform show -json` output, as a run task check.
//
//	policies, err := regocheck.Load("policy") // every .rego file under ./policy
//	if err != nil {
//		log.Fatal(err) // a policy that does not compile: file, line and reason
//	}
//	receiver, err := tfc.NewReceiver(policies.Check, tfc.WithHMACKeys(key))
//
// The conventions are conftest's, so that policies work unchanged: the plan JSON is
// the input; rules named deny, violation or warn, or with those names and a suffix
// (deny_public_bucket, warn_tags), in package main (or the namespaces given with
// WithNamespaces) collect messages, as strings or as objects with a "msg" string;
// an exception rule (exception contains rules if …) turns off the rules it names.
// Each message becomes one outcome on the run page: deny and violation as errors,
// warn as warnings. The task result fails when there is any error and passes
// otherwise; its message counts the findings, names the first few and ends with
// the plan's summary line.
//
// Policies are parsed and compiled once, by Load; a policy that does not compile is
// an error there, naming its file and line, so a server with a broken policy does
// not start. Evaluation is prepared once per rule and is safe for any number of
// goroutines. The plan is decoded once per delivery (JSON to Go values, then to OPA's
// values, which every rule reads), within the receiver's plan cap and limit on plans
// decoded at once (tfc.WithMaxPlanBytes, tfc.WithMaxConcurrentPlans); a larger plan
// is not evaluated. Such a plan, or an evaluation error, fails the delivery: the
// receiver sends a generic message and logs the error, which names the cause (for a
// rule: the rule, the error code and the policy location), never the plan's values.
//
// As in conftest, an error in a built-in function (to_number("eighty"), a built-in
// given the wrong type) makes the expression undefined, so the rule reports nothing
// for it. WithStrictBuiltinErrors makes such an error fail the delivery instead.
//
// Where regocheck is stricter than conftest: a deny, violation or warn rule that
// can never collect messages is refused at load, since conftest would silently pass
// it: a boolean rule (`deny if { … }`), a single value written as a string, number,
// null or object (`warn = "always"`, `deny := {"msg": …}`), or a rule with a longer
// reference (`deny.x contains …`). A single value that is computed (`deny := msgs if
// { msgs := {m | …} }`, `deny := union(…)`) loads, as in conftest, but if it is not
// an array or a set when evaluated, the delivery fails with an *EvalError, where
// conftest would pass. Each namespace named (WithNamespaces, or "main" by default)
// must have a deny, violation or warn rule, or Load fails naming it and the packages
// found, where conftest would check nothing there; a namespace named twice is
// evaluated once. Also, print() calls are dropped, and the environment is not
// visible to policies (no opa.runtime().env).
package regocheck
