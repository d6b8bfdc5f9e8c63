package main

import rego.v1

protected := {"aws_db_instance", "aws_s3_bucket"}

# Fail the run: a protected resource would be destroyed (replacements too).
deny contains msg if {
	some rc in input.resource_changes
	rc.type in protected
	"delete" in rc.change.actions
	msg := sprintf("%s would be destroyed", [rc.address])
}

# Fail the run: an instance type outside the list, with details for the run page.
violation contains {"msg": msg, "allowed": allowed} if {
	allowed := ["t3.micro", "t3.small"]
	some rc in input.resource_changes
	rc.type == "aws_instance"
	type := rc.change.after.instance_type
	not type in allowed
	msg := sprintf("%s uses %s", [rc.address, type])
}

# Advise: instances and buckets of any module without an owner tag.
warn contains msg if {
	walk(input.planned_values.root_module, [_, module])
	some r in module.resources
	r.type in {"aws_instance", "aws_s3_bucket"}
	not r.values.tags.owner
	msg := sprintf("%s has no owner tag", [r.address])
}
