package engine

import (
	"net/http"
	"strings"
)

// cors answers cross-origin long-polling for pages served elsewhere (H5 on
// a CDN, say). It sits in front of the library, whose own CORS writes the
// literal "Access-Control-Allow-Origin: false" for an unlisted origin.
type cors struct {
	anyOrigin bool
	allowed   map[string]bool
}

// newCORS returns nil when no origin is listed: same origin only.
func newCORS(origins []string) *cors {
	if len(origins) == 0 {
		return nil
	}
	c := &cors{allowed: make(map[string]bool, len(origins))}
	for _, o := range origins {
		if o == "*" {
			c.anyOrigin = true
		}
		c.allowed[strings.TrimSuffix(o, "/")] = true
	}
	return c
}

// apply sets the CORS headers for an allowed origin and reports whether it
// answered the request itself (a preflight).
func (c *cors) apply(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Add("Vary", "Origin")
	allowed := origin != "" && (c.anyOrigin || c.allowed[origin])
	if allowed {
		// Credentials need the origin echoed, never "*".
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	if allowed {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
