// Package tfc is a client for the HCP Terraform and Terraform Enterprise APIs around
// run tasks and policy, for Scalr's policy checks, and for Consul-Terraform-Sync's task
// API, and a framework for writing run task integrations.
//
// # The client
//
// NewClient makes no network call and reads no environment unless asked (FromEnv):
//
//	client, err := tfc.NewClient(tfc.FromEnv()) // TFE_TOKEN, TFE_ADDRESS
//
// Every call takes a context first and goes through one pipeline: arguments are checked
// before anything is sent (errors match ErrInvalidArgument), every path segment is
// escaped, bodies are JSON:API documents, and each attempt waits on a client-wide
// ceiling of 30 requests in any second (WithRateLimit). Transport errors, 429 and 5xx
// are retried for idempotent calls, honouring Retry-After and X-RateLimit-Reset
// (RetryPolicy). A non-2xx answer becomes an *APIError that matches ErrNotFound,
// ErrConflict and the other sentinels with errors.Is.
//
// # Lists
//
// List methods return one Page; All methods return an iter.Seq2 that fetches pages of
// 100 as the loop needs them:
//
//	for task, err := range client.RunTasks.All(ctx, "my-org", nil) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(task.ID, task.Name)
//	}
//
// # Run task integrations
//
// NewReceiver returns an http.Handler that verifies run task deliveries, answers them
// at once (queueing a burst rather than refusing it), runs a CheckFunc in the
// background with heartbeats and a deadline, and reports exactly one final result:
//
//	receiver, err := tfc.NewReceiver(check,
//		tfc.WithHMACKeys(key), tfc.WithAllowedHosts("app.terraform.io"))
//
// It is safe by default: it needs an allow-list of service hosts, https, and never
// connects to a private address of a host not on the list. Delivery.Plan reads the
// plan under a cap; Delivery.PlanJSON streams plans of any size. Sign, VerifySignature
// and TaskResultsService.Callback serve integrations that bring their own server.
//
// # Other APIs
//
// The same Client reads and overrides policy checks (WithScalr points it at Scalr) and
// configures OIDC for registry module tests. NewCTSClient (CTSFromEnv) talks to a
// Consul-Terraform-Sync daemon over plain JSON with the same retries and errors.
//
// # Secrets
//
// Tokens and keys are held as Secret, which prints and marshals as "[redacted]". Logs
// (WithLogger) and errors carry methods, paths and request IDs, never tokens, keys,
// Authorization headers or signed blob URLs, and redirects never carry the token to
// another host.
package tfc
