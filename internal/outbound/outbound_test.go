package outbound

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// TestCheckAddrRefusesEveryNonPublicClass is the classification table: every class of address an
// outbound request must not reach (with the edges of each range), in IPv4, IPv6 and IPv4-mapped
// IPv6 form, and the public neighbours that must stay reachable.
func TestCheckAddrRefusesEveryNonPublicClass(t *testing.T) {
	forbidden := map[string]string{ // address -> reason
		"0.0.0.0":         "unspecified",
		"::":              "unspecified",
		"0.0.0.1":         "this network",
		"0.255.255.255":   "this network",
		"127.0.0.1":       "loopback",
		"127.255.255.254": "loopback",
		"::1":             "loopback",
		"10.0.0.0":        "private",
		"10.255.255.255":  "private",
		"172.16.0.0":      "private",
		"172.31.255.255":  "private",
		"192.168.0.0":     "private",
		"192.168.255.255": "private",
		"fc00::":          "private",
		"fd12:3456::1":    "private",
		"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "private",
		"100.64.0.0":      "carrier-grade NAT",
		"100.127.255.255": "carrier-grade NAT",
		"169.254.0.0":     "link-local",
		"169.254.169.254": "link-local", // cloud metadata services
		"169.254.255.255": "link-local",
		"fe80::":          "link-local",
		"fe80::1%eth0":    "link-local",
		"febf:ffff::1":    "link-local",
		"fec0::1":         "site-local",
		"feff::1":         "site-local",
		"224.0.0.0":       "multicast",
		"224.0.0.251":     "multicast", // link-local multicast (mDNS)
		"239.255.255.250": "multicast",
		"ff01::1":         "multicast", // interface-local
		"ff02::1":         "multicast", // link-local
		"ff05::1:3":       "multicast",
		"ff0e::1":         "multicast",
		"240.0.0.0":       "reserved",
		"255.255.255.254": "reserved",
		"255.255.255.255": "broadcast",

		"::ffff:0.0.0.0":           "IPv4-mapped unspecified",
		"::ffff:0.1.2.3":           "IPv4-mapped this network",
		"::ffff:127.0.0.1":         "IPv4-mapped loopback",
		"::ffff:7f00:1":            "IPv4-mapped loopback",
		"::ffff:10.1.2.3":          "IPv4-mapped private",
		"::ffff:172.16.0.1":        "IPv4-mapped private",
		"::ffff:192.168.1.1":       "IPv4-mapped private",
		"::ffff:100.64.0.1":        "IPv4-mapped carrier-grade NAT",
		"::ffff:169.254.169.254":   "IPv4-mapped link-local",
		"::ffff:224.0.0.1":         "IPv4-mapped multicast",
		"::ffff:240.0.0.1":         "IPv4-mapped reserved",
		"::ffff:255.255.255.255":   "IPv4-mapped broadcast",
		"::127.0.0.1":              "IPv4-compatible loopback",
		"::8.8.8.8":                "IPv4-compatible public",
		"64:ff9b::127.0.0.1":       "NAT64 loopback",
		"64:ff9b::169.254.169.254": "NAT64 link-local",
		"2002:7f00:1::1":           "6to4 loopback",
		"2002:a9fe:a9fe::":         "6to4 link-local",
	}
	for s, reason := range forbidden {
		ip := netip.MustParseAddr(s)
		err := CheckAddr(ip)
		var fe *ForbiddenAddressError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want refused as %s", s, err, reason)
			continue
		}
		if fe.Reason != reason || fe.Address != ip.WithZone("").String() || !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %+v, want reason %q", s, fe, reason)
		}
		if !strings.Contains(err.Error(), "is not public") {
			t.Errorf("%s: error %q does not say the address is not public", s, err)
		}
	}
	public := []string{
		"1.0.0.0", "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "93.184.216.34",
		"100.63.255.255", "100.128.0.0", // around carrier-grade NAT
		"126.255.255.255", "128.0.0.0", // around loopback
		"169.253.255.255", "169.255.0.0", // around link-local
		"172.15.255.255", "172.32.0.0", // around 172.16/12
		"192.167.255.255", "192.169.0.0", // around 192.168/16
		"223.255.255.255", // below multicast
		"2001:4860:4860::8888", "2606:4700:4700::1111", "fbff:ffff::1",
		"::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1",
	}
	for _, s := range public {
		if err := CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s refused: %v", s, err)
		}
	}
	if err := CheckAddr(netip.Addr{}); err == nil {
		t.Error("the zero Addr passed")
	}
}

// TestCheckURLRefusesLiteralForbiddenHosts: CheckURL refuses non-http(s) URLs, literal forbidden
// addresses (IPv6 in brackets too), localhost, and numeric hosts resolvers may read as IPv4; it
// lets public addresses and DNS names through, and its errors never contain the URL.
func TestCheckURLRefusesLiteralForbiddenHosts(t *testing.T) {
	refused := map[string]bool{ // URL -> refused as a forbidden address (a *ForbiddenAddressError)
		"http://127.0.0.1/hook":                   true,
		"http://user:pa55w0rd@127.0.0.1:8080/x":   true,
		"https://10.0.0.1/x":                      true,
		"http://169.254.169.254/latest/meta-data": true,
		"http://0.0.0.0:80/":                      true,
		"http://[::1]:8080/":                      true,
		"http://[::]/":                            true,
		"http://[fe80::1%25eth0]/":                true,
		"http://[::ffff:127.0.0.1]/":              true,
		"http://[::ffff:7f00:1]/":                 true,
		"http://[fd00::1]/":                       true,
		"http://100.64.0.1/":                      true,
		"http://localhost:8080/x":                 true,
		"http://LOCALHOST/":                       true,
		"http://localhost./":                      true,
		"http://api.localhost/":                   true,
		"http://127.0.0.1./":                      true,
		"ftp://example.com/":                      false,
		"file:///etc/passwd":                      false,
		"/relative/path":                          false,
		"http:///nohost":                          false,
		"http://2130706433/":                      false,
		"http://127.1/":                           false,
		"http://0x7f.0.0.1/":                      false,
		"http://0x7f000001/":                      false,
		"http://%zz/":                             false,
	}
	for u, forbidden := range refused {
		err := CheckURL(u)
		if err == nil {
			t.Errorf("%s passed", u)
			continue
		}
		var fe *ForbiddenAddressError
		if errors.As(err, &fe) != forbidden {
			t.Errorf("%s: %v; want a ForbiddenAddressError: %v", u, err, forbidden)
		}
		if strings.Contains(err.Error(), "pa55w0rd") || strings.Contains(err.Error(), "/hook") {
			t.Errorf("%s: the error %q carries the URL", u, err)
		}
	}
	for _, u := range []string{"https://example.com/hook", "http://8.8.8.8:8080/x", "http://[2001:4860:4860::8888]/",
		"https://hooks.example.co.uk:8443/a?b=c", "http://host-1.internal.example/", "http://1e100.net/"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

// countingServer counts the requests it receives; /redirect answers 302 to /target.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	var hits, targetHits atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/target", http.StatusFound)
		case "/target":
			targetHits.Add(1)
			w.Write([]byte("target"))
		default:
			w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(hs.Close)
	return hs, &hits, &targetHits
}

// localhostURL is the server's URL with the name localhost in place of 127.0.0.1, so that the
// client must resolve it.
func localhostURL(t *testing.T, hs *httptest.Server) string {
	u, err := url.Parse(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "localhost:" + u.Port()
	return u.String()
}

// TestNewClientRefusesNameResolvingToLoopbackAtDial: a DNS name that resolves to a loopback
// address (localhost) is refused when the client dials, with a *ForbiddenAddressError naming the
// resolved address; nothing reaches the server. AllowPrivate lets the same request through.
func TestNewClientRefusesNameResolvingToLoopbackAtDial(t *testing.T) {
	hs, hits, _ := countingServer(t)
	for _, u := range []string{localhostURL(t, hs) + "/x", hs.URL + "/x"} {
		resp, err := NewClient(Options{}).Get(u)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: answered %d, want refused", u, resp.StatusCode)
		}
		var fe *ForbiddenAddressError
		if !errors.As(err, &fe) || (fe.Address != "127.0.0.1" && fe.Address != "::1") || fe.Reason != "loopback" {
			t.Fatalf("%s: %v, want a ForbiddenAddressError for a loopback address", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the server received %d requests through a refused dial", n)
	}
	resp, err := NewClient(Options{AllowPrivate: true}).Get(localhostURL(t, hs) + "/x")
	if err != nil {
		t.Fatalf("AllowPrivate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Fatalf("AllowPrivate: status %d, %d hits", resp.StatusCode, hits.Load())
	}
}

// TestNewClientDoesNotFollowRedirects: the client returns a 3xx response itself and never
// requests its Location (which could point anywhere, a private address included), whether or not
// it allows private addresses.
func TestNewClientDoesNotFollowRedirects(t *testing.T) {
	hs, hits, targetHits := countingServer(t)
	resp, err := NewClient(Options{AllowPrivate: true}).Get(hs.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/target" {
		t.Fatalf("status %d, Location %q; want the 302 itself", resp.StatusCode, resp.Header.Get("Location"))
	}
	if hits.Load() != 1 || targetHits.Load() != 0 {
		t.Fatalf("%d requests, %d to the redirect's target; want 1 and 0", hits.Load(), targetHits.Load())
	}
	// The guarded client (which cannot reach this loopback server) has the same policy.
	req := httptest.NewRequest(http.MethodGet, "https://example.com/target", nil)
	if err := NewClient(Options{}).CheckRedirect(req, []*http.Request{req}); !errors.Is(err, http.ErrUseLastResponse) {
		t.Fatalf("guarded client's redirect policy: %v", err)
	}
}
