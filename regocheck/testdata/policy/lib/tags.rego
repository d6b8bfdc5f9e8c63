package lib.tags

import rego.v1

# The tags every taggable resource must carry.
required := {"owner"}

taggable_types := {"aws_s3_bucket", "aws_instance", "aws_db_instance", "aws_security_group"}

# planned_resources are the resources of planned_values, in the root module and in
# child modules at any depth.
planned_resources contains r if {
	walk(input.planned_values.root_module, [_, node])
	some r in node.resources
}

missing(r) := required - {k | some k, _ in r.values.tags}

taggable(r) if {
	r.mode == "managed"
	r.type in taggable_types
}
