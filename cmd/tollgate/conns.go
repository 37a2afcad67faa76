package main

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// connLimit keeps a server under a number of open connections. Idle
// keep-alive connections are closed, oldest first, to make room for new
// ones; only when every connection is busy is a new one refused. So idle
// clients can never exhaust the server's file descriptors and lock out
// others.
type connLimit struct {
	max int
	log *slog.Logger

	mu      sync.Mutex
	open    int                    // connections the server has, closing ones included
	closing map[net.Conn]bool      // closed here, their StateClosed not yet seen
	idle    map[net.Conn]time.Time // since when
	refused int64
}

func newConnLimit(max int, log *slog.Logger) *connLimit {
	return &connLimit{max: max, log: log, idle: map[net.Conn]time.Time{}, closing: map[net.Conn]bool{}}
}

// track is an http.Server's ConnState hook.
func (l *connLimit) track(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateNew:
		// Connections closed here are counted out by their StateClosed.
		l.open++
		excess := l.open - l.max - len(l.closing)
		for ; excess > 0 && len(l.idle) > 0; excess-- {
			var oldest net.Conn
			var at time.Time
			for ic, t := range l.idle {
				if oldest == nil || t.Before(at) {
					oldest, at = ic, t
				}
			}
			delete(l.idle, oldest)
			l.closing[oldest] = true
			l.drop(oldest)
		}
		if excess > 0 {
			l.refused++
			if l.refused == 1 || l.refused%1000 == 0 {
				l.log.Warn("connection refused: every connection is busy; raise TOLLGATE_MAX_CONNS or add instances", "max", l.max, "refused", l.refused)
			}
			l.closing[c] = true
			l.drop(c)
		}
	case http.StateIdle:
		l.idle[c] = time.Now()
	case http.StateActive:
		delete(l.idle, c)
	case http.StateClosed, http.StateHijacked:
		delete(l.idle, c)
		delete(l.closing, c)
		l.open--
	}
}

// drop closes a connection to make room. Its StateClosed counts it out
// whether or not Close reports an error, and the client is gone either
// way: there is nothing to undo, only something to note when debugging.
func (l *connLimit) drop(c net.Conn) {
	if err := c.Close(); err != nil {
		l.log.Debug("closing a connection to make room", "remote", c.RemoteAddr(), "err", err)
	}
}

// raiseFileLimit raises the soft limit on open files to the hard one, and
// returns the limit in force.
func raiseFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			rl = want
		}
	}
	return rl.Cur
}
