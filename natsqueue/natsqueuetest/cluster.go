// Package natsqueuetest starts NATS JetStream servers inside a test process, on
// loopback, for tests of code that uses natsqueue with Config.URL: a single server or a
// cluster whose servers can be stopped and restarted on their stores, shaped like
// net/http/httptest.
//
//	c := natsqueuetest.StartCluster(t, 3) // shut down when the test ends
//	q, err := natsqueue.Open(ctx, natsqueue.Config{URL: c.URLs(), Replicas: 3})
//	c.Stop(0)    // a server goes down; its store stays
//	c.Restart(0) // and comes back on it
//
// The servers log nothing and accept clients without authentication; each keeps its
// JetStream store in a directory of t.TempDir().
package natsqueuetest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a set of NATS servers with JetStream, routed to each other when there is
// more than one. Its methods are safe for concurrent use.
type Cluster struct {
	t     testing.TB
	name  string
	dirs  []string
	ports []int // route ports, kept for restarts

	mu      sync.Mutex
	servers []*server.Server // nil while stopped
}

// StartCluster starts n servers (n >= 1) with JetStream and waits until each is ready
// for clients; with n > 1 they form a JetStream cluster named "natsqueuetest". It fails
// the test if a server cannot start, and shuts every server down when the test ends.
//
// Each server listens for clients on a port the system picks. Route ports are picked
// free first and kept, since the servers of a JetStream cluster need each other's
// addresses in their configuration, and a restarted server must come back on its own.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("natsqueuetest: StartCluster(%d): at least one server is needed", n)
	}
	c := &Cluster{t: t, name: "natsqueuetest", servers: make([]*server.Server, n)}
	if n > 1 {
		c.ports = freePorts(t, n)
	}
	for range n {
		c.dirs = append(c.dirs, t.TempDir())
	}
	t.Cleanup(c.Shutdown)
	for i := range n {
		c.start(i)
	}
	c.WaitFormed()
	return c
}

// WaitFormed waits until the running servers form a JetStream cluster: one of them
// leads the meta group, sees every running server as an online peer, and every
// running server is current with it (with fewer than a majority running, that never
// happens). Until then an R3 stream can be refused ("no
// suitable peers for placement"). It fails the test after 60 seconds.
func (c *Cluster) WaitFormed() {
	c.t.Helper()
	if c.ports == nil {
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !c.formed() {
		if time.Now().After(deadline) {
			c.t.Fatalf("natsqueuetest: the cluster did not form within 60s")
		}
		<-tick.C
	}
}

func (c *Cluster) formed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var leader *server.Server
	running := 0
	for _, s := range c.servers {
		if s == nil {
			continue
		}
		running++
		if !s.JetStreamIsCurrent() {
			return false
		}
		if s.JetStreamIsLeader() {
			leader = s
		}
	}
	return leader != nil && len(leader.JetStreamClusterPeers()) == running // online peers only
}

// freePorts reserves n loopback ports at once, and frees them for the servers.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natsqueuetest: reserving a port: %v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// start starts server i on its store directory (and route port, routed to every other
// server of the cluster).
func (c *Cluster) start(i int) {
	c.t.Helper()
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
	}
	if c.ports != nil {
		opts.Cluster = server.ClusterOpts{Name: c.name, Host: "127.0.0.1", Port: c.ports[i]}
		for j, port := range c.ports {
			if j != i {
				opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", port)})
			}
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		c.t.Fatalf("natsqueuetest: server n%d: %v", i+1, err)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		s.WaitForShutdown()
		c.t.Fatalf("natsqueuetest: server n%d did not get ready within 30s", i+1)
	}
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
}

// URLs lists the client URLs of the running servers, comma-separated, as
// natsqueue.Config.URL and nats.Connect take them.
func (c *Cluster) URLs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var urls []string
	for _, s := range c.servers {
		if s != nil {
			urls = append(urls, s.ClientURL())
		}
	}
	return strings.Join(urls, ",")
}

// Index returns the index of the running server named name ("n1", "n2", …, as
// JetStream names stream and consumer leaders), or -1.
func (c *Cluster) Index(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.servers {
		if s != nil && s.Name() == name {
			return i
		}
	}
	return -1
}

// Server returns server i, nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// Stop shuts server i down and waits until it is down, keeping its store. Stopping a
// stopped server does nothing.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts a stopped server again on its store (and route port). Its client
// port is new: clients connected to the cluster learn it from the others.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Server(i) != nil {
		c.t.Fatalf("natsqueuetest: Restart(%d): the server is running", i)
	}
	c.start(i)
	c.WaitFormed()
}

// Shutdown stops every server. The test's cleanup calls it; calling it again does
// nothing.
func (c *Cluster) Shutdown() {
	for i := range c.servers {
		c.Stop(i)
	}
}
