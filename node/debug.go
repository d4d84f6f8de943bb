package node

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startDebug serves Go's profiles on cfg.DebugListen, apart from the public
// listener so that they are never reachable where clients are.
func (n *Node) startDebug() error {
	if n.cfg.DebugListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", n.cfg.DebugListen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	n.closers = append(n.closers, func() { _ = srv.Close() })
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("debug listener stopped", "err", err)
		}
	}()
	n.log.Info("profiles served", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	return nil
}
