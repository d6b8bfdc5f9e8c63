package main

import rego.v1

import data.lib.tags

warn_tags contains msg if {
	some r in tags.planned_resources
	tags.taggable(r)
	missing := tags.missing(r)
	count(missing) > 0
	msg := sprintf("%s is missing required tags: %s", [r.address, concat(", ", sort(missing))])
}
