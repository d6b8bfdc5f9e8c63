package main

import rego.v1

# Unit tests for conftest verify; loaded with the policies, as conftest does.
test_public_acl_denied if {
	deny_public_bucket["aws_s3_bucket_acl.x grants the public-read ACL"] with input as {"resource_changes": [{
		"address": "aws_s3_bucket_acl.x", "mode": "managed", "type": "aws_s3_bucket_acl",
		"change": {"actions": ["create"], "after": {"acl": "public-read"}},
	}]}
}
