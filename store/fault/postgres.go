package fault

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"tollgate/store/postgres"
	"tollgate/store/postgres/pgtest"
)

// Proxy forwards PostgreSQL connections on loopback and follows a Plan at
// each COMMIT it sees (the simple-protocol "commit" that pgx sends):
// LoseAnswer forwards the COMMIT and drops the connection, so the server
// commits and the client never hears it; FailBefore drops the connection
// without forwarding it, so the server rolls back. CutAll drops every
// connection at once, as a network cut or a server restart would.
type Proxy struct {
	plan   *Plan
	target string
	ln     net.Listener

	mu    sync.Mutex
	conns map[net.Conn]net.Conn // client -> server
	down  bool
	wg    sync.WaitGroup
}

// Down makes the server unreachable (every connection dropped, new ones
// refused) when down is true, and reachable again when it is false.
func (p *Proxy) Down(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.CutAll()
	}
}

// NewProxy listens on a loopback port and forwards to target (host:port).
func NewProxy(target string, plan *Plan) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{plan: plan, target: target, ln: ln, conns: map[net.Conn]net.Conn{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting and drops every connection.
func (p *Proxy) Close() {
	// Closing the listener only stops accept; its error (already closed)
	// changes nothing of that.
	_ = p.ln.Close()
	p.CutAll()
	p.wg.Wait()
}

// CutAll drops every connection in flight.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	for c, s := range p.conns {
		drop(c)
		drop(s)
	}
	p.mu.Unlock()
}

// drop closes a connection that the proxy is done with, or cuts on purpose.
// Its error is of no interest: most often the other side, or the other
// direction's goroutine, has closed it first, and either way it is gone.
func drop(c net.Conn) { _ = c.Close() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			drop(c)
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			drop(c)
			continue
		}
		p.mu.Lock()
		p.conns[c] = s
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			// Server to client, until either side goes: how it ended (an
			// error when the connection is cut) is of no interest.
			_, _ = io.Copy(c, s)
			drop(c)
		}()
		go func() {
			defer p.wg.Done()
			p.forward(c, s)
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		}()
	}
}

// forward copies client messages to the server, message by message.
func (p *Proxy) forward(c, s net.Conn) {
	defer drop(c)
	defer drop(s)
	r := newReader(c)
	// Untyped messages until the startup message: SSL and GSS requests
	// come first, each answered by the server with one byte.
	for {
		msg, err := r.untyped()
		if err != nil {
			return
		}
		if _, err := s.Write(msg); err != nil {
			return
		}
		code := binary.BigEndian.Uint32(msg[4:8])
		if code != 80877103 && code != 80877104 {
			break
		}
	}
	for {
		msg, err := r.typed()
		if err != nil {
			return
		}
		if msg[0] == 'Q' && isCommit(msg[5:]) {
			switch p.plan.Commit() {
			case LoseAnswer:
				// The client's side goes first, so that no answer the
				// server sends can reach it; then the server gets the
				// COMMIT, and time to read it before it sees the end.
				drop(c)
				// Should the write fail, the server never sees the COMMIT
				// and rolls back: the client, its answer lost, has to find
				// out which either way.
				_, _ = s.Write(msg)
				time.Sleep(100 * time.Millisecond)
				return
			case FailBefore:
				return
			}
		}
		if _, err := s.Write(msg); err != nil {
			return
		}
	}
}

func isCommit(q []byte) bool {
	q = bytes.TrimRight(q, "\x00")
	return bytes.EqualFold(bytes.TrimSpace(q), []byte("commit"))
}

type reader struct{ r io.Reader }

func newReader(r io.Reader) *reader { return &reader{r: r} }

func (r *reader) untyped() ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r.r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size < 8 || size > 1<<20 {
		return nil, errors.New("fault: bad startup message")
	}
	msg := make([]byte, size)
	copy(msg, n[:])
	_, err := io.ReadFull(r.r, msg[4:])
	return msg, err
}

func (r *reader) typed() ([]byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(h[1:])
	if size < 4 || size > 1<<30 {
		return nil, errors.New("fault: bad message")
	}
	msg := make([]byte, 1+size)
	copy(msg, h[:])
	_, err := io.ReadFull(r.r, msg[5:])
	return msg, err
}

// OpenPostgres opens a fresh schema of the PostgreSQL database at dbURL,
// reached through a Proxy that follows plan. Both are closed, and the
// schema dropped, when tb ends.
func OpenPostgres(tb testing.TB, dbURL string, plan *Plan) (*postgres.DB, *Proxy) {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	p, err := NewProxy(host, plan)
	if err != nil {
		tb.Fatal(err)
	}
	u.Host = p.Addr()
	db, cleanup, err := pgtest.OpenSchema(context.Background(), u.String())
	if err != nil {
		p.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		plan.Clear()
		cleanup()
		p.Close()
	})
	return db, p
}
