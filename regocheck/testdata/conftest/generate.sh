#!/usr/bin/env bash
# Regenerates the expected results in this directory with conftest itself, so that the
# regocheck tests compare against what conftest reports for the same policies and plans.
# Needs conftest on PATH (go install github.com/open-policy-agent/conftest@latest) and
# python3; run from regocheck/testdata. conftest lists a rule's messages in no fixed
# order, so each list is sorted by message.
set -euo pipefail
cd "$(dirname "$0")/.."
run() { # name, then conftest test arguments
  local name=$1; shift
  conftest test --no-color --output json "$@" | python3 -c '
import json, sys
results = json.load(sys.stdin)
for r in results:
    for k in ("failures", "warnings", "exceptions"):
        r[k] = sorted(r.get(k) or [], key=lambda x: x["msg"])
json.dump(results, sys.stdout, indent=2, sort_keys=True)
print()' >"conftest/$name.json" || true
}
run policy_violations --policy policy plans/violations.json
run policy_clean --policy policy plans/clean.json
run policy_plan_deletes --policy policy ../../testdata/plan_deletes.json
run policy_plan_queries --policy policy ../../testdata/plan_queries.json
run policy_v0_violations --rego-version v0 --policy policy_v0 plans/violations.json
run policy_ns_violations --namespace terraform.aws --policy policy_ns plans/violations.json
run policy_exceptions_violations --policy policy_exceptions plans/violations.json
run readme_violations --policy readme plans/violations.json
