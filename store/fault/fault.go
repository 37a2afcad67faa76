// Package fault injects the failures a billing system must survive into a
// store's commits, for tests: a COMMIT that takes effect but whose answer is
// lost, and one that fails before it reaches the database. A Plan says
// which commits fail; OpenSQLite wraps SQLite's driver with it and
// OpenPostgres puts a proxy that follows it between the store and the
// server.
package fault

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Action is what happens to one COMMIT.
type Action int

// Actions.
const (
	Pass       Action = iota // the commit goes through and is answered
	LoseAnswer               // the commit takes effect, then the connection drops before the answer
	FailBefore               // the connection drops before the commit reaches the database
)

// Plan decides the fate of each COMMIT. It is safe for concurrent use; its
// zero value lets every commit pass.
type Plan struct {
	mu         sync.Mutex
	next       []Action // decided ahead, in order
	lose, fail int      // per mille of the other commits
	rnd        *rand.Rand

	// Counts of commits seen and of each fault injected.
	Commits, Lost, Failed atomic.Int64
}

// Next makes the next commits meet the given actions, in order, before the
// rates apply again.
func (p *Plan) Next(actions ...Action) {
	p.mu.Lock()
	p.next = append(p.next, actions...)
	p.mu.Unlock()
}

// Rates makes lose and fail commits in a thousand (drawn at random, from a
// fixed seed so a run can be repeated) meet LoseAnswer and FailBefore.
func (p *Plan) Rates(lose, fail int) {
	p.mu.Lock()
	p.lose, p.fail = lose, fail
	if p.rnd == nil {
		p.rnd = rand.New(rand.NewPCG(1, 2))
	}
	p.mu.Unlock()
}

// Clear lets every commit pass from now on.
func (p *Plan) Clear() {
	p.mu.Lock()
	p.next, p.lose, p.fail = nil, 0, 0
	p.mu.Unlock()
}

// Commit decides the fate of one COMMIT and counts it.
func (p *Plan) Commit() Action {
	if p == nil {
		return Pass
	}
	p.Commits.Add(1)
	p.mu.Lock()
	a := Pass
	switch {
	case len(p.next) > 0:
		a, p.next = p.next[0], p.next[1:]
	case p.lose > 0 || p.fail > 0:
		switch n := p.rnd.IntN(1000); {
		case n < p.lose:
			a = LoseAnswer
		case n < p.lose+p.fail:
			a = FailBefore
		}
	}
	p.mu.Unlock()
	switch a {
	case LoseAnswer:
		p.Lost.Add(1)
	case FailBefore:
		p.Failed.Add(1)
	}
	return a
}
