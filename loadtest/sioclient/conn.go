package sioclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Config describes one client connection. The zero value of every optional
// field is a usable default.
type Config struct {
	// URL is the full WebSocket URL, e.g.
	// ws://127.0.0.1:8081/socket.io/?EIO=4&transport=websocket.
	URL string
	// Auth is the JSON object sent with CONNECT, e.g. {"token":..,"device":..}.
	Auth []byte
	// LocalIP is the source address to dial from; nil lets the kernel pick.
	// Spreading clients over 127.0.0.x keeps one source IP's ephemeral ports
	// from running out.
	LocalIP net.IP
	// Timeout bounds dial + OPEN + CONNECT (default 10s).
	Timeout time.Duration
	// OnEvent is called on the connection's reading goroutine for every
	// EVENT of the default namespace, before its acknowledgement is sent.
	// name and args alias a pooled buffer: copy what must outlive the call.
	OnEvent func(name, args []byte)
	// OnAck is called on the reading goroutine for every ACK of the default
	// namespace (the answer to Emit with an id): args is the JSON array
	// `[...]` of the ack's arguments, aliasing a pooled buffer.
	OnAck func(id int64, args []byte)
}

// ConnectError is the server's CONNECT_ERROR: `44{"message":..,"data":..}`.
type ConnectError struct {
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("connect_error: %s %s", e.Message, e.Data)
}

// ErrServerDisconnect is returned by Run when the server sent DISCONNECT or
// an Engine.IO CLOSE.
var ErrServerDisconnect = errors.New("sioclient: server disconnect")

// Conn is one socket.io session. Run's goroutine answers PINGs and events
// while Emit may be called from any other, so every write holds wmu (which
// also guards wbuf); Close may be called from anywhere.
type Conn struct {
	nc      net.Conn
	r       io.Reader     // nc, or the dialer's bufio.Reader holding early bytes
	br      *bufio.Reader // returned to gobwas's pool on Close
	onEvent func(name, args []byte)
	onAck   func(id int64, args []byte)
	hdr     [14]byte
	cur     *[]byte    // the pooled buffer of the message being handled
	wmu     sync.Mutex // one write at a time on the wire, and wbuf, pend
	wbuf    []byte     // reused for every outgoing packet
	// pend holds acks until nothing more is buffered to read: one write
	// then carries the acks of every event that arrived in one read.
	pend []byte
	rd   *bufio.Reader
	// idle bounds the silence between frames: the server pings every
	// PingInterval and drops us after PingTimeout, so more than both means
	// the connection is dead.
	idle time.Duration
	SID  string
	// PingInterval and PingTimeout are the server's, from OPEN.
	PingInterval, PingTimeout time.Duration
	closeOnce                 sync.Once
	pings                     atomic.Int64
	lastPing                  atomic.Int64 // unix ns
}

// Pings returns how many Engine.IO PINGs the server sent and when the last
// one arrived (zero time if none): what tells a missed PING from a lost PONG
// when the server drops us for "ping timeout".
func (c *Conn) Pings() (int64, time.Time) {
	last := c.lastPing.Load()
	if last == 0 {
		return c.pings.Load(), time.Time{}
	}
	return c.pings.Load(), time.Unix(0, last)
}

// bufPool holds read buffers; a connection holds one only while a message is
// being read and handled, so an idle connection costs none.
// readBufSize is each connection's read buffer.
const readBufSize = 1024

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// Dial connects, reads OPEN, sends CONNECT with cfg.Auth and waits for the
// server's CONNECT (or CONNECT_ERROR, returned as *ConnectError).
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := ws.Dialer{
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{}
			if cfg.LocalIP != nil {
				nd.LocalAddr = &net.TCPAddr{IP: cfg.LocalIP}
				nd.Control = bindNoPort
			}
			return nd.DialContext(ctx, network, addr)
		},
	}
	nc, br, _, err := d.Dial(ctx, cfg.URL)
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: nc, r: nc, onEvent: cfg.OnEvent, onAck: cfg.OnAck, wbuf: make([]byte, 0, 64)}
	if br != nil {
		c.r, c.br = br, br
	}
	// A small buffer: several pushed messages per read, not three reads
	// (header, length, payload) per message.
	c.rd = bufio.NewReaderSize(c.r, readBufSize)
	c.r = c.rd
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	if err := c.handshake(cfg.Auth); err != nil {
		c.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *Conn) handshake(auth []byte) error {
	msg, err := c.readMessage()
	if err != nil {
		return err
	}
	if len(msg) == 0 || msg[0] != eioOpen {
		c.release()
		return fmt.Errorf("sioclient: expected OPEN, got %.40q", msg)
	}
	var open struct {
		SID          string `json:"sid"`
		PingInterval int64  `json:"pingInterval"`
		PingTimeout  int64  `json:"pingTimeout"`
	}
	err = json.Unmarshal(msg[1:], &open)
	c.release()
	if err != nil {
		return fmt.Errorf("sioclient: OPEN: %w", err)
	}
	c.SID = open.SID
	c.PingInterval = time.Duration(open.PingInterval) * time.Millisecond
	c.PingTimeout = time.Duration(open.PingTimeout) * time.Millisecond
	c.idle = c.PingInterval + c.PingTimeout + 5*time.Second
	c.wmu.Lock()
	err = c.writeText(AppendConnect(c.wbuf[:0], auth))
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	for {
		msg, err := c.readMessage()
		if err != nil {
			return err
		}
		done, err := c.handshakeReply(msg)
		c.release()
		if done || err != nil {
			return err
		}
	}
}

// handshakeReply handles one message while waiting for CONNECT's answer.
func (c *Conn) handshakeReply(msg []byte) (done bool, err error) {
	if len(msg) == 0 {
		return false, nil
	}
	switch msg[0] {
	case eioPing:
		return false, c.writePong()
	case eioClose:
		return true, ErrServerDisconnect
	case eioMessage:
	default:
		return false, nil
	}
	p, err := ParseSIO(msg[1:])
	if err != nil || p.Namespace != nil {
		return false, err
	}
	switch p.Type {
	case TypeConnect:
		return true, nil
	case TypeConnectError:
		ce := &ConnectError{}
		if json.Unmarshal(p.Data, ce) != nil {
			ce.Message = string(p.Data)
		}
		return true, ce
	}
	return false, fmt.Errorf("sioclient: unexpected packet %q before CONNECT", p.Type)
}

// Run reads until the connection ends, answering PINGs and acknowledging
// events. It returns the reason the connection ended.
func (c *Conn) Run() error {
	// The dialer's reader goes back to its pool only from here, once
	// nothing reads it any more: Close, from another goroutine, must not
	// hand it to another connection while this one is still reading.
	defer c.putReader()
	for {
		if c.idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.idle))
		}
		msg, err := c.readMessage()
		if err != nil {
			return err
		}
		err = c.handle(msg)
		c.release()
		if err == nil && c.rd.Buffered() == 0 {
			c.wmu.Lock()
			err = c.flushLocked()
			c.wmu.Unlock()
		}
		if err != nil {
			return err
		}
	}
}

func (c *Conn) handle(msg []byte) error {
	if len(msg) == 0 {
		return nil
	}
	switch msg[0] {
	case eioPing:
		c.pings.Add(1)
		c.lastPing.Store(time.Now().UnixNano())
		return c.writePong()
	case eioClose:
		return ErrServerDisconnect
	case eioMessage:
	default: // PONG, NOOP, UPGRADE: nothing to do on a WebSocket-only client
		return nil
	}
	p, err := ParseSIO(msg[1:])
	if err != nil {
		return err
	}
	if p.Namespace != nil {
		return nil
	}
	switch p.Type {
	case TypeEvent:
		name, args, err := SplitEvent(p.Data)
		if err != nil {
			return err
		}
		if c.onEvent != nil {
			c.onEvent(name, args)
		}
		if p.AckID >= 0 {
			c.wmu.Lock()
			c.appendFrame(AppendAck(c.wbuf[:0], p.AckID)) // written by Run
			c.wmu.Unlock()
		}
	case TypeAck:
		if c.onAck != nil {
			c.onAck(p.AckID, p.Data)
		}
	case TypeDisconnect:
		return ErrServerDisconnect
	}
	return nil
}

func (c *Conn) writePong() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeText(append(c.wbuf[:0], eioPong))
}

// Emit sends the EVENT `42<id>["name",arg]` (no ack id when id < 0); the
// server's answer arrives at Config.OnAck with the same id. arg is one JSON
// value, name is written verbatim (it must need no JSON escaping). Safe to
// call from any goroutine, concurrently with Run.
func (c *Conn) Emit(id int64, name string, arg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = AppendEvent(c.wbuf[:0], id, name, arg)
	return c.writeText(c.wbuf)
}

// Close ends the connection; Run then returns.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.nc.Close() })
	return err
}

// putReader returns the dialer's reader to gobwas's pool (Run's last step;
// a connection that never ran leaves it to the collector).
func (c *Conn) putReader() {
	if c.br != nil {
		ws.PutReader(c.br)
		c.br = nil
	}
}

// LocalAddr is the connection's source address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }
