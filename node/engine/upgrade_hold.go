package engine

import (
	"bufio"
	"net"
	"net/http"
)

// The library starts reading a polling session's new WebSocket before it
// listens for that transport's packets (the reader goroutine starts in the
// transport's constructor, the probe listener is attached after it). A client
// sends "2probe" as soon as it reads the 101, so on a busy node the probe could
// be read in between and dropped: no "3probe" came back and the client stayed
// on long-polling, its WebSocket closed by the upgrade timeout. The reads of
// such an upgrade are held until the library's upgrade handler has returned,
// by which time its listeners are in place.

// holdUpgradeReads serves an upgrade of an existing session with its
// connection's reads held until serve returns.
func holdUpgradeReads(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request)) {
	h, ok := w.(http.Hijacker)
	if !ok {
		serve(w, r)
		return
	}
	held := &holdingWriter{ResponseWriter: w, hijacker: h, open: make(chan struct{})}
	defer close(held.open)
	serve(held, r)
}

type holdingWriter struct {
	http.ResponseWriter
	hijacker http.Hijacker
	open     chan struct{}
}

func (w *holdingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.hijacker.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Reader.Buffered() > 0 {
		// nothing may precede the 101; the upgrader refuses this itself
		return conn, brw, nil
	}
	held := &heldConn{Conn: conn, open: w.open}
	brw.Reader.Reset(held)
	return held, brw, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *holdingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type heldConn struct {
	net.Conn
	open <-chan struct{}
}

func (c *heldConn) Read(p []byte) (int, error) {
	<-c.open
	return c.Conn.Read(p)
}
