// Package natsqueue keeps accepted run task deliveries on NATS JetStream, so that a
// delivery the receiver answered 200 is finished even if the process dies, and so that
// checks can run on any number of workers behind any number of receiver replicas.
//
// One binary on one machine: Open with a state directory starts a NATS server with
// JetStream inside the process (file store, no port opened) and the receiver hands
// each accepted delivery to it:
//
//	q, err := natsqueue.Open(ctx, natsqueue.Config{StateDir: "./runtask-server-data"})
//	receiver, err := tfc.NewReceiver(check, tfc.WithHMACKeys(key),
//		tfc.WithAllowedHosts("app.terraform.io"), tfc.WithExecutor(q))
//	worker, err := q.StartWorker(receiver, natsqueue.WorkerOptions{})
//	// serve receiver over HTTP; on shutdown, in this order:
//	server.Shutdown(ctx) // no new deliveries
//	worker.Stop(ctx)     // running jobs finish, or are handed back when ctx ends
//	q.Close()
//
// Many replicas: Open with Config.URL naming a NATS cluster with JetStream (and
// Config.Replicas 3) in every replica; each replica's receiver publishes and each
// replica's worker pulls from the same stream.
//
// # Guarantees
//
// The receiver answers 200 only after JetStream stored the job (Submit returned nil);
// otherwise 503, and the service delivers again. A stored job is run by a worker until
// the service accepted its final result or answered 409 (already final): at least once
// per delivery, with exactly one accepted final, since the service takes only the
// first final result of a task result. A worker that dies mid-check stops reporting
// progress and its job is delivered to another worker within Config.AckWait; Process
// resumes it within the original deadline (counted from the receipt) or reports it
// failed at once past it. A job delivered again first asks the service whether its
// result is still open, so a run whose final result landed but whose acknowledgement
// was lost is not run again. A worker that stops (Worker.Stop) out of time hands its
// jobs back unreported, for other workers to run. Nothing is guaranteed about a job
// whose final result the service kept refusing past WorkerOptions.GiveUpAfter, or
// refused for good (a 4xx other than 408 and 429): it is terminated, with an error
// log; nor about the check running only once (a worker that
// dies mid-check has its job run again elsewhere): write checks that may run twice.
//
// # On the wire
//
// Stream Config.Stream (default "TFC_RUN_TASK_JOBS"): subject Config.Subject (default
// "tfc.run-task.jobs"), retention WorkQueue (a job is removed when acknowledged),
// file storage, Config.Replicas replicas, discard new when Config.MaxBytes is reached,
// no age limit, duplicate window Config.DuplicateWindow (default 60 minutes).
//
// Each job is one message: its data is the delivery's body exactly as the service
// signed it (it holds the run's access token: secure the NATS cluster like the
// receiver, with TLS and credentials through Config.NATSOptions), and its headers are
//
//	Nats-Msg-Id:         the task result ID (JetStream de-duplicates on it)
//	Tfc-Task-Signature:  the delivery's X-TFC-Task-Signature, absent if unsigned
//	Tfc-Received-At:     when the receiver accepted it, RFC 3339 in UTC
//	Tfc-Job-Version:     1
//
// Consumer Config.Consumer (default "tfc-run-task-workers"): durable, pull, deliver
// all, explicit ack, ack wait Config.AckWait (default 15 seconds), no delivery limit,
// at most 4096 jobs pending acknowledgement. Workers send "+WPI" (in progress) every
// AckWait/3 while a job runs, "+ACK" when it is done, "+TERM" for a job never to be
// acted on, and "-NAK" with a delay to have it delivered again; see Worker.
package natsqueue
