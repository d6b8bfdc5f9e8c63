// Package interop checks that go-tfe, HashiCorp's Go client for HCP Terraform, works
// against tfctest: every call its tests make succeeds with the values the fake holds.
// It is a separate module so that the tfc module never requires go-tfe; run it with
//
//	cd interop && go test -race ./...
package interop
