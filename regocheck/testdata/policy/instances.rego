package main

import rego.v1

allowed_instance_types := {"t3.micro", "t3.small", "t3.medium"}

violation contains {"msg": msg, "resource": rc.address, "instance_type": t} if {
	some rc in managed_changes("aws_instance")
	creates_or_updates(rc)
	t := rc.change.after.instance_type
	not t in allowed_instance_types
	msg := sprintf("%s uses instance type %s, which is not allowed", [rc.address, t])
}
