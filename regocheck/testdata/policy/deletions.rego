package main

import rego.v1

protected_types := {"aws_db_instance", "aws_rds_cluster", "aws_dynamodb_table"}

deny contains msg if {
	some rc in input.resource_changes
	rc.mode == "managed"
	rc.type in protected_types
	destroys(rc)
	msg := sprintf("%s would be destroyed, and %s is a protected type", [rc.address, rc.type])
}
