package tfc

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Where a delivery's calls may go, and how fast: a rate window per access token, and
// the receiver's own client, whose dialer refuses non-public addresses of hosts the
// operator did not name and whose redirect policy refuses plain http.

// tokenLimiters hands out one rate window per access token, shared by the deliveries
// that carry it, and forgets it when the last of them ends: the map holds no more
// entries than deliveries alive. It is sharded, so that deliveries starting together
// rarely wait on each other.
type tokenLimiters struct {
	rate   int // calls per second per token; 0 for no window
	seed   maphash.Seed
	shards [16]tokenShard
}

type tokenShard struct {
	mu sync.Mutex
	m  map[Secret]*tokenWindow
}

type tokenWindow struct {
	limiter *WindowLimiter
	users   int
}

func newTokenLimiters(rate int) *tokenLimiters {
	return &tokenLimiters{rate: rate, seed: maphash.MakeSeed()}
}

// acquire returns the window of token (nil without per-token limits) and the function
// that gives it back.
func (t *tokenLimiters) acquire(token Secret) (Limiter, func()) {
	if t.rate <= 0 {
		return nil, func() {}
	}
	sh := &t.shards[maphash.String(t.seed, string(token))%uint64(len(t.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[Secret]*tokenWindow)
	}
	w := sh.m[token]
	if w == nil {
		w = &tokenWindow{limiter: t.private().(*WindowLimiter)}
		sh.m[token] = w
	}
	w.users++
	return w.limiter, sync.OnceFunc(func() {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if w.users--; w.users == 0 {
			delete(sh.m, token)
		}
	})
}

// private returns a window shared with nobody (nil without per-token limits).
func (t *tokenLimiters) private() Limiter {
	if t.rate <= 0 {
		return nil
	}
	return NewWindowLimiter(t.rate, time.Second+windowGuard)
}

// len returns the number of windows held.
func (t *tokenLimiters) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// callLimiter is the call's own limiter, if any.
func callLimiter(info *callInfo) Limiter {
	if info == nil {
		return nil
	}
	return info.limiter
}

// ErrForbiddenAddress is what the receiver's own client answers instead of connecting
// to a loopback, private, link-local, unspecified, multicast or otherwise non-public
// address whose host is not on the allow-list. It is never retried.
var ErrForbiddenAddress = errors.New("tfc: refusing to connect to a non-public address")

// errInsecureRedirect refuses a redirect to plain http without InsecureAllowHTTP.
var errInsecureRedirect = errors.New("tfc: refusing to follow a redirect to plain http")

// refusedByPolicy reports whether err is one of the receiver's refusals, which no
// retry can change.
func refusedByPolicy(err error) bool {
	return errors.Is(err, ErrForbiddenAddress) || errors.Is(err, errInsecureRedirect)
}

// forbiddenAddressError names the address refused and what kind it is.
type forbiddenAddressError struct {
	addr netip.Addr
	kind string
}

func (e *forbiddenAddressError) Error() string {
	return fmt.Sprintf("tfc: refusing to connect to %s (%s): only hosts named in WithAllowedHosts may resolve to non-public addresses", e.addr, e.kind)
}

func (e *forbiddenAddressError) Is(target error) bool { return target == ErrForbiddenAddress }

// newServiceClient makes the client of a receiver that was not given one: retries by
// the callback policy, no client-wide ceiling (each delivery has its token's window),
// the dial guard, no proxy from the environment (the guard would see the proxy, not
// the target), and the receiver's redirect policy.
func (r *Receiver) newServiceClient() (*Client, error) {
	guard := &dialGuard{
		named:   make(map[string]bool, len(r.allowedHosts)),
		lookup:  r.lookupIP,
		plain:   net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		guarded: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: refuseNonPublic},
	}
	for h := range r.allowedHosts {
		guard.named[hostnameOf(h)] = true
	}
	transport := &http.Transport{
		DialContext:           guard.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	retry := defaultCallbackRetry
	if r.callbackRetry != nil {
		retry = *r.callbackRetry
	}
	return NewClient(
		WithHTTPClient(&http.Client{Transport: transport, CheckRedirect: r.checkRedirect}),
		WithRetryPolicy(retry),
		WithRateLimit(0),
		WithLogger(r.logger),
	)
}

// checkRedirect is the receiver client's redirect policy: at most 10, and none to
// plain http unless InsecureAllowHTTP. (The pipeline's own policy then drops the token
// on every redirect that leaves the host.)
func (r *Receiver) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errTooManyRedirects
	}
	if req.URL.Scheme != "https" && !r.allowHTTP {
		return errInsecureRedirect
	}
	return nil
}

// hostnameOf is an allow-list entry without its port, lower case.
func hostnameOf(entry string) string {
	if h, _, err := net.SplitHostPort(entry); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(strings.Trim(entry, "[]"))
}

// dialGuard dials for the receiver's client. Hosts the operator named may resolve
// anywhere; every other connection is checked in the dialer's Control hook, on the
// address actually connected to, so that DNS rebinding cannot dodge it.
type dialGuard struct {
	named   map[string]bool // host names of the allow-list, without ports
	lookup  func(ctx context.Context, host string) ([]netip.Addr, error)
	plain   net.Dialer
	guarded net.Dialer
}

func (g *dialGuard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	dialer := &g.guarded
	if g.named[strings.ToLower(host)] {
		dialer = &g.plain
	}
	if g.lookup == nil {
		return dialer.DialContext(ctx, network, address)
	}
	addrs, err := g.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	for i, a := range addrs {
		c, dialErr := dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if dialErr == nil {
			return c, nil
		}
		if i == 0 {
			err = dialErr
		}
	}
	return nil, err
}

// refuseNonPublic is the guarded dialer's Control hook.
func refuseNonPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &forbiddenAddressError{kind: "unparsable"}
	}
	if kind := nonPublic(ap.Addr()); kind != "" {
		return &forbiddenAddressError{addr: ap.Addr(), kind: kind}
	}
	return nil
}

// specialPrefixes are ranges outside the public internet that netip's predicates do
// not name.
var specialPrefixes = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

// Prefixes whose addresses carry an IPv4 address, which is checked in turn.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// nonPublic returns what kind of non-public address a is, or "" for a public one.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry, and so are
// NAT64 and 6to4 addresses.
func nonPublic(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	}
	for _, p := range specialPrefixes {
		if p.prefix.Contains(a) {
			return p.kind
		}
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return nonPublic(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return nonPublic(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return ""
}
