package engine

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// The library's order, replayed: it answers 101, starts reading the new
// connection, and only later listens for what is read. A probe the client sent
// at once must reach the reader after the listener is in place.
func TestUpgradeReadsWaitForTheUpgradeHandler(t *testing.T) {
	type read struct {
		listening bool // whether the handler was done when the read returned
		data      string
	}
	reads := make(chan read, 1)
	var listening atomic.Bool
	serve := func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\n")
		brw.Flush()
		go func() { // the library's reader goroutine
			b := make([]byte, 16)
			n, _ := brw.Read(b)
			reads <- read{listening.Load(), string(b[:n])}
			conn.Close()
		}()
		time.Sleep(100 * time.Millisecond) // the client's probe arrives meanwhile
		listening.Store(true)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		holdUpgradeReads(w, r, serve)
	}))
	defer ts.Close()

	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || status != "HTTP/1.1 101 Switching Protocols\r\n" {
		t.Fatalf("answer %q %v", status, err)
	}
	c.Write([]byte("2probe"))
	select {
	case got := <-reads:
		if got.data != "2probe" {
			t.Fatalf("read %q", got.data)
		}
		if !got.listening {
			t.Fatal("the probe was read before the upgrade handler was done")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the probe was never read")
	}
}
