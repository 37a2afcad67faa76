package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"tollgate"

	"github.com/spf13/cobra"

	"tollgate/httpapi"
	"tollgate/ledger"
	"tollgate/payment"
	"tollgate/pricing"
	"tollgate/store/dial"
)

// benchOptions are the knobs of tollgate bench.
type benchOptions struct {
	url      string // a running server; empty starts one
	adminKey string
	accounts int
	clients  int
	duration time.Duration
	hotQuota int // credits on the overdraft-check account
	// noisyHolds pending holds on one account, read by noisyReaders more
	// clients during the noisy phase; zero skips it.
	noisyHolds, noisyReaders int
	profile                  string
	// preload settled holds are made in-process before the phases: a
	// database with a history.
	preload int
	// backup runs the holds phase again while a backup copies the
	// database.
	backup bool
	// videos measures POST /v1/videos instead: at videoRate creates a
	// second (open loop), then at saturation; the job runner is off, so
	// the create alone is measured.
	videos    bool
	videoRate int
	// phases are the HTTP phases to run, of healthz, holds and hot: a CPU
	// profile of one alone.
	phases string
	// baseline runs the holds and hot phases again against a naive
	// server in the same process on the same database: one transaction
	// per request, the anchor the engine's figures are compared with.
	baseline bool
	// openLoop, when positive, runs the holds at this many a second
	// whatever the answers' speed, timing each from when it was due: the
	// latency without coordinated omission.
	openLoop int
}

func benchCmd() *cobra.Command {
	c := newConfig()
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test holds over HTTP and report throughput, latency and a verify",
		Long: `bench starts a server on a fresh database in a temporary directory (or
targets --url), creates --accounts accounts, and runs --clients concurrent
HTTP clients for --duration in each phase:

  healthz    GET /healthz: the server's own ceiling on this machine
  holds      POST /v1/holds then capture or release (alternately), spread
             over all accounts
  hot        the same on one account
  noisy      the holds phase again, while one account holding
             --noisy-holds pending holds has its balance read by
             --noisy-readers more clients (with the admin key, which no
             rate limit slows): what one account costs the others
  overdraft  one-credit holds on an account holding --hot-quota credits,
             until refused: exactly --hot-quota must win

With --baseline, the holds and hot phases run again, each right after its
own, against a naive server started in the same process on the same
database: the same HTTP handlers over a ledger that commits one transaction
per request (sixteen at a time, as a web app with a connection pool would),
on accounts of its own. Its rate is the anchor the engine is compared with.

With --open-loop RATE, holds (each then captured or released) start at RATE
a second whatever the answers' speed, each timed from when it was due, so a
slow answer cannot hide the requests it would have delayed (no coordinated
omission); with --baseline, the naive server is measured the same way.

It reports operations per second and p50/p99/p999 latency per phase, then
runs verify on the database (when it started the server, or with
--database-url for a running one). Traffic goes to loopback only.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			return runBench(cmd.Context(), c, o, log, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "base URL of a running server (default: start one on a temporary database)")
	f.StringVar(&o.adminKey, "admin-key", c.AdminKey, "admin key of the server at --url")
	f.IntVar(&o.accounts, "accounts", 1000, "accounts to create")
	f.IntVar(&o.clients, "clients", 64, "concurrent HTTP clients")
	f.DurationVar(&o.duration, "duration", 5*time.Second, "length of each phase")
	f.IntVar(&o.hotQuota, "hot-quota", 2000, "credits on the overdraft-check account")
	f.IntVar(&o.noisyHolds, "noisy-holds", 1000, "pending holds of the noisy account (0 skips the noisy phase)")
	f.IntVar(&o.noisyReaders, "noisy-readers", 16, "clients reading the noisy account's balance")
	f.IntVar(&o.preload, "preload", 0, "settled holds (hold then capture) to make in-process before the phases, for a database with a history (started server only)")
	f.BoolVar(&o.videos, "videos", false, "measure video creates (POST /v1/videos, the hold and the job committed; no provider called) at --video-rate a second, then at saturation, instead of the holds phases (started server only)")
	f.IntVar(&o.videoRate, "video-rate", 100, "creates a second of the open-loop video phase")
	f.StringVar(&o.phases, "phases", "healthz,holds,hot", "the HTTP phases to run, comma-separated: healthz, holds, hot (one alone profiles it alone with --cpuprofile)")
	f.BoolVar(&o.baseline, "baseline", false, "run the holds and hot phases again against a naive one-transaction-per-request server in the same process on the same database (started server only)")
	f.IntVar(&o.openLoop, "open-loop", 0, "also run holds at this many a second, each timed from when it was due (0: not run)")
	f.BoolVar(&o.backup, "backup", false, "run the holds phase again while tollgate backup copies the database, and report it (started server on SQLite only)")
	f.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the whole run (server and clients) to this file")
	f.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "database of the server under test (default: a fresh SQLite file)")
	return cmd
}

// phaseResult is what one phase measured.
type phaseResult struct {
	Name     string
	Ops      int64 // successful requests
	Refused  int64 // 402s (overdraft phase)
	Errors   int64
	Elapsed  time.Duration
	P50, P99 time.Duration
	P999     time.Duration
	FirstErr string // the first error, to say what went wrong
	// CPU is the CPU time the phase cost this process (server and load
	// generator) and PostgreSQL.
	CPU cpuUse
}

// cpuLine says what the phase's operations cost in CPU, each.
func (p phaseResult) cpuLine() string {
	if p.Ops == 0 {
		return ""
	}
	per := func(d time.Duration) string { return (d / time.Duration(p.Ops)).Round(100 * time.Nanosecond).String() }
	line := fmt.Sprintf("          cpu: tollgate and the clients %s (%s an op, %.0f%% of a core)", p.CPU.Self.Round(10*time.Millisecond),
		per(p.CPU.Self), 100*p.CPU.Self.Seconds()/p.Elapsed.Seconds())
	if p.CPU.Postgres > 0 {
		line += fmt.Sprintf("; postgres %s (%s an op, %.0f%% of a core)", p.CPU.Postgres.Round(10*time.Millisecond), per(p.CPU.Postgres),
			100*p.CPU.Postgres.Seconds()/p.Elapsed.Seconds())
	}
	return line + "\n"
}

func (p phaseResult) rate() float64 { return float64(p.Ops) / p.Elapsed.Seconds() }

func runBench(ctx context.Context, c *config, o *benchOptions, log *slog.Logger, w io.Writer) (err error) {
	if o.clients < 1 || o.accounts < 1 || o.duration <= 0 {
		return errors.New("bench: --clients, --accounts and --duration must be positive")
	}
	out := &printer{w: w}
	defer func() { err = out.done(err) }()
	if o.profile != "" {
		var f *os.File
		f, err = os.Create(o.profile)
		if err != nil {
			return err
		}
		defer func() { // after StopCPUProfile: the profile is written when Close succeeds
			if cerr := f.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("bench: write the CPU profile: %w", cerr))
			}
		}()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var inst *instance
	if o.url == "" {
		var dir string // err is the result's: the deferred cleanups below join theirs to it
		dir, err = os.MkdirTemp("", "tollgate-bench-")
		if err != nil {
			return err
		}
		defer func() {
			if rerr := os.RemoveAll(dir); rerr != nil {
				err = errors.Join(err, fmt.Errorf("bench: remove the temporary directory: %w", rerr))
			}
		}()
		c.DataDir, c.Addr = dir, "127.0.0.1:0"
		if c.DatabaseURL == "" {
			c.DatabaseURL = "sqlite:" + filepath.Join(dir, "tollgate.db")
		}
		o.adminKey = fmt.Sprintf("bench-admin-%020d-%020d", rand.Int64(), rand.Int64())
		c.AdminKey = o.adminKey
		c.noVideoRunner = o.videos // the create alone is measured
		inst, _, err = start(ctx, c, log)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := inst.close(log); cerr != nil {
				err = errors.Join(err, fmt.Errorf("bench: stop the server: %w", cerr))
			}
		}()
		o.url = inst.URL
		out.printf("bench: started a server at %s on %s\n", o.url, inst.store.Kind())
		if d, ok := inst.store.(interface {
			Durability(context.Context) (string, error)
		}); ok {
			settings, err := d.Durability(ctx)
			if err != nil {
				return err
			}
			out.printf("bench: durability: %s\n", settings)
		}
	}
	if o.adminKey == "" {
		return errors.New("bench: --admin-key is required with --url")
	}
	b := &bencher{o: o, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: o.clients * 2, MaxIdleConnsPerHost: o.clients * 2, MaxConnsPerHost: 0},
	}}
	out.printf("bench: creating %d accounts\n", o.accounts)
	if err := b.setup(ctx); err != nil {
		return err
	}
	if o.preload > 0 {
		if inst == nil {
			return errors.New("bench: --preload needs the server bench starts (no --url)")
		}
		t := time.Now()
		if err := preload(ctx, inst.ledger, b.ids, o.preload); err != nil {
			return err
		}
		out.printf("bench: preloaded %d settled holds in %s (%.0f/s); database %s\n", o.preload, time.Since(t).Round(time.Second),
			float64(o.preload)/time.Since(t).Seconds(), dbSize(c))
	}
	if o.videos {
		if inst == nil {
			return errors.New("bench: --videos needs the server bench starts (no --url)")
		}
		return b.videoPhases(ctx, inst, out)
	}
	var naive *bencher // the baseline's server, with --baseline
	if o.baseline {
		if inst == nil {
			return errors.New("bench: --baseline needs the server bench starts (no --url)")
		}
		var stop func() error
		naive, stop, err = b.startBaseline(ctx, c, inst, log)
		if err != nil {
			return err
		}
		defer func() {
			if serr := stop(); serr != nil {
				err = errors.Join(err, fmt.Errorf("bench: stop the baseline server: %w", serr))
			}
		}()
		out.printf("bench: started the naive baseline at %s (one transaction per request, 16 at a time), creating its %d accounts\n", naive.o.url, o.accounts)
		if err := naive.setup(ctx); err != nil {
			return fmt.Errorf("bench: baseline: %w", err)
		}
	}
	out.printf("bench: %d clients, %s per phase\n", o.clients, o.duration)
	var results []phaseResult
	report := func(r phaseResult) {
		results = append(results, r)
		out.printf("%-9s %9.0f ops/s  p50 %-9s p99 %-9s p999 %-9s (%d ok, %d errors)\n",
			r.Name, r.rate(), r.P50, r.P99, r.P999, r.Ops, r.Errors)
		out.printf("%s", r.cpuLine())
		if r.FirstErr != "" {
			out.printf("          first error: %s\n", r.FirstErr)
		}
	}
	for _, ph := range []struct {
		name string
		fn   func(*bencher) func(context.Context, *rand.Rand, func(time.Duration)) error
	}{
		{"healthz", func(b *bencher) func(context.Context, *rand.Rand, func(time.Duration)) error { return b.healthz }},
		{"holds", func(b *bencher) func(context.Context, *rand.Rand, func(time.Duration)) error {
			return b.holdSettle(false)
		}},
		{"hot", func(b *bencher) func(context.Context, *rand.Rand, func(time.Duration)) error {
			return b.holdSettle(true)
		}},
	} {
		if o.phases != "" && !slices.Contains(strings.Split(o.phases, ","), ph.name) { // "": every one
			continue
		}
		report(b.phase(ctx, ph.name, ph.fn(b)))
		if naive != nil && ph.name != "healthz" {
			report(naive.phase(ctx, "naive-"+ph.name, ph.fn(naive)))
		}
	}
	if o.openLoop > 0 {
		for _, bb := range []*bencher{b, naive} {
			if bb == nil {
				continue
			}
			name := fmt.Sprintf("holds@%d", o.openLoop)
			if bb == naive {
				name = "naive@" + fmt.Sprint(o.openLoop)
			}
			r, late := bb.openLoop(ctx, name, o.openLoop, bb.holdSettleAt)
			results = append(results, r)
			out.printf("%-9s %9.0f ops/s  p50 %-9s p99 %-9s p999 %-9s (%d ok, %d errors; %s)\n",
				r.Name, r.rate(), r.P50, r.P99, r.P999, r.Ops, r.Errors, late)
			out.printf("%s", r.cpuLine())
			if r.FirstErr != "" {
				out.printf("          first error: %s\n", r.FirstErr)
			}
		}
	}
	if o.noisyHolds > 0 {
		out.printf("bench: making %d pending holds on one account\n", o.noisyHolds)
		if err := b.fillNoisy(ctx); err != nil {
			return err
		}
		r, reads := b.noisy(ctx)
		out.printf("%-9s %9.0f ops/s  p50 %-9s p99 %-9s p999 %-9s (%d ok, %d errors); %d balance reads of the noisy account (%.0f/s)\n",
			r.Name, r.rate(), r.P50, r.P99, r.P999, r.Ops, r.Errors, reads, float64(reads)/r.Elapsed.Seconds())
		if r.FirstErr != "" {
			out.printf("          first error: %s\n", r.FirstErr)
		}
		if i := slices.IndexFunc(results, func(p phaseResult) bool { return p.Name == "holds" }); i >= 0 {
			out.printf("noisy: the other accounts kept %.0f%% of their holds phase rate\n", 100*r.rate()/results[i].rate())
		}
	}
	if o.backup {
		if err := b.duringBackup(ctx, c, inst, out); err != nil {
			return err
		}
	}
	od := b.overdraft(ctx)
	out.printf("overdraft %d holds won, %d refused with 402, %d errors; quota %d: %s\n",
		od.Ops, od.Refused, od.Errors, o.hotQuota, verdict(od.Ops == int64(o.hotQuota) && od.Errors == 0))
	find := func(name string) (phaseResult, bool) {
		i := slices.IndexFunc(results, func(p phaseResult) bool { return p.Name == name })
		if i < 0 {
			return phaseResult{}, false
		}
		return results[i], true
	}
	h, okH := find("healthz")
	for _, name := range []string{"holds", "hot"} {
		r, ok := find(name)
		if !ok {
			continue
		}
		line := fmt.Sprintf("summary: %s %.0f ops/s (%.0f holds/s)", name, r.rate(), r.rate()/2)
		if okH && h.rate() > 0 {
			line += fmt.Sprintf(" = %.0f%% of healthz", 100*r.rate()/h.rate())
		}
		if n, ok := find("naive-" + name); ok && n.rate() > 0 {
			line += fmt.Sprintf(" = %.1fx the naive baseline (%.0f ops/s)", r.rate()/n.rate(), n.rate())
		}
		out.printf("%s\n", line)
	}

	var failed error
	if od.Ops != int64(o.hotQuota) || od.Errors > 0 {
		failed = fmt.Errorf("bench: overdraft check failed: %d holds won on %d credits", od.Ops, o.hotQuota)
	}
	// Verify the database the server wrote.
	var l *ledger.Ledger
	if inst != nil {
		l = inst.ledger
	} else if c.DatabaseURL != "" {
		s, oerr := dial.Open(ctx, c.DatabaseURL)
		if oerr != nil {
			return dbError(oerr)
		}
		defer closeStore(s, &err) // the result's err
		l = ledger.New(s, ledger.Options{})
	}
	if l == nil {
		out.printf("verify: skipped; pass --database-url to verify a running server's database\n")
		return failed
	}
	r, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	for _, v := range r.Violations {
		out.printf("VIOLATION %s\n", v)
	}
	out.printf("verify: %d accounts, %d grants, %d holds checked; %d violations\n", r.Accounts, r.Grants, r.Holds, len(r.Violations))
	if len(r.Violations) > 0 {
		return errors.Join(failed, fmt.Errorf("verify found %d violations", len(r.Violations)))
	}
	return failed
}

func verdict(ok bool) string {
	if ok {
		return "no overdraft"
	}
	return "FAILED"
}

type bencher struct {
	o       *benchOptions
	client  *http.Client
	ids     []string
	run     string
	settled atomic.Int64 // holds settled: odd ones captured, even ones released
}

func (b *bencher) do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		buf, _ := json.Marshal(body)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.o.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.o.adminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	// Read to the end below: closing it then has nothing to report.
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// benchPlan is the plan of the bench's accounts: the free plan's
// allowance, with room for the overdraft check's pending holds.
const benchPlan = "bench"

func (b *bencher) setup(ctx context.Context) error {
	if b.run == "" {
		b.run = fmt.Sprintf("b%d", time.Now().UnixNano()%1_000_000)
	}
	st, body, err := b.do(ctx, "GET", "/v1/plans", nil)
	if err != nil || st != 200 {
		return fmt.Errorf("list plans: %d %s %v", st, body, err)
	}
	if !bytes.Contains(body, []byte(`"id":"`+benchPlan+`"`)) {
		plan := map[string]any{"daily_allowances": map[string]string{"video": "30"}, "limits": map[string]int{"max_pending_holds": 1_000_000}}
		if st, body, err := b.do(ctx, "POST", "/v1/plans/"+benchPlan+"/versions", plan); err != nil || st != 201 {
			return fmt.Errorf("create the bench plan: %d %s %v", st, body, err)
		}
	}
	b.ids = make([]string, b.o.accounts)
	var wg sync.WaitGroup
	errs := make(chan error, b.o.accounts+2)
	sem := make(chan struct{}, 16)
	create := func(id, credits string) {
		defer wg.Done()
		sem <- struct{}{}
		defer func() { <-sem }()
		if st, body, err := b.do(ctx, "POST", "/v1/accounts", map[string]string{"id": id, "name": id, "plan": benchPlan}); err != nil || st != 201 {
			errs <- fmt.Errorf("create account %s: %d %s %v", id, st, body, err)
			return
		}
		if st, body, err := b.do(ctx, "POST", "/v1/accounts/"+id+"/grants", map[string]string{"credits": credits, "source": "admin"}); err != nil || st != 201 {
			errs <- fmt.Errorf("grant %s: %d %s %v", id, st, body, err)
		}
	}
	for i := range b.ids {
		b.ids[i] = fmt.Sprintf("%s-%05d", b.run, i)
		wg.Add(1)
		go create(b.ids[i], "1000000")
	}
	wg.Add(3)
	go create(b.run+"-noisy", "1000000000")
	go create(b.run+"-hot", "1000000000")
	go create(b.run+"-quota", fmt.Sprint(b.o.hotQuota))
	wg.Wait()
	close(errs)
	return <-errs
}

// phase runs fn from every client for the duration; fn reports the
// latency of each request it makes.
func (b *bencher) phase(ctx context.Context, name string, fn func(context.Context, *rand.Rand, func(time.Duration)) error) phaseResult {
	ctx, cancel := context.WithTimeout(ctx, b.o.duration)
	defer cancel()
	var ops, errs atomic.Int64
	var firstErr sync.Once
	var first string
	lat := make([][]time.Duration, b.o.clients)
	var wg sync.WaitGroup
	start, cpu := time.Now(), cpuNow()
	for i := range b.o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			rec := func(d time.Duration) {
				ops.Add(1)
				lat[i] = append(lat[i], d)
			}
			for ctx.Err() == nil {
				if err := fn(ctx, rng, rec); err != nil && ctx.Err() == nil {
					errs.Add(1)
					firstErr.Do(func() { first = err.Error() })
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	return phaseResult{Name: name, Ops: ops.Load(), Errors: errs.Load(), Elapsed: elapsed,
		P50: pct(all, 0.50), P99: pct(all, 0.99), P999: pct(all, 0.999), FirstErr: first, CPU: cpuNow().sub(cpu)}
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))].Round(10 * time.Microsecond)
}

func (b *bencher) healthz(ctx context.Context, _ *rand.Rand, rec func(time.Duration)) error {
	t := time.Now()
	st, _, err := b.do(ctx, "GET", "/healthz", nil)
	if err == nil && st != 200 {
		err = fmt.Errorf("healthz: %d", st)
	}
	if err == nil {
		rec(time.Since(t))
	}
	return err
}

// holdSettle takes a one-credit hold and captures or releases it: two
// requests, each timed on its own.
func (b *bencher) holdSettle(hot bool) func(context.Context, *rand.Rand, func(time.Duration)) error {
	return func(ctx context.Context, rng *rand.Rand, rec func(time.Duration)) error {
		acct := b.run + "-hot"
		if !hot {
			acct = b.ids[rng.IntN(len(b.ids))]
		}
		return b.holdThenSettle(ctx, acct, time.Now(), rec)
	}
}

// holdSettleAt is holdSettle spread over the accounts for the open loop:
// the hold is timed from when it was due, the settle from when it was sent
// (at once after the hold's answer).
func (b *bencher) holdSettleAt(ctx context.Context, rng *rand.Rand, due time.Time, rec func(time.Duration)) error {
	return b.holdThenSettle(ctx, b.ids[rng.IntN(len(b.ids))], due, rec)
}

// holdThenSettle takes a one-credit hold on acct, timed from since, then
// captures or releases it (alternately), timed from when it is sent.
func (b *bencher) holdThenSettle(ctx context.Context, acct string, since time.Time, rec func(time.Duration)) error {
	st, body, err := b.do(ctx, "POST", "/v1/holds", map[string]string{"account_id": acct, "product": "video", "credits": "1"})
	if err != nil || st != 201 {
		return fmt.Errorf("hold: %d %s %v", st, body, err)
	}
	rec(time.Since(since))
	var h struct{ ID string }
	if err := json.Unmarshal(body, &h); err != nil {
		return err
	}
	op := "capture"
	if b.settled.Add(1)%2 == 0 {
		op = "release"
	}
	t := time.Now()
	st, body, err = b.do(ctx, "POST", "/v1/holds/"+h.ID+"/"+op, nil)
	if err != nil || st != 200 {
		return fmt.Errorf("%s: %d %s %v", op, st, body, err)
	}
	rec(time.Since(t))
	return nil
}

// startBaseline starts the naive server for --baseline: the same HTTP
// handlers over a second ledger on the instance's database, committing one
// transaction per request with sixteen in flight (MaxBatch 1, as the
// in-process BenchmarkLedger's naive case), on its own loopback port and
// its own accounts, so that the instance's state cache never holds what
// it writes. It returns a bencher aimed at it and what stops it.
func (b *bencher) startBaseline(ctx context.Context, c *config, inst *instance, log *slog.Logger) (*bencher, func() error, error) {
	l := inst.newLedger(ledger.Options{MaxBatch: 1, Committers: 16, AdminKeys: c.admins, Logger: log})
	if err := l.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, nil, err
	}
	quotes := &pricing.Quotes{Records: l, Clock: l.Clock()}
	api := httpapi.New(httpapi.Config{Ledger: l, Quotes: quotes, Payments: &payment.Service{Ledger: l, Clock: l.Clock()}, Log: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l.Stop()
		return nil, nil, err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with Shutdown below, which reports
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		l.Stop()
		return err
	}
	o := *b.o
	o.url = "http://" + ln.Addr().String()
	return &bencher{o: &o, client: b.client, run: b.run + "n"}, stop, nil
}

// fillNoisy makes --noisy-holds pending holds, of an hour, on the noisy
// account.
func (b *bencher) fillNoisy(ctx context.Context) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range b.o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.o.noisyHolds) && ctx.Err() == nil {
				st, body, err := b.do(ctx, "POST", "/v1/holds", map[string]any{"account_id": b.run + "-noisy", "product": "video",
					"credits": "1", "ttl_seconds": 3600, "metadata": map[string]string{"job": "noisy"}})
				if err != nil || st != 201 {
					once.Do(func() { first = fmt.Errorf("noisy hold: %d %s %v", st, body, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// noisy runs the holds phase while more clients read the noisy account's
// balance, and returns the phase and how many reads they made.
func (b *bencher) noisy(ctx context.Context) (phaseResult, int64) {
	rctx, stop := context.WithCancel(ctx)
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range b.o.noisyReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rctx.Err() == nil {
				if st, _, err := b.do(rctx, "GET", "/v1/accounts/"+b.run+"-noisy/balance", nil); err == nil && st == 200 {
					reads.Add(1)
				}
			}
		}()
	}
	r := b.phase(ctx, "noisy", b.holdSettle(false))
	stop()
	wg.Wait()
	return r, reads.Load()
}

// overdraft races every client for one-credit holds on an account holding
// hotQuota credits, until each has been refused.
func (b *bencher) overdraft(ctx context.Context) phaseResult {
	var won, refused, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline, cancel := context.WithTimeout(ctx, 10*b.o.duration)
	defer cancel()
	for range b.o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for deadline.Err() == nil {
				st, _, err := b.do(deadline, "POST", "/v1/holds", map[string]string{"account_id": b.run + "-quota", "product": "assistant", "credits": "1"})
				switch {
				case err != nil:
					errs.Add(1)
					return
				case st == 201:
					won.Add(1)
				case st == 402:
					refused.Add(1)
					return
				default:
					errs.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	return phaseResult{Name: "overdraft", Ops: won.Load(), Refused: refused.Load(), Errors: errs.Load(), Elapsed: time.Since(start)}
}

// preload makes n one-credit holds, each captured at once, spread over
// the accounts, through the ledger in-process: a history for the phases
// to run on.
func preload(ctx context.Context, l *ledger.Ledger, accounts []string, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 256)
	for range 256 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) || ctx.Err() != nil {
					return
				}
				h, err := l.Hold(ctx, ledger.HoldParams{AccountID: accounts[int(i)%len(accounts)], Product: tollgate.ProductVideo,
					Credits: tollgate.WholeCredits(1)})
				if err == nil {
					_, err = l.Capture(ctx, ledger.CaptureParams{HoldID: h.ID})
				}
				if err != nil {
					errs <- fmt.Errorf("bench: preload: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// dbSize is the size of the SQLite database and its WAL, or "?".
func dbSize(c *config) string {
	p, err := c.sqlitePath()
	if err != nil {
		return "(PostgreSQL)"
	}
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(p + suffix); err == nil {
			n += st.Size()
		}
	}
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}

// duringBackup runs the holds phase while a backup of the database runs,
// for as long as the backup takes (at least the phase's duration), and
// reports both.
func (b *bencher) duringBackup(ctx context.Context, c *config, inst *instance, out *printer) error {
	if inst == nil {
		return errors.New("bench: --backup needs the server bench starts (no --url)")
	}
	if _, err := c.sqlitePath(); err != nil {
		return errors.New("bench: --backup is for SQLite; PostgreSQL is backed up with pg_dump")
	}
	dir, err := os.MkdirTemp("", "tollgate-bench-backup-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary copy
	type result struct {
		m   manifest
		d   time.Duration
		err error
	}
	done := make(chan result, 1)
	phaseCtx, cancel := context.WithCancel(ctx)
	least := b.o.duration
	go func() {
		t := time.Now()
		m, err := backup(ctx, &config{DatabaseURL: c.DatabaseURL}, filepath.Join(dir, "bench.backup"), nil)
		res := result{m, time.Since(t), err}
		time.Sleep(max(0, least-res.d))
		cancel()
		done <- res
	}()
	saved := b.o.duration
	b.o.duration = 24 * time.Hour // until the backup ends
	r := b.phase(phaseCtx, "backup", b.holdSettle(false))
	b.o.duration = saved
	res := <-done
	if res.err != nil {
		return res.err
	}
	var size int64
	for _, f := range res.m.Files {
		size += f.Size
	}
	st, _ := os.Stat(filepath.Join(dir, "bench.backup"))
	out.printf("%-9s %9.0f ops/s  p50 %-9s p99 %-9s p999 %-9s (%d ok, %d errors) while a backup of %.0f MB took %s (archive %.0f MB)\n",
		r.Name, r.rate(), r.P50, r.P99, r.P999, r.Ops, r.Errors, float64(size)/1e6, res.d.Round(time.Millisecond), float64(st.Size())/1e6)
	if r.FirstErr != "" {
		out.printf("          first error: %s\n", r.FirstErr)
	}
	return nil
}

// videoPhases measures POST /v1/videos: open loop at --video-rate, then
// closed loop with every client (saturation); then a verify.
func (b *bencher) videoPhases(ctx context.Context, inst *instance, out *printer) error {
	create := func(ctx context.Context, rng *rand.Rand) error {
		acct := b.ids[rng.IntN(len(b.ids))]
		st, body, err := b.do(ctx, "POST", "/v1/videos", map[string]any{"prompt": "a lighthouse at dusk", "model": "sora-2", "seconds": "4",
			"size": "1280x720", "tollgate": map[string]string{"account_id": acct}})
		if err == nil && st != 200 {
			err = fmt.Errorf("create: %d %s", st, body)
		}
		return err
	}
	rate := max(b.o.videoRate, 1)
	open, late := b.openLoop(ctx, fmt.Sprintf("videos@%d", rate), rate, func(ctx context.Context, rng *rand.Rand, due time.Time, rec func(time.Duration)) error {
		err := create(ctx, rng)
		if err == nil {
			rec(time.Since(due))
		}
		return err
	})
	out.printf("%-12s %7.0f creates/s  p50 %-9s p99 %-9s p999 %-9s (%d ok, %d errors; %s)\n", open.Name, open.rate(),
		open.P50, open.P99, open.P999, open.Ops, open.Errors, late)
	closed := b.phase(ctx, "videos", func(ctx context.Context, rng *rand.Rand, rec func(time.Duration)) error {
		t := time.Now()
		err := create(ctx, rng)
		if err == nil {
			rec(time.Since(t))
		}
		return err
	})
	out.printf("%-12s %7.0f creates/s  p50 %-9s p99 %-9s p999 %-9s (%d ok, %d errors; %d clients)\n", closed.Name, closed.rate(), closed.P50, closed.P99,
		closed.P999, closed.Ops, closed.Errors, b.o.clients)
	out.printf("%s", closed.cpuLine())
	for _, r := range []phaseResult{open, closed} {
		if r.FirstErr != "" {
			out.printf("             first error of %s: %s\n", r.Name, r.FirstErr)
		}
	}
	r, err := inst.ledger.Verify(ctx)
	if err != nil {
		return err
	}
	out.printf("verify: %d accounts, %d holds checked; %d violations\n", r.Accounts, r.Holds, len(r.Violations))
	if len(r.Violations) > 0 || open.Errors+closed.Errors > 0 {
		return fmt.Errorf("bench: %d violations, %d errors", len(r.Violations), open.Errors+closed.Errors)
	}
	return nil
}

// openLoop starts fn at rate a second for the duration, each in its own
// goroutine: a slow answer delays no later request. fn times what it
// sends from due, when it should have started, so that the generator's
// own lateness counts against the figures rather than hiding requests (no
// coordinated omission); how late the generator started them is returned
// beside, at p99, to tell the two apart.
func (b *bencher) openLoop(ctx context.Context, name string, rate int, fn func(context.Context, *rand.Rand, time.Time, func(time.Duration)) error) (phaseResult, openLate) {
	every := time.Second / time.Duration(rate)
	start, cpu := time.Now(), cpuNow()
	n := int(b.o.duration / every)
	var mu sync.Mutex
	var lat, late, fromSent []time.Duration
	var errs atomic.Int64
	var first string
	var wg sync.WaitGroup
	for i := range n {
		due := start.Add(time.Duration(i) * every)
		waitUntil(due)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			sent := time.Now()
			var mine []time.Duration
			err := fn(ctx, rng, due, func(d time.Duration) { mine = append(mine, d) })
			mu.Lock()
			defer mu.Unlock()
			late = append(late, sent.Sub(due))
			lat = append(lat, mine...)
			if len(mine) > 0 { // the first is timed from due; the same from when it was sent
				mine[0] -= sent.Sub(due)
			}
			fromSent = append(fromSent, mine...)
			if err != nil && errs.Add(1) == 1 {
				first = err.Error()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	slices.Sort(late)
	slices.Sort(fromSent)
	return phaseResult{Name: name, Ops: int64(len(lat)), Errors: errs.Load(), Elapsed: time.Since(start),
		P50: pct(lat, 0.50), P99: pct(lat, 0.99), P999: pct(lat, 0.999), FirstErr: first, CPU: cpuNow().sub(cpu)}, openLate{P99: pct(late, 0.99), SentP99: pct(fromSent, 0.99)}
}

// waitUntil returns at t. Go's timers wake up to a millisecond late on
// Linux (its poller's timeout is in milliseconds), which would count
// against every open-loop request; so it sleeps until 1.5 ms before t and
// yields in a loop from there, at the cost of some CPU in the generator.
func waitUntil(t time.Time) {
	if d := time.Until(t) - 1500*time.Microsecond; d > 0 {
		time.Sleep(d)
	}
	for time.Now().Before(t) {
		runtime.Gosched()
	}
}

// openLate is what the open loop says of its own timing: how late, at
// p99, the generator started requests, and the p99 of the requests timed
// from when they were sent instead of due (the server's share).
type openLate struct{ P99, SentP99 time.Duration }

func (l openLate) String() string {
	return fmt.Sprintf("timed from when due; the generator up to %s late at p99; p99 from when sent %s", l.P99, l.SentP99)
}
