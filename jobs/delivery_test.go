package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tollgate"
	"tollgate/clocktest"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// endpointsWith registers each URL and enqueues n events for all of them.
func endpointsWith(t *testing.T, s store.Store, n int, urls ...string) {
	t.Helper()
	ctx := context.Background()
	err := s.Write(ctx, func(tx store.Tx) error {
		for i, u := range urls {
			if err := tx.EndpointInsert(ctx, tollgate.Endpoint{ID: fmt.Sprintf("we_%02d", i), URL: u, Secret: NewSecret(), CreatedAt: time.Now()}); err != nil {
				return err
			}
		}
		for i := range n {
			ev, err := tollgate.NewEvent(tollgate.EventOrderCompleted, "a", time.Now(), map[string]any{"n": i})
			if err != nil {
				return err
			}
			if err := tx.EventEnqueue(ctx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestPrivateAddressesRefused: an endpoint named by a host that resolves
// to 127.0.0.1 is refused when the connection is made, and nothing
// reaches the server; allowed on purpose, it is delivered.
func TestPrivateAddressesRefused(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	s := openStore(t)
	endpointsWith(t, s, 1, "http://localhost:"+port+"/hook")
	w := &Webhooks{Records: ledger.New(s, ledger.Options{}), Clock: tollgate.SystemClock{}, Log: quiet()}
	if n, err := w.RunOnce(context.Background()); err != nil || n != 0 || hits.Load() != 0 {
		t.Fatalf("a name resolving to loopback: %d sent, %d reached the server, %v; want none", n, hits.Load(), err)
	}
	res, err := NewClient(false).Get("http://localhost:" + port + "/hook")
	if err == nil {
		_ = res.Body.Close() // only the error matters: the test fails below
	}
	if !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("the client reaching localhost: got %v, want ErrPrivateAddress", err)
	}
	// Allowed on purpose (a worker whose clock has passed the retry's time).
	w2 := &Webhooks{Records: ledger.New(s, ledger.Options{}), Clock: clocktest.New(time.Now().Add(time.Minute)), AllowPrivate: true, Log: quiet()}
	if n, err := w2.RunOnce(context.Background()); err != nil || n != 1 || hits.Load() != 1 {
		t.Fatalf("allowed: %d sent, %d reached the server, %v; want 1", n, hits.Load(), err)
	}
}

func TestPrivateAddress(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ip      string
		private bool
	}{
		{"127.0.0.1", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"100.64.0.1", true}, {"0.0.0.0", true}, {"::1", true},
		{"fe80::1", true}, {"fd00::1", true}, {"::ffff:127.0.0.1", true}, {"64:ff9b::a00:1", true},
		{"93.184.216.34", false}, {"2606:4700::6810:85e5", false}, {"8.8.8.8", false},
	} {
		if got := PrivateAddress(netip.MustParseAddr(c.ip)); got != c.private {
			t.Errorf("%s: got private %v, want %v", c.ip, got, c.private)
		}
	}
}

// TestRedirectsNotFollowed: an endpoint that redirects (here, to a private
// address) is a failed delivery, and the redirect is not followed.
func TestRedirectsNotFollowed(t *testing.T) {
	t.Parallel()
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Add(1) }))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	s := openStore(t)
	endpointsWith(t, s, 1, srv.URL)
	w := &Webhooks{Records: ledger.New(s, ledger.Options{}), Clock: tollgate.SystemClock{}, AllowPrivate: true, Log: quiet()}
	if n, err := w.RunOnce(context.Background()); err != nil || n != 0 || followed.Load() != 0 {
		t.Fatalf("a redirecting endpoint: %d sent, redirect followed %d times, %v; want 0 and 0", n, followed.Load(), err)
	}
}

// TestDeadEndpointsDoNotStarveOthers: 13 endpoints that never answer and
// one that does, 20 events each: the good one gets all 20 in a few
// seconds, while the dead ones time out in their own lanes.
func TestDeadEndpointsDoNotStarveOthers(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer dead.Close()
	defer close(stop)
	var good atomic.Int64
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { good.Add(1) }))
	defer ok.Close()
	urls := []string{}
	for i := range 13 {
		urls = append(urls, fmt.Sprintf("%s/dead/%d", dead.URL, i))
	}
	urls = append(urls, ok.URL+"/good")
	s := openStore(t)
	endpointsWith(t, s, 20, urls...)
	client := NewClient(true)
	client.Timeout = 2 * time.Second
	w := &Webhooks{Records: ledger.New(s, ledger.Options{}), Clock: tollgate.SystemClock{}, Client: client, Interval: 100 * time.Millisecond, Log: quiet()}
	began := time.Now()
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for good.Load() < 20 && time.Since(began) < 15*time.Second {
		time.Sleep(20 * time.Millisecond)
	}
	if good.Load() != 20 {
		t.Fatalf("the good endpoint got %d of 20 events in %v", good.Load(), time.Since(began).Round(time.Millisecond))
	}
	t.Logf("the good endpoint got all 20 events in %v beside 13 dead ones", time.Since(began).Round(time.Millisecond))
}
