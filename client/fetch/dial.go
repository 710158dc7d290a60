package fetch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// nonPublic are the address ranges a location may not reach unless
// allowed: besides what netip classifies (loopback, private, link-local,
// multicast, unspecified), the shared address space of carrier-grade NAT,
// the benchmarking and documentation ranges, and IPv6 unique-local and
// NAT64 prefixes that can translate to private IPv4.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fc00::/7"),
}

// Public reports whether ip is a public unicast address, one a location
// may name without AllowNetworksUnsafe.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// guard decides which resolved addresses a connection may go to.
type guard struct {
	allow []netip.Prefix
}

func (g guard) permits(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return Public(ip)
}

// control runs after DNS resolution and before connect, on the exact
// address about to be dialled: the check cannot be bypassed by a name
// that resolves differently later (DNS rebinding) or by a redirect.
func (g guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("fetch: dial %s: %w: unparsable address", address, ErrForbiddenAddress)
	}
	if !g.permits(ap.Addr()) {
		return fmt.Errorf("fetch: dial %s: %w: not a public address", address, ErrForbiddenAddress)
	}
	return nil
}

// dialer returns the DialContext every connection of a Get goes through.
func (g guard) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	return d.DialContext
}
