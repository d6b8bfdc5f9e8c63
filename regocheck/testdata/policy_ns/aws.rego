package terraform.aws

import rego.v1

deny_db_deletion contains msg if {
	some rc in input.resource_changes
	rc.type == "aws_db_instance"
	"delete" in rc.change.actions
	msg := sprintf("%s: databases are never deleted by a run", [rc.address])
}
