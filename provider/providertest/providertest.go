// Package providertest is what the providers' fakes share: failures
// injected the ways providers fail (5xx, 429 with Retry-After, hangs,
// malformed answers, and submits that succeed but whose answer is lost),
// and real clips rendered by the local renderer, once per length and size.
package providertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/jobs"
	"tollgate/provider/local"
	"tollgate/router"
)

// Chaos is a share of requests to fail, and how long a hang lasts.
type Chaos struct {
	Rate float64       // 0 to 1
	Hang time.Duration // longer than the client's timeout
	// Seed makes the failures repeatable.
	Seed uint64
}

// Failure kinds an Injector picks from.
const (
	Fail500       = "500"
	Fail503       = "503"
	Fail429       = "429"
	FailHang      = "hang"
	FailMalformed = "malformed"
	// FailLost: the submit is made, then the connection drops before
	// the answer.
	FailLost = "lost"
)

// Injector decides which requests fail, and counts the failures.
type Injector struct {
	mu       sync.Mutex
	chaos    Chaos
	rng      *rand.Rand
	failures map[string]int
}

// NewInjector returns an injector failing as c says.
func NewInjector(c Chaos) *Injector {
	return &Injector{chaos: c, rng: rand.New(rand.NewPCG(c.Seed, 1)), failures: map[string]int{}}
}

// Pick returns the failure to inject into a request, or "" for none.
// submit says the request starts work: it may then be lost.
func (in *Injector) Pick(submit bool) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.chaos.Rate == 0 || in.rng.Float64() >= in.chaos.Rate {
		return ""
	}
	kinds := []string{Fail500, Fail503, Fail429, FailHang, FailMalformed}
	if submit {
		kinds = append(kinds, FailLost, FailLost)
	}
	k := kinds[in.rng.IntN(len(kinds))]
	in.failures[k]++
	return k
}

// Failures counts the failures injected, by kind.
func (in *Injector) Failures() map[string]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[string]int{}
	for k, v := range in.failures {
		out[k] = v
	}
	return out
}

// Hang waits out a hang, or until the request ends.
func (in *Injector) Hang(r *http.Request) {
	select {
	case <-time.After(in.chaos.Hang):
	case <-r.Context().Done():
	}
}

// Lose runs submit to make the job, then drops the connection before any
// answer reaches the client.
func Lose(w http.ResponseWriter, r *http.Request, submit http.HandlerFunc) {
	submit(httptest.NewRecorder(), r)
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	w.WriteHeader(http.StatusBadGateway)
}

// Malformed answers a body cut short.
func Malformed(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"id": "`))
}

// Clips renders real clips with the local renderer, once per length and
// size.
type Clips struct {
	mu       sync.Mutex
	renderer *local.Provider
	clips    map[string][]byte
}

// NewClips returns an empty cache.
func NewClips() *Clips {
	return &Clips{renderer: local.New(0, tollgate.SystemClock{}), clips: map[string][]byte{}}
}

// Clip returns an MP4 of seconds at size ("1280x720").
func (c *Clips) Clip(ctx context.Context, seconds int, size string) ([]byte, error) {
	k := strconv.Itoa(seconds) + "/" + size
	c.mu.Lock()
	b, ok := c.clips[k]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	id, err := c.renderer.Submit(ctx, router.Job{Prompt: "upstream clip", Seconds: seconds, Size: size})
	var buf bytes.Buffer
	if err == nil {
		err = c.renderer.Fetch(context.WithoutCancel(ctx), id, &buf)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.clips[k] = buf.Bytes()
	c.mu.Unlock()
	return buf.Bytes(), nil
}

// Serve writes a clip as video/mp4.
func (c *Clips) Serve(w http.ResponseWriter, r *http.Request, seconds int, size string) {
	b, err := c.Clip(r.Context(), seconds, size)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	_, _ = w.Write(b)
}

// SendSigned posts body to url signed as Standard Webhooks with secret
// ("whsec_...") under message id, and reports whether it was answered 2xx.
func SendSigned(url, secret, id string, body []byte) bool {
	return post(&http.Client{Timeout: 5 * time.Second}, Delivery{URL: url, Body: body, Header: func() http.Header { return StandardHeaders(secret, id, body) }})
}

// ErrOf returns err as a *router.Error, or one of kind -1 when it is not.
func ErrOf(err error) *router.Error {
	var e *router.Error
	if errors.As(err, &e) {
		return e
	}
	return &router.Error{Kind: -1, Message: fmt.Sprintf("not a *router.Error: %v", err)}
}

// Wait polls status until the job is no longer running (at most 2 s) and
// returns its end and the progress reported on the way.
func Wait(t testing.TB, status func(ctx context.Context, id string) (router.Status, error), id string) (router.Status, []int) {
	t.Helper()
	var progress []int
	for range 400 {
		st, err := status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != router.Running {
			return st, progress
		}
		progress = append(progress, st.Progress)
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s still running", id)
	return router.Status{}, nil
}

// CheckSubmitOutcomes makes n submits against a fake failing every
// request, and checks each failure's kind against what was injected: a
// submit lost, cut short, hung or answered 500 (or 504 after a hang) is
// Unknown (the provider may have made the job); a 503 or 429, which turn
// it away, is retryable.
func CheckSubmitOutcomes(t testing.TB, n int, submit func(i int) error, failures func() map[string]int) {
	t.Helper()
	kinds := map[string]int{}
	for i := range n {
		kinds[ErrOf(submit(i)).Kind.String()]++
	}
	f := failures()
	if kinds["unknown"] != f[FailLost]+f[FailMalformed]+f[FailHang]+f[Fail500] || kinds["retryable"] != f[Fail503]+f[Fail429] {
		t.Errorf("outcomes %v for the failures injected %v", kinds, f)
	}
}

// Delivery is a callback a fake posts: Times copies of Body to URL, each
// with the headers Header makes (signed afresh for each try).
type Delivery struct {
	URL    string
	Body   []byte
	Header func() http.Header
	Times  int // 0 counts as 1
}

// Deliver runs a fake's callbacks until due reports stop: every 5 ms it
// takes the deliveries due and posts each, trying up to tries times,
// pause apart, until one is answered 2xx, which ok is told of.
func Deliver(due func() (ds []Delivery, stop bool), tries int, pause time.Duration, ok func()) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	c := &http.Client{Timeout: 5 * time.Second}
	for range t.C {
		ds, stop := due()
		if stop {
			return
		}
		for _, d := range ds {
			for range max(d.Times, 1) {
				for range tries {
					if post(c, d) {
						ok()
						break
					}
					time.Sleep(pause)
				}
			}
		}
	}
}

func post(c *http.Client, d Delivery) bool {
	req, err := http.NewRequest(http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return false
	}
	if d.Header != nil {
		req.Header = d.Header()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// StandardHeaders signs body as Standard Webhooks with secret
// ("whsec_...") under message id, now.
func StandardHeaders(secret, id string, body []byte) http.Header {
	ts := time.Now().Unix()
	sig, _ := jobs.Sign(secret, id, ts, body)
	return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(ts, 10)}, "Webhook-Signature": {sig}}
}
