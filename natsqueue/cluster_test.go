package natsqueue

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/tfkit/tfc"
)

// testCluster is a JetStream cluster of NATS servers in this process, on loopback
// ports chosen by the system, each with its own store directory.
type testCluster struct {
	t       testing.TB
	name    string
	dirs    []string
	servers []*server.Server // nil while stopped
	ports   []int            // route ports, kept for restarts
}

// startCluster starts n servers that route to each other and waits until each is
// ready for clients. Their route ports are picked free from the system first, since a
// JetStream cluster's servers need each other's addresses in their configuration.
func startCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	c := &testCluster{t: t, name: "tfc-test", servers: make([]*server.Server, n), ports: freePorts(t, n)}
	for range n {
		c.dirs = append(c.dirs, t.TempDir())
	}
	t.Cleanup(c.shutdown)
	for i := range n {
		c.start(i)
	}
	return c
}

// freePorts reserves n loopback ports at once and frees them for the servers.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// start starts server i (again) on its store directory and route port, with routes
// to every server of the cluster.
func (c *testCluster) start(i int) {
	c.t.Helper()
	var routes []*url.URL
	for j, port := range c.ports {
		if j != i {
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", port)})
		}
	}
	opts := &server.Options{
		ServerName:         fmt.Sprintf("n%d", i+1),
		Host:               "127.0.0.1",
		Port:               server.RANDOM_PORT,
		JetStream:          true,
		StoreDir:           c.dirs[i],
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 30,
		NoSigs:             true,
		NoLog:              true,
		Cluster:            server.ClusterOpts{Name: c.name, Host: "127.0.0.1", Port: c.ports[i]},
		Routes:             routes,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		c.t.Fatalf("server n%d: %v", i+1, err)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		c.t.Fatalf("server n%d did not get ready", i+1)
	}
	c.servers[i] = s
}

// urls lists the client URLs of the running servers, as Config.URL takes them.
func (c *testCluster) urls() string {
	var urls []string
	for _, s := range c.servers {
		if s != nil {
			urls = append(urls, s.ClientURL())
		}
	}
	return strings.Join(urls, ",")
}

// index finds a server by name.
func (c *testCluster) index(name string) int {
	for i, s := range c.servers {
		if s != nil && s.Name() == name {
			return i
		}
	}
	c.t.Fatalf("no running server named %q", name)
	return -1
}

// stop shuts server i down, keeping its store for a restart.
func (c *testCluster) stop(i int) {
	s := c.servers[i]
	c.servers[i] = nil
	s.Shutdown()
	s.WaitForShutdown()
}

// restart starts a stopped server again on its store and cluster port.
func (c *testCluster) restart(i int) { c.start(i) }

func (c *testCluster) shutdown() {
	for i, s := range c.servers {
		if s != nil {
			c.stop(i)
		}
	}
}

// Two receiver replicas and two workers share a three-server cluster with three
// replicas of the stream. With jobs in flight, the stream's leader is stopped; the
// remaining deliveries arrive while it is down. Every delivery ends in exactly one
// accepted final, and the stopped server catches up when it is back.
func TestThreeNodeClusterSurvivesANodeStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	svc := newFakeService(t)
	c := startCluster(t, 3)
	cfg := Config{URL: c.urls(), Replicas: 3, AckWait: 5 * time.Second, PublishTimeout: 2 * time.Second}
	g := newGate()

	const perReplica = 2
	var fronts []*frontEnd
	var queues []*Queue
	for range perReplica {
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
	stopped := c.index(leader)
	c.stop(stopped)
	t.Logf("stopped %s, the stream's leader, with 8 checks running and 4 jobs waiting", leader)

	second := deliver(12) // accepted while the cluster elects a new leader
	close(g.open)
	all := append(first, second...)
	svc.waitFinal(t, all...)
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, all...)

	c.restart(stopped)
	eventually(t, "the stream with a full set of current replicas", func() bool {
		return queues[0].Ready(ctx) == nil && currentReplicas(t, queues[0]) == 3
	})
	eventually(t, "every job acknowledged", func() bool { return streamMsgs(t, queues[1]) == 0 })
	t.Logf("%d checks ran for %d deliveries (a check runs again when its job was redelivered during the failover)", g.runs.Load(), len(all))

	// Without a quorum the stream takes no writes, and Ready says so.
	second1, second2 := (stopped+1)%3, (stopped+2)%3
	c.stop(second1)
	c.stop(second2)
	eventually(t, "Ready to fail without a quorum", func() bool { return queues[0].Ready(ctx) != nil })
	t.Logf("Ready with one server of three: %v", queues[0].Ready(ctx))
	c.restart(second1)
	c.restart(second2)
	eventually(t, "Ready with the quorum back", func() bool { return queues[0].Ready(ctx) == nil })
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
