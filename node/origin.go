package node

import (
	"net/http"
	"strings"

	"courier/node/command"
)

// forwardedHeaders picks the headers named by --forward-headers from h, as
// command.Origin keeps them. None when no command route exists: every
// connection would keep them for nothing.
func (n *Node) forwardedHeaders(h http.Header) []string {
	if !n.hasCommandRoutes {
		return nil
	}
	var out []string
	for _, name := range n.cfg.ForwardHeaders {
		if v := h.Get(name); v != "" {
			out = append(out, strings.ToLower(name), v)
		}
	}
	return out
}

// requestOrigin is a /v1/call request's command.Origin.
func (n *Node) requestOrigin(r *http.Request) command.Origin {
	return command.Origin{ClientIP: n.limits.proxies.ClientIP(r), Headers: n.forwardedHeaders(r.Header)}
}
