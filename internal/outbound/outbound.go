// Package outbound makes the HTTP requests the server sends on behalf of its users (webhook
// deliveries, tool proxy calls) without letting those users reach the server's own network: a
// client from NewClient refuses, at dial time, every address that is not public unicast (loopback,
// private, link-local, carrier-grade NAT, multicast, broadcast, unspecified, ...), whatever DNS
// name led to it, and never follows redirects. CheckURL refuses such addresses early, when a URL
// names one literally.
package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// DefaultDialTimeout bounds a connection attempt when Options.DialTimeout is zero.
const DefaultDialTimeout = 10 * time.Second

// Options configures NewClient.
type Options struct {
	// AllowPrivate lets the client connect to any address, loopback and private networks
	// included (tests, local development). Redirects are still not followed.
	AllowPrivate bool
	// Timeout bounds a whole request, reading the response body included (http.Client.Timeout);
	// zero means no limit beyond the request's context.
	Timeout time.Duration
	// DialTimeout bounds establishing one connection; zero means DefaultDialTimeout.
	DialTimeout time.Duration
}

// ErrForbiddenAddress is matched, with errors.Is, by every *ForbiddenAddressError.
var ErrForbiddenAddress = errors.New("address is not public")

// ForbiddenAddressError reports an address an outbound request must not reach. Its text names
// the address (never a URL, which may carry credentials) and why it is refused.
type ForbiddenAddressError struct {
	// Address is the refused IP address, or the host name ("localhost") refused without
	// resolving it.
	Address string
	// Reason names the address's class, e.g. "loopback" or "private".
	Reason string
}

// Error returns e.g. "address 127.0.0.1 is not public (loopback)".
func (e *ForbiddenAddressError) Error() string {
	return fmt.Sprintf("address %s is not public (%s)", e.Address, e.Reason)
}

// Is makes errors.Is(err, ErrForbiddenAddress) true.
func (e *ForbiddenAddressError) Is(target error) bool { return target == ErrForbiddenAddress }

// NewClient returns an HTTP client for requests to user-given URLs. Unless o.AllowPrivate, its
// dialer checks every address it is about to connect to, after DNS resolution, with CheckAddr,
// and refuses the connection with a *ForbiddenAddressError (found with errors.As in the error of
// Client.Do) when it is not public. The client uses no proxy (so the check sees the real
// destination) and never follows redirects: Do returns the 3xx response itself.
func NewClient(o Options) *http.Client {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		dialer.Control = control
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would be the only address the dialer sees
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			MaxIdleConns:          100,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       o.Timeout,
	}
}

// control is the dialer's check of the address it is about to connect to ("ip:port", already
// resolved).
func control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &ForbiddenAddressError{Address: host, Reason: "not an IP address"}
	}
	return CheckAddr(ip)
}

// CheckAddr returns a *ForbiddenAddressError when ip is not a public unicast address: loopback,
// unspecified, "this network" (0.0.0.0/8), private (10/8, 172.16/12, 192.168/16, fc00::/7,
// the deprecated site-local fec0::/10), carrier-grade NAT (100.64/10), link-local unicast
// (169.254/16, fe80::/10), multicast (224/4, ff00::/8, link-local multicast included), reserved
// (240/4) and broadcast (255.255.255.255). IPv6 forms that embed an IPv4 address (IPv4-mapped
// ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by
// that IPv4 address. A zone (fe80::1%eth0) is ignored.
func CheckAddr(ip netip.Addr) error {
	if reason := classify(ip); reason != "" {
		return &ForbiddenAddressError{Address: ip.WithZone("").String(), Reason: reason}
	}
	return nil
}

// IPv4 ranges refused beyond what netip.Addr's predicates name.
var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	reserved4   = netip.MustParsePrefix("240.0.0.0/4")
	broadcast4  = netip.MustParseAddr("255.255.255.255")
	siteLocal6  = netip.MustParsePrefix("fec0::/10")
	compat6     = netip.MustParsePrefix("::/96")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// classify names why ip is not public, or returns "".
func classify(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid"
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		if r := classify(ip.Unmap()); r != "" {
			return "IPv4-mapped " + r
		}
		return ""
	}
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsMulticast():
		return "multicast"
	case ip.IsPrivate():
		return "private"
	}
	if ip.Is4() {
		switch {
		case thisNetwork.Contains(ip):
			return "this network"
		case cgnat.Contains(ip):
			return "carrier-grade NAT"
		case ip == broadcast4:
			return "broadcast"
		case reserved4.Contains(ip):
			return "reserved"
		}
		return ""
	}
	b := ip.As16()
	switch {
	case siteLocal6.Contains(ip):
		return "site-local"
	case compat6.Contains(ip):
		// ::a.b.c.d (deprecated); :: and ::1 were caught above.
		return "IPv4-compatible " + orPublic(classify(netip.AddrFrom4([4]byte(b[12:16]))))
	case nat64.Contains(ip):
		if r := classify(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return "NAT64 " + r
		}
	case sixToFour.Contains(ip):
		if r := classify(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return "6to4 " + r
		}
	}
	return ""
}

// orPublic reads an empty classification as "public" (for IPv4-compatible addresses, refused
// whatever they embed).
func orPublic(r string) string {
	if r == "" {
		return "public"
	}
	return r
}

// CheckURL refuses what can be refused before any DNS lookup: a URL that is not absolute http or
// https, and a host that is a literal forbidden address (see CheckAddr; IPv6 in brackets
// included) or the name localhost (or a name under .localhost, RFC 6761), each with a
// *ForbiddenAddressError. A host whose last label is a number but which is not an IP address in
// standard form (such as 2130706433, 127.1 or 0x7f.0.0.1) is refused too, as resolvers may read
// it as an IPv4 address. Names that resolve to forbidden addresses pass: NewClient's dialer refuses them.
// The error never contains the URL.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("not an http or https URL")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return errors.New("the URL has no host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return CheckAddr(ip)
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return &ForbiddenAddressError{Address: host, Reason: "loopback"}
	}
	if endsInNumber(host) {
		return fmt.Errorf("host %s is neither a DNS name nor an IP address in standard form", host)
	}
	return nil
}

// endsInNumber reports whether host's last label is a decimal or 0x-hexadecimal number, which
// the URL standard and many resolvers read as (part of) an IPv4 address.
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if l, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(l, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}
