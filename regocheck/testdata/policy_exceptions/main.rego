package main

import rego.v1

deny_public_bucket contains msg if {
	some rc in input.resource_changes
	rc.type == "aws_s3_bucket_acl"
	rc.change.after.acl == "public-read"
	msg := sprintf("%s is public", [rc.address])
}

deny_db_deletion contains msg if {
	some rc in input.resource_changes
	rc.type == "aws_db_instance"
	"delete" in rc.change.actions
	msg := sprintf("%s would be destroyed", [rc.address])
}

# The logs bucket is public on purpose: its rule is excepted.
exception contains rules if {
	some rc in input.resource_changes
	rc.address == "aws_s3_bucket_acl.logs"
	rules := ["public_bucket"]
}
