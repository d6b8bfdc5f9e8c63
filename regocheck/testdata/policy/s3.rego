package main

import rego.v1

public_acls := {"public-read", "public-read-write", "authenticated-read"}

deny_public_bucket contains msg if {
	some rc in managed_changes("aws_s3_bucket_acl")
	creates_or_updates(rc)
	rc.change.after.acl in public_acls
	msg := sprintf("%s grants the %s ACL", [rc.address, rc.change.after.acl])
}
