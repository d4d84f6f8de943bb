package limit

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the networks whose X-Forwarded-For is believed.
type Proxies []netip.Prefix

// ParseProxies reads CIDRs or bare addresses ("10.0.0.0/8", "127.0.0.1").
func ParseProxies(list []string) (Proxies, error) {
	var out Proxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is not a CIDR or an address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (p Proxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, prefix := range p {
		if prefix.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the address of the client that sent r: the socket's peer,
// or, when that peer is a trusted proxy, the nearest address in
// X-Forwarded-For that is not one (a client can write anything at the
// head of the list, so the list is read from its end).
func (p Proxies) ClientIP(r *http.Request) string {
	return p.clientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
}

// ClientIPOf is ClientIP for a remote address and headers already taken
// apart (an engine handshake).
func (p Proxies) ClientIPOf(remoteAddr string, h http.Header) string {
	return p.clientIP(remoteAddr, h.Values("X-Forwarded-For"))
}

func (p Proxies) clientIP(remoteAddr string, forwarded []string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if len(p) == 0 || !p.trusts(peer) {
		return peer.Unmap().String()
	}
	var hops []string
	for _, v := range forwarded {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop at the last address we could read
		}
		client = a
		if !p.trusts(a) {
			break
		}
	}
	return client.Unmap().String()
}
