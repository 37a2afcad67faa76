package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
	"tollgate/clocktest"
	"tollgate/gateway"
	"tollgate/ledger"
	"tollgate/payment"
	"tollgate/pricing"
	"tollgate/provider/local"
	"tollgate/router"
	"tollgate/store"
	"tollgate/store/postgres/pgtest"
	"tollgate/store/record"
	"tollgate/store/sqlite"
)

// adminKey is the admin key every test env bootstraps.
const adminKey = "admin-secret"

// testStart is when every env's clock starts: a Saturday morning in UTC.
var testStart = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// opener returns a fresh, migrated, empty store, closed when tb ends.
type opener func(tb testing.TB) store.Store

type storeCase struct {
	name string
	open opener
}

// storeCases lists the stores every HTTP test runs on: SQLite always,
// PostgreSQL when TOLLGATE_TEST_DATABASE_URL is set.
var storeCases = []storeCase{
	{"sqlite", openSQLite},
	{"postgres", openPostgres},
}

func openSQLite(tb testing.TB) store.Store {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "tollgate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	if err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}

func openPostgres(tb testing.TB) store.Store {
	tb.Helper()
	url := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if url == "" {
		tb.Skip("TOLLGATE_TEST_DATABASE_URL not set; set it (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run against PostgreSQL")
	}
	db, cleanup, err := pgtest.OpenSchema(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cleanup)
	return db
}

// forEachStore runs fn on a fresh env per store, in parallel subtests
// named after the store.
func forEachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, sc.open))
		})
	}
}

// env is an API server over a started ledger on a fresh store, with a
// manual clock. When the test ends the ledger is stopped and verified, and
// anything the server logged as an error fails the test.
type env struct {
	ctx    context.Context
	store  store.Store
	l      *ledger.Ledger
	clock  *clocktest.Clock
	api    *Server
	videos *gateway.Service
	srv    *httptest.Server
	logs   *logBuffer
}

func newEnv(tb testing.TB, open opener) *env {
	tb.Helper()
	e := &env{ctx: context.Background(), clock: clocktest.New(testStart), logs: &logBuffer{}}
	e.store = open(tb)
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// SQLite runs as tollgate serve runs it: the committer caches state.
	e.l = ledger.New(e.store, ledger.Options{Clock: e.clock, Logger: log, CacheState: e.store.Kind() == "sqlite"})
	if _, err := e.l.Bootstrap(e.ctx, adminKey); err != nil {
		tb.Fatalf("bootstrap: %v", err)
	}
	if err := e.l.Start(e.ctx); err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		e.l.Stop()
		e.verify(tb)
		if s := e.logs.String(); s != "" {
			tb.Errorf("the server logged errors:\n%s", s)
		}
	})
	catalog := pricing.Default()
	quotes := &pricing.Quotes{Catalog: catalog, Records: e.l, Clock: e.clock}
	// Videos: the local renderer, at once, in demo mode.
	rt := &router.Router{Catalog: func() *pricing.Catalog { return catalog }, Providers: map[string]router.Provider{},
		Local: local.New(0, e.clock), Clock: e.clock,
		Price: func(ctx context.Context, r pricing.Request) (tollgate.Credits, error) {
			p, _, err := quotes.Price(ctx, r)
			return p.Credits, err
		}}
	e.videos = gateway.New(gateway.Config{Ledger: e.l, Quotes: quotes, Router: rt, Dir: tb.TempDir(), Clock: e.clock, Log: log,
		Media: gateway.FindMedia(local.Thumbnail, local.Spritesheet), PollEvery: 200 * time.Millisecond})
	if err := e.videos.Start(e.ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.videos.Stop) // before the ledger stops
	e.api = New(Config{Ledger: e.l, Log: log, Videos: e.videos, Cameos: e.videos.Cameos(),
		Quotes:               quotes,
		Payments:             &payment.Service{Ledger: e.l, Provider: payment.Dev{}, Clock: e.clock, Defaults: catalog.DefaultPacks()},
		AllowPrivateWebhooks: true, // the test endpoints are on loopback
	})
	if err := e.api.Payments.Seed(e.ctx); err != nil {
		tb.Fatalf("seed packs: %v", err)
	}
	e.srv = httptest.NewServer(e.api)
	tb.Cleanup(e.srv.Close)
	return e
}

// verify fails tb on any violation the ledger's Verify finds.
func (e *env) verify(tb testing.TB) {
	tb.Helper()
	r, err := e.l.Verify(context.Background())
	if err != nil {
		tb.Errorf("verify: %v", err)
	}
	for _, v := range r.Violations {
		tb.Errorf("verify: %s", v)
	}
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// request is one call to the API. Key is the bearer key, "" for none.
// A POST with a body is sent as application/json unless Header says
// otherwise; a Header value of "" removes that header.
type request struct {
	Method, Path string
	Key          string
	Body         string
	Header       map[string]string
}

type response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Pattern string // the mux pattern the request matched
}

func (r response) String() string {
	return r.Pattern + " -> " + http.StatusText(r.Status) + ": " + string(r.Body)
}

// do sends req and checks the answer against the OpenAPI document: its
// status must be documented for the route, with its content type, headers
// and body schema.
func (e *env) do(tb testing.TB, req request) response {
	tb.Helper()
	hr, err := http.NewRequestWithContext(e.ctx, req.Method, e.srv.URL+req.Path, strings.NewReader(req.Body))
	if err != nil {
		tb.Fatalf("new request %s %s: %v", req.Method, req.Path, err)
	}
	if req.Key != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Key)
	}
	if req.Method == http.MethodPost && req.Body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.Header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	_, pattern := e.api.handler(hr)
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer func() { _ = res.Body.Close() }() // read to the end below: nothing left to report
	body, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", req.Method, req.Path, err)
	}
	out := response{Status: res.StatusCode, Header: res.Header, Body: body, Pattern: pattern}
	checkAgainstDoc(tb, out)
	if out.Status/100 == 2 && req.Header["Content-Type"] == "" {
		checkRequestAgainstDoc(tb, pattern, req.Body)
	}
	return out
}

// call sends req, fails tb unless the status is want, and decodes the body
// into out when out is not nil.
func (e *env) call(tb testing.TB, req request, want int, out any) response {
	tb.Helper()
	r := e.do(tb, req)
	if r.Status != want {
		tb.Fatalf("%s %s: got status %d, want %d; body %s", req.Method, req.Path, r.Status, want, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", req.Method, req.Path, r.Body, err)
		}
	}
	return r
}

func (e *env) createAccount(tb testing.TB, id, plan, tz string) accountView {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"id": id, "name": "Account " + id, "plan": plan, "timezone": tz})
	var a accountView
	e.call(tb, request{Method: "POST", Path: "/v1/accounts", Key: adminKey, Body: string(body)}, http.StatusCreated, &a)
	return a
}

// createKey returns the secret of a new key of account id.
func (e *env) createKey(tb testing.TB, id string) string {
	tb.Helper()
	var k keyView
	e.call(tb, request{Method: "POST", Path: "/v1/accounts/" + id + "/keys", Key: adminKey}, http.StatusCreated, &k)
	if k.Key == nil {
		tb.Fatal("a new key came without its secret")
	}
	return *k.Key
}

func (e *env) grant(tb testing.TB, id, body string) grantView {
	tb.Helper()
	var g grantView
	e.call(tb, request{Method: "POST", Path: "/v1/accounts/" + id + "/grants", Key: adminKey, Body: body}, http.StatusCreated, &g)
	return g
}

func (e *env) hold(tb testing.TB, key, body string) holdView {
	tb.Helper()
	var h holdView
	e.call(tb, request{Method: "POST", Path: "/v1/holds", Key: key, Body: body}, http.StatusCreated, &h)
	return h
}

func (e *env) balanceJSON(tb testing.TB, id string) string {
	tb.Helper()
	r := e.call(tb, request{Method: "GET", Path: "/v1/accounts/" + id + "/balance", Key: adminKey}, http.StatusOK, nil)
	return string(r.Body)
}

func (e *env) balance(tb testing.TB, id string) balanceView {
	tb.Helper()
	var b balanceView
	e.call(tb, request{Method: "GET", Path: "/v1/accounts/" + id + "/balance", Key: adminKey}, http.StatusOK, &b)
	return b
}

// world is everything a request could change: every row of the store, the
// journal's size, and each account's balance as the API shows it.
type world struct {
	Accounts []tollgate.Account
	Grants   []tollgate.Grant
	Holds    []tollgate.Hold
	Entries  map[string]int // per account
	Balances map[string]string
	Videos   []tollgate.Video
	// Characters counts each account's characters.
	Characters map[string]int
}

func (e *env) world(tb testing.TB) world {
	tb.Helper()
	w := world{Entries: map[string]int{}, Balances: map[string]string{}, Characters: map[string]int{}}
	err := e.store.Read(e.ctx, func(tx store.Tx) error {
		var err error
		if w.Accounts, err = tx.AccountList(e.ctx, store.AccountListParams{}); err != nil {
			return err
		}
		if w.Grants, err = tx.GrantList(e.ctx, store.GrantListParams{}); err != nil {
			return err
		}
		if w.Holds, err = tx.HoldList(e.ctx, store.HoldListParams{}); err != nil {
			return err
		}
		for _, a := range w.Accounts {
			es, err := tx.EntryList(e.ctx, store.EntryListParams{AccountID: a.ID})
			if err != nil {
				return err
			}
			w.Entries[a.ID] = len(es)
			vs, err := tx.VideoList(e.ctx, record.VideoListParams{AccountID: a.ID, Limit: 1000})
			if err != nil {
				return err
			}
			w.Videos = append(w.Videos, vs...)
			if w.Characters[a.ID], err = tx.CameoCount(e.ctx, a.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("read the store: %v", err)
	}
	for _, a := range w.Accounts {
		w.Balances[a.ID] = e.balanceJSON(tb, a.ID)
	}
	return w
}

// unchanged fails tb when the world differs from before.
func (e *env) unchanged(tb testing.TB, before world) {
	tb.Helper()
	if diff := cmp.Diff(before, e.world(tb)); diff != "" {
		tb.Errorf("the request changed the state (-before +after):\n%s", diff)
	}
	e.verify(tb)
}

// problemOf checks that r is an RFC 9457 problem with status and code and
// returns it.
func problemOf(tb testing.TB, r response, status int, code tollgate.Code) Problem {
	tb.Helper()
	if r.Status != status {
		tb.Errorf("got status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Errorf("got Content-Type %q, want application/problem+json", ct)
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		tb.Fatalf("decode problem %s: %v", r.Body, err)
	}
	if p.Code == "" {
		tb.Errorf("got an empty code in %s", r.Body)
	}
	if p.Code != code {
		tb.Errorf("got code %q, want %q; body %s", p.Code, code, r.Body)
	}
	if p.Status != r.Status {
		tb.Errorf("got status member %d, want the HTTP status %d", p.Status, r.Status)
	}
	if want := "urn:tollgate:problem:" + string(p.Code); p.Type != want {
		tb.Errorf("got type %q, want %q", p.Type, want)
	}
	if p.Title == "" {
		tb.Errorf("got an empty title in %s", r.Body)
	}
	return p
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func cr(s string) tollgate.Credits {
	c, err := tollgate.ParseCredits(s)
	if err != nil {
		panic(err)
	}
	return c
}
