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
// Client.Do sends a request to an endpoint tfc does not wrap through the same pipeline.
//
// # Decoding
//
// Responses decode into typed values. Attributes are read leniently, because the
// service's documents do not always match their own documentation (the official run
// task samples print "enabled": "true"): a boolean may be the string "true" or
// "false", and any other attribute value that does not fit its field (a wrong JSON
// type, a fraction for an integer, a string that is not a time) is read as the field's
// zero value, so one odd attribute never fails a document or a page. Malformed JSON and
// a document, resource, relationship or meta of the wrong shape are still errors.
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
// # Judging the plan
//
// Changes(plan) ranges over a plan's resource changes and narrows them by type,
// module, action and mode; Change.Before and Change.After read attributes by path,
// telling values known only after apply and sensitive values apart; Summary counts
// as Terraform's "Plan: 1 to add, …" line. Report turns a check's findings into a
// task result within the service's limits:
//
//	for c := range tfc.Changes(plan).Type("aws_db_instance").Where(tfc.Change.Deletes) {
//		findings = append(findings, tfc.Finding{ID: c.Address, Message: c.Address + " would be destroyed"})
//	}
//	return tfc.Report{Findings: findings}.Result(), nil
//
// # Other APIs
//
// The same Client lists policy evaluations and their policy set outcomes (each
// policy's result), reads and overrides policy checks (WithScalr points it at Scalr),
// manages task configurations, reads workspaces and runs and applies, discards or
// cancels runs, and configures OIDC for registry module tests. NewCTSClient (CTSFromEnv) talks to a
// Consul-Terraform-Sync daemon over plain JSON with the same retries and errors.
//
// # Secrets
//
// Tokens and keys are held as Secret, which prints and marshals as "[redacted]". Logs
// (WithLogger) and errors carry methods, paths and request IDs, never tokens, keys,
// Authorization headers or signed blob URLs, and redirects never carry the token to
// another host.
package tfc
