// Package tfctest is an in-memory HCP Terraform for tests, shaped like
// net/http/httptest: NewServer starts a fake service on loopback that speaks the
// documented wire format (JSON:API under /api/v2/) and plays the run task protocol for
// real, so code written with the tfc package, with go-tfe, or with plain net/http can be
// tested without an account.
//
//	s := tfctest.NewServer()
//	defer s.Close()
//	client := s.Client()                      // a *tfc.Client for s.URL with s.Token
//	ws := s.AddWorkspace("my-org", "networking")
//
// What the fake serves:
//   - GET /api/v2/ping, with the X-RateLimit-Limit, TFP-API-Version and TFP-AppName
//     headers go-tfe's NewClient reads.
//   - Organizations (read, the module-test-token-ttl setting), their entitlement set, and
//     workspaces (by ID and by organization and name) to attach run tasks to.
//   - Organization run tasks and workspace run tasks, with the signed verification
//     request on create and on a change of URL or HMAC key, and task configurations
//     (global, or targeting the organization's project) that decide where they run.
//   - Runs started with StartRun: task stages and task results, signed deliveries to each
//     attached run task, the plan JSON and configuration behind a redirect to a second
//     (blob) host, callbacks, the progress deadline and task stage overrides; policy
//     evaluations and their policy set outcomes (WithPolicyEvaluation); runs read and
//     listed with the documented filters, applied (WithManualApply), discarded and
//     canceled, their status following.
//   - SamplePlanSafe and SamplePlanDeletes, plans to start runs with.
//   - Policy checks seeded with AddPolicyCheck (HCP Terraform, or Scalr's /api/iacp/v3/
//     with WithScalr), with overrides and output.
//   - Registry module test configuration, with the documented 422 answers.
//
// Every request needs "Authorization: Bearer " + s.Token (401 otherwise), except the
// ping and the run task endpoints that take a run's access token instead (callbacks and
// downloads). Lists take page[number] and page[size] (default 20, at most 100) and
// answer with meta.pagination and links. Unknown IDs get 404, and objects given to Deny
// the answers of a token without permission (403 or 404, as documented). WithRateLimit
// enforces the service's request ceiling and WithFaults injects 429s, 5xx answers and
// dropped connections, repeatably, for retry tests.
//
// NewCTSServer is the same for the Consul-Terraform-Sync daemon's /v1 API.
//
// The fake never logs; it holds tokens, HMAC keys and access tokens only to compare
// them.
package tfctest
