package main

import rego.v1

# Not evaluated when only terraform.aws is asked for.
deny contains "main is evaluated" if true
