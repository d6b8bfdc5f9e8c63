package main

import rego.v1

# Helpers shared by the rules of this package, in a file of their own.

# managed_changes returns the changes to managed resources of type t.
managed_changes(t) := [rc |
	some rc in input.resource_changes
	rc.mode == "managed"
	rc.type == t
]

# creates_or_updates holds when the change leaves an object behind that it wrote.
creates_or_updates(rc) if {
	some action in rc.change.actions
	action in {"create", "update"}
}

# destroys holds when the change deletes the existing object (replacements included).
destroys(rc) if "delete" in rc.change.actions
