// Package lumatest is a fake of Luma's Dream Machine API for tests:
// generations made by POST /generations/video (or the older
// /generations), checked as Luma checks them, going queued, dreaming,
// then completed with assets.video or failed with a failure_reason;
// listed newest first by limit and offset with the request echoed
// (callback_url included); deleted with DELETE. When a generation's
// callback_url is set, the fake posts the generation there, unsigned, on
// dreaming and on its end, sometimes twice, as Luma may. Errors are
// Luma's {"detail": ...}.
//
// Prompts steer it: FORBIDDEN is refused at submit, REFUSE fails with
// Luma's moderation reason, BROKEN fails with "Job failed".
package lumatest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tollgate/provider/providertest"
)

// Key is the API key the fake accepts.
const Key = "luma-test-key"

// Fake is a running fake of Luma. Its methods are safe for concurrent use.
type Fake struct {
	*httptest.Server
	// RenderTime is how long a generation takes.
	RenderTime time.Duration

	inject *providertest.Injector
	clips  *providertest.Clips

	mu      sync.Mutex
	gens    []*generation // by creation
	creates map[string]int
	sentOK  int // callbacks posted and answered 200
	leaked  int
	closed  bool
}

type generation struct {
	ID        string         `json:"id"`
	Type      string         `json:"generation_type"`
	State     string         `json:"state"`
	Failure   *string        `json:"failure_reason"`
	CreatedAt string         `json:"created_at"`
	Model     string         `json:"model"`
	Assets    map[string]any `json:"assets"`
	Request   map[string]any `json:"request"`
	start     time.Time
	seconds   int
	size      string
	sent      map[string]bool // callbacks posted, by state
	deleted   bool
}

// New starts a fake whose generations take renderTime, failing as chaos says.
func New(renderTime time.Duration, chaos providertest.Chaos) *Fake {
	f := &Fake{RenderTime: renderTime, inject: providertest.NewInjector(chaos), clips: providertest.NewClips(), creates: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dream-machine/v1/generations/video", f.create)
	mux.HandleFunc("POST /dream-machine/v1/generations", f.create)
	mux.HandleFunc("GET /dream-machine/v1/generations", f.list)
	mux.HandleFunc("GET /dream-machine/v1/generations/{id}", f.get)
	mux.HandleFunc("DELETE /dream-machine/v1/generations/{id}", f.delete)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/cdn/") {
			f.video(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+Key {
			detail(w, 401, "Invalid API key is provided")
			return
		}
		switch kind := f.inject.Pick(r.Method == http.MethodPost); kind {
		case "":
			mux.ServeHTTP(w, r)
		case providertest.Fail500:
			detail(w, 500, "Internal Server Error")
		case providertest.Fail503:
			detail(w, 503, "Service Unavailable")
		case providertest.Fail429:
			detail(w, 429, "Too many requests")
		case providertest.FailHang:
			f.inject.Hang(r)
			detail(w, 504, "Gateway Timeout")
		case providertest.FailMalformed:
			providertest.Malformed(w)
		case providertest.FailLost:
			providertest.Lose(w, r, mux.ServeHTTP)
		}
	}))
	go f.callbacks()
	return f
}

// BaseURL is the base URL a client is given.
func (f *Fake) BaseURL() string { return f.URL + "/dream-machine/v1" }

func detail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"detail": msg})
}

var (
	models      = []string{"ray-2", "ray-flash-2", "ray-1-6"}
	ratios      = []string{"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}
	resolutions = map[string]int{"540p": 540, "720p": 720, "1080p": 1080, "4k": 2160}
)

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		detail(w, 400, "Invalid request body")
		return
	}
	str := func(k, def string) string {
		if s, ok := in[k].(string); ok {
			return s
		}
		return def
	}
	prompt, model, ratio, res, dur := str("prompt", ""), str("model", ""), str("aspect_ratio", "16:9"), str("resolution", "720p"), str("duration", "5s")
	switch {
	case prompt == "":
		detail(w, 400, "Prompt is required")
		return
	case len(prompt) < 3:
		detail(w, 400, "Prompt is too short, minimum length is 3 characters")
		return
	case len(prompt) > 5000:
		detail(w, 400, "Prompt is too long, maximum length is 5000 characters")
		return
	case !slices.Contains(models, model):
		detail(w, 400, fmt.Sprintf("Invalid model %q", model))
		return
	case !slices.Contains(ratios, ratio):
		detail(w, 400, fmt.Sprintf("Invalid aspect ratio %q", ratio))
		return
	case resolutions[res] == 0:
		detail(w, 400, fmt.Sprintf("Invalid resolution %q", res))
		return
	case dur != "5s" && dur != "9s":
		detail(w, 400, fmt.Sprintf("Invalid duration %q", dur))
		return
	case strings.Contains(prompt, "FORBIDDEN"):
		detail(w, 400, "400: prompt not allowed because advanced moderation failed")
		return
	}
	secs, _ := strconv.Atoi(strings.TrimSuffix(dur, "s"))
	short := resolutions[res]
	long := short * 16 / 9
	size := fmt.Sprintf("%dx%d", long, short)
	if ratio == "9:16" {
		size = fmt.Sprintf("%dx%d", short, long)
	}
	now := time.Now()
	f.mu.Lock()
	g := &generation{ID: fmt.Sprintf("%08x-luma-4000-8000-%012d", now.UnixNano()&0xffffffff, len(f.gens)+1), Type: "video", State: "queued",
		CreatedAt: now.UTC().Format(time.RFC3339Nano), Model: model, Assets: map[string]any{}, Request: in, start: now, seconds: secs, size: size,
		sent: map[string]bool{}}
	f.gens = append(f.gens, g)
	f.creates[prompt]++
	view := f.now(g)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(view)
}

// now advances g to where it stands, and returns a copy.
func (f *Fake) now(g *generation) generation {
	elapsed := time.Since(g.start)
	switch {
	case g.State == "completed" || g.State == "failed":
	case elapsed >= f.RenderTime:
		prompt, _ := g.Request["prompt"].(string)
		switch {
		case strings.Contains(prompt, "REFUSE"):
			g.State, g.Failure = "failed", ptr("Advanced prompt moderation failed")
		case strings.Contains(prompt, "BROKEN"):
			g.State, g.Failure = "failed", ptr("Job failed")
		default:
			g.State = "completed"
			g.Assets = map[string]any{"video": fmt.Sprintf("%s/cdn/%s.mp4", f.URL, g.ID), "image": fmt.Sprintf("%s/cdn/%s.jpg", f.URL, g.ID)}
		}
	case elapsed >= f.RenderTime/4:
		g.State = "dreaming"
	}
	return *g
}

func ptr(s string) *string { return &s }

func (f *Fake) find(id string) *generation {
	for _, g := range f.gens {
		if g.ID == id && !g.deleted {
			return g
		}
	}
	return nil
}

func (f *Fake) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	g := f.find(r.PathValue("id"))
	var view generation
	if g != nil {
		view = f.now(g)
	}
	f.mu.Unlock()
	if g == nil {
		detail(w, 404, "Generation not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(view)
}

func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	limit, err1 := strconv.Atoi(cmp.Or(r.URL.Query().Get("limit"), "100"))
	offset, err2 := strconv.Atoi(cmp.Or(r.URL.Query().Get("offset"), "0"))
	if err1 != nil || err2 != nil || limit < 1 || limit > 1000 || offset < 0 {
		detail(w, 400, "Invalid limit or offset")
		return
	}
	f.mu.Lock()
	var all []generation
	for i := len(f.gens) - 1; i >= 0; i-- { // newest first
		if !f.gens[i].deleted {
			all = append(all, f.now(f.gens[i]))
		}
	}
	f.mu.Unlock()
	page := all[min(offset, len(all)):min(offset+limit, len(all))]
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"generations": append([]generation{}, page...), "has_more": offset+limit < len(all),
		"count": len(page), "limit": limit, "offset": offset})
}

func (f *Fake) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	g := f.find(r.PathValue("id"))
	if g != nil {
		g.deleted = true
	}
	f.mu.Unlock()
	if g == nil {
		detail(w, 404, "Generation not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) video(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/cdn/"), ".mp4")
	f.mu.Lock()
	g := f.find(id)
	if r.Header.Get("Authorization") != "" {
		f.leaked++
	}
	var view generation
	if g != nil {
		view = f.now(g)
	}
	f.mu.Unlock()
	if g == nil || view.State != "completed" {
		http.NotFound(w, r)
		return
	}
	f.clips.Serve(w, r, view.seconds, view.size)
}

// callbacks posts each generation with a callback_url there on dreaming
// and on its end (a final one twice, as Luma may), unsigned; Luma tries
// again 100 ms apart on anything but 200.
func (f *Fake) callbacks() {
	providertest.Deliver(func() ([]providertest.Delivery, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var ds []providertest.Delivery
		for _, g := range f.gens {
			cb, _ := g.Request["callback_url"].(string)
			view := f.now(g)
			if cb == "" || g.sent[view.State] || view.State == "queued" {
				continue
			}
			g.sent[view.State] = true
			body, _ := json.Marshal(view)
			d := providertest.Delivery{URL: cb, Body: body, Times: 2}
			if view.State == "dreaming" {
				d.Times = 1
			}
			ds = append(ds, d)
		}
		return ds, f.closed
	}, 3, 100*time.Millisecond, func() {
		f.mu.Lock()
		f.sentOK++
		f.mu.Unlock()
	})
}

// Close stops the fake and its callbacks.
func (f *Fake) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.Server.Close()
}

// Creates returns how many generations were made with prompt.
func (f *Fake) Creates(prompt string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates[prompt]
}

// Callbacks counts the callbacks answered 200.
func (f *Fake) Callbacks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sentOK
}

// KeyLeaks counts video downloads that carried the API key.
func (f *Fake) KeyLeaks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaked
}

// Failures counts the failures injected, by kind.
func (f *Fake) Failures() map[string]int { return f.inject.Failures() }
