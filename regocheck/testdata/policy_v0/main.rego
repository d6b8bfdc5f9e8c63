package main

# Rego v0, as many teams' existing conftest policies are written.

deny[msg] {
	rc := input.resource_changes[_]
	rc.type == "aws_db_instance"
	rc.change.actions[_] == "delete"
	msg := sprintf("%s would be destroyed", [rc.address])
}

warn_replaced[msg] {
	rc := input.resource_changes[_]
	rc.change.actions == ["delete", "create"]
	msg := sprintf("%s is replaced", [rc.address])
}

violation[{"msg": msg, "type": r.type}] {
	r := input.planned_values.root_module.child_modules[_].resources[_]
	not r.values.tags.owner
	msg := sprintf("%s has no owner tag", [r.address])
}
