package natsqueue

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/natsqueue/natsqueuetest"
)

// Two receiver replicas and two workers share a three-server cluster with three
// replicas of the stream. With jobs in flight, the stream's leader is stopped; the
// remaining deliveries arrive while it is down. Every delivery ends in exactly one
// accepted final, and the stopped server catches up when it is back.
func TestThreeNodeClusterSurvivesANodeStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	svc := newFakeService(t)
	c := natsqueuetest.StartCluster(t, 3)
	cfg := Config{URL: c.URLs(), Replicas: 3, AckWait: 5 * time.Second, PublishTimeout: 2 * time.Second}
	g := newGate()

	const receiverReplicas = 2
	var fronts []*frontEnd
	var queues []*Queue
	for range receiverReplicas {
		q := openQueue(t, cfg)
		queues = append(queues, q)
		fronts = append(fronts, newFrontEnd(t, svc, q))
		startWorker(t, q, newReceiver(t, svc, g.check), WorkerOptions{Concurrency: 4})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	deliver := func(n int) []string {
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				f := fronts[i%len(fronts)]
				id, err := svc.deliver(ctx, f.server.Client(), f.server.URL)
				if err != nil {
					t.Error(err)
				}
				ids[i] = id
			})
		}
		wg.Wait()
		return ids
	}

	first := deliver(12)
	for range 8 { // both workers full: jobs are in flight on both
		waitStarted(t, g)
	}
	leader := streamLeader(t, queues[0])
	stopped := c.Index(leader)
	if stopped < 0 {
		t.Fatalf("the stream's leader %q is not a server of the cluster", leader)
	}
	c.Stop(stopped)
	t.Logf("stopped %s, the stream's leader, with 8 checks running and 4 jobs waiting", leader)

	second := deliver(12) // accepted while the cluster elects a new leader
	close(g.open)
	all := append(first, second...)
	svc.waitFinal(t, all...)
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, all...)

	c.Restart(stopped)
	eventually(t, "the stream with a full set of current replicas", func() bool {
		return queues[0].Ready(ctx) == nil && currentReplicas(t, queues[0]) == 3
	})
	eventually(t, "every job acknowledged", func() bool { return streamMsgs(t, queues[1]) == 0 })
	t.Logf("%d checks ran for %d deliveries (a check runs again when its job was redelivered during the failover)", g.runs.Load(), len(all))

	// Without a quorum the stream takes no writes, and Ready says so.
	second1, second2 := (stopped+1)%3, (stopped+2)%3
	c.Stop(second1)
	c.Stop(second2)
	eventually(t, "Ready to fail without a quorum", func() bool { return queues[0].Ready(ctx) != nil })
	t.Logf("Ready with one server of three: %v", queues[0].Ready(ctx))
	c.Restart(second1)
	c.Restart(second2)
	eventually(t, "Ready with the quorum back", func() bool { return queues[0].Ready(ctx) == nil })
}

// A queue on one NATS server named by URL (not embedded) works the same way, and a
// worker rides out the server's restart.
func TestQueueOnAServerByURL(t *testing.T) {
	svc := newFakeService(t)
	c := natsqueuetest.StartCluster(t, 1)
	q := openQueue(t, Config{URL: c.URLs(), AckWait: testAckWait})
	front := newFrontEnd(t, svc, q)
	startWorker(t, q, newReceiver(t, svc, passPlan), WorkerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first, err := svc.deliver(ctx, front.server.Client(), front.server.URL)
	if err != nil {
		t.Fatal(err)
	}
	svc.waitFinal(t, first)
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, first)
	if err := q.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

// streamLeader names the server leading q's stream.
func streamLeader(t testing.TB, q *Queue) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := q.js.Stream(ctx, q.cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatal("the stream has no leader")
	}
	return info.Cluster.Leader
}

// currentReplicas counts the leader and the current followers of q's stream.
func currentReplicas(t testing.TB, q *Queue) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := q.js.Stream(ctx, q.cfg.Stream)
	if err != nil || s.CachedInfo().Cluster == nil {
		return 0
	}
	n := 1
	for _, p := range s.CachedInfo().Cluster.Replicas {
		if p.Current && !p.Offline {
			n++
		}
	}
	return n
}
