// Package replicatetest is a fake of Replicate's predictions API for
// tests: predictions made at official models (POST
// /v1/models/{owner}/{name}/predictions, input checked as the models
// check it), going starting, processing, then succeeded with an output
// URL, failed with an error, or canceled (POST .../cancel); listed newest
// first with created_after and absolute next cursors, the webhook URL
// echoed; the default webhook secret served at GET
// /v1/webhooks/default/secret; the completed webhook signed as Standard
// Webhooks and retried until answered 2xx, sometimes sent twice. Errors are
// problem JSON.
//
// Prompts steer it: FORBIDDEN is refused at submit (422), REFUSE fails
// with E005 (flagged as sensitive), BROKEN fails with E1000, ABORT is
// aborted before it starts.
package replicatetest

import (
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

// Key is the API token the fake accepts; Secret signs its webhooks.
const (
	Key    = "r8_replicatetest"
	Secret = "whsec_cmVwbGljYXRlLXRlc3Qtc2VjcmV0LWtleQ=="
)

// Fake is a running fake of Replicate. Its methods are safe for
// concurrent use.
type Fake struct {
	*httptest.Server
	// RenderTime is how long a prediction takes.
	RenderTime time.Duration

	inject *providertest.Injector
	clips  *providertest.Clips

	mu      sync.Mutex
	preds   []*prediction // by creation
	creates map[string]int
	hooks   int  // webhooks answered 2xx
	secrets int  // reads of the webhook secret
	leaked  int  // output downloads that carried the token
	closed  bool // no more webhooks
}

type prediction struct {
	ID        string         `json:"id"`
	Model     string         `json:"model"`
	Version   string         `json:"version"`
	Status    string         `json:"status"`
	Input     map[string]any `json:"input"`
	Output    any            `json:"output"`
	Error     any            `json:"error"`
	Logs      string         `json:"logs"`
	Webhook   *string        `json:"webhook,omitempty"`
	CreatedAt string         `json:"created_at"`
	URLs      map[string]string
	start     time.Time
	seconds   int
	size      string
	canceled  bool
	hooked    bool
}

// New starts a fake whose predictions take renderTime, failing as chaos says.
func New(renderTime time.Duration, chaos providertest.Chaos) *Fake {
	f := &Fake{RenderTime: renderTime, inject: providertest.NewInjector(chaos), clips: providertest.NewClips(), creates: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/models/{owner}/{name}/predictions", f.create)
	mux.HandleFunc("GET /v1/predictions", f.list)
	mux.HandleFunc("GET /v1/predictions/{id}", f.get)
	mux.HandleFunc("POST /v1/predictions/{id}/cancel", f.cancel)
	mux.HandleFunc("GET /v1/webhooks/default/secret", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.secrets++
		f.mu.Unlock()
		writeJSON(w, 200, map[string]string{"key": Secret})
	})
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/delivery/") {
			f.output(w, r)
			return
		}
		if a := r.Header.Get("Authorization"); a != "Bearer "+Key && a != "Token "+Key {
			problem(w, 401, "Unauthenticated", "You did not pass a valid authentication token")
			return
		}
		switch kind := f.inject.Pick(r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/predictions")); kind {
		case "":
			mux.ServeHTTP(w, r)
		case providertest.Fail500:
			problem(w, 500, "Internal Server Error", "Something went wrong")
		case providertest.Fail503:
			problem(w, 503, "Service Unavailable", "Replicate is temporarily unavailable")
		case providertest.Fail429:
			w.Header().Set("Retry-After", "1")
			problem(w, 429, "", "Request was throttled. Expected available in 1 second.")
		case providertest.FailHang:
			f.inject.Hang(r)
			problem(w, 504, "Gateway Timeout", "")
		case providertest.FailMalformed:
			providertest.Malformed(w)
		case providertest.FailLost:
			providertest.Lose(w, r, mux.ServeHTTP)
		}
	}))
	go f.hookLoop()
	return f
}

// BaseURL is the base URL a client is given.
func (f *Fake) BaseURL() string { return f.URL + "/v1" }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	body := map[string]any{"detail": detail, "status": status}
	if title != "" {
		body["title"] = title
	}
	writeJSON(w, status, body)
}

// models are the official models the fake runs, with the durations they take.
var models = map[string][]int{"google/veo-3": {4, 6, 8}, "google/veo-3-fast": {4, 6, 8}, "minimax/hailuo-02": {6, 10}}

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	model := r.PathValue("owner") + "/" + r.PathValue("name")
	durations, ok := models[model]
	if !ok {
		problem(w, 404, "Not found", "The requested model does not exist")
		return
	}
	var in struct {
		Input   map[string]any `json:"input"`
		Webhook *string        `json:"webhook"`
		Filter  []string       `json:"webhook_events_filter"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&in); err != nil || in.Input == nil {
		problem(w, 422, "Input validation failed", "input is required")
		return
	}
	prompt, _ := in.Input["prompt"].(string)
	dur, _ := in.Input["duration"].(float64)
	ratio, _ := in.Input["aspect_ratio"].(string)
	res, _ := in.Input["resolution"].(string)
	switch {
	case prompt == "":
		problem(w, 422, "Input validation failed", "input.prompt is required")
		return
	case !slices.Contains(durations, int(dur)):
		problem(w, 422, "Input validation failed", fmt.Sprintf("input.duration must be one of %v", durations))
		return
	case strings.HasPrefix(model, "google/") && ratio != "16:9" && ratio != "9:16":
		problem(w, 422, "Input validation failed", "input.aspect_ratio must be one of: 16:9, 9:16")
		return
	case strings.HasPrefix(model, "google/") && res != "720p" && res != "1080p":
		problem(w, 422, "Input validation failed", "input.resolution must be one of: 720p, 1080p")
		return
	case in.Webhook != nil && !strings.HasPrefix(*in.Webhook, "http"):
		problem(w, 422, "Invalid webhook", "webhook must be an HTTPS URL")
		return
	case strings.Contains(prompt, "FORBIDDEN"):
		problem(w, 422, "Input validation failed", "The input was flagged as sensitive. Please try again with different inputs. (E005)")
		return
	}
	short := 720
	if res == "1080p" {
		short = 1080
	}
	size := fmt.Sprintf("%dx%d", short*16/9, short)
	if ratio == "9:16" {
		size = fmt.Sprintf("%dx%d", short, short*16/9)
	}
	now := time.Now()
	f.mu.Lock()
	id := fmt.Sprintf("%014x%012d", now.UnixNano()&0xffffffffffff, len(f.preds)+1)
	p := &prediction{ID: id, Model: model, Version: "hidden", Status: "starting", Input: in.Input, Webhook: in.Webhook,
		CreatedAt: now.UTC().Format(time.RFC3339Nano), start: now, seconds: int(dur), size: size,
		URLs: map[string]string{"get": f.URL + "/v1/predictions/" + id, "cancel": f.URL + "/v1/predictions/" + id + "/cancel", "web": "https://replicate.com/p/" + id}}
	f.preds = append(f.preds, p)
	f.creates[prompt]++
	view := f.now(p)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, view)
}

// now advances p to where it stands, and returns its JSON view.
func (f *Fake) now(p *prediction) map[string]any {
	elapsed := time.Since(p.start)
	prompt, _ := p.Input["prompt"].(string)
	switch {
	case p.Status == "succeeded" || p.Status == "failed" || p.Status == "canceled" || p.Status == "aborted":
	case p.canceled:
		p.Status = "canceled"
	case elapsed >= f.RenderTime/4 && strings.Contains(prompt, "ABORT"): // its Cancel-After deadline passed before it started
		p.Status = "aborted"
	case elapsed >= f.RenderTime && strings.Contains(prompt, "REFUSE"):
		p.Status, p.Error = "failed", "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
	case elapsed >= f.RenderTime && strings.Contains(prompt, "BROKEN"):
		p.Status, p.Error = "failed", "Prediction failed for an unknown reason. (E1000)"
	case elapsed >= f.RenderTime:
		p.Status, p.Output = "succeeded", fmt.Sprintf("%s/delivery/%s/output.mp4", f.URL, p.ID)
	case elapsed >= f.RenderTime/4:
		p.Status = "processing"
	}
	b, _ := json.Marshal(p)
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	v["urls"] = p.URLs
	delete(v, "URLs")
	return v
}

func (f *Fake) find(id string) *prediction {
	for _, p := range f.preds {
		if p.ID == id {
			return p
		}
	}
	return nil
}

func (f *Fake) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	p := f.find(r.PathValue("id"))
	var v map[string]any
	if p != nil {
		v = f.now(p)
	}
	f.mu.Unlock()
	if p == nil {
		problem(w, 404, "Not found", "The requested prediction does not exist")
		return
	}
	writeJSON(w, 200, v)
}

func (f *Fake) cancel(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	p := f.find(r.PathValue("id"))
	var v map[string]any
	if p != nil {
		p.canceled = true
		v = f.now(p)
	}
	f.mu.Unlock()
	if p == nil {
		problem(w, 404, "Not found", "The requested prediction does not exist")
		return
	}
	writeJSON(w, 200, v)
}

const pageSize = 100

func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after time.Time
	if s := q.Get("created_after"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			problem(w, 400, "Bad request", "created_after is not an ISO 8601 date")
			return
		}
		after = t
	}
	cursor, _ := strconv.Atoi(q.Get("cursor"))
	f.mu.Lock()
	var all []map[string]any
	for i := len(f.preds) - 1; i >= 0; i-- { // newest first
		if f.preds[i].start.After(after) {
			all = append(all, f.now(f.preds[i]))
		}
	}
	f.mu.Unlock()
	page := all[min(cursor, len(all)):min(cursor+pageSize, len(all))]
	body := map[string]any{"results": append([]map[string]any{}, page...), "previous": nil, "next": nil}
	if cursor+pageSize < len(all) {
		q.Set("cursor", strconv.Itoa(cursor+pageSize))
		body["next"] = f.URL + "/v1/predictions?" + q.Encode()
	}
	writeJSON(w, 200, body)
}

func (f *Fake) output(w http.ResponseWriter, r *http.Request) {
	id, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/delivery/"), "/")
	f.mu.Lock()
	p := f.find(id)
	if r.Header.Get("Authorization") != "" {
		f.leaked++
	}
	var ok bool
	var secs int
	var size string
	if p != nil {
		f.now(p)
		ok, secs, size = p.Status == "succeeded", p.seconds, p.size
	}
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	f.clips.Serve(w, r, secs, size)
}

// hookLoop sends each ended prediction's completed webhook, signed, to its
// webhook URL, retried until answered 2xx; a success is sent twice for
// some, as Replicate's retries may.
func (f *Fake) hookLoop() {
	providertest.Deliver(func() ([]providertest.Delivery, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var ds []providertest.Delivery
		for _, p := range f.preds {
			v := f.now(p)
			if p.Webhook == nil || p.hooked || (p.Status != "succeeded" && p.Status != "failed" && p.Status != "canceled") {
				continue
			}
			p.hooked = true
			body, _ := json.Marshal(v)
			id := "msg_" + p.ID
			ds = append(ds, providertest.Delivery{URL: *p.Webhook, Body: body, Times: 1 + len(p.ID)%2,
				Header: func() http.Header { return providertest.StandardHeaders(Secret, id, body) }})
		}
		return ds, f.closed
	}, 3, 20*time.Millisecond, func() {
		f.mu.Lock()
		f.hooks++
		f.mu.Unlock()
	})
}

// Close stops the fake and its webhooks.
func (f *Fake) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.Server.Close()
}

// Creates returns how many predictions were made with prompt.
func (f *Fake) Creates(prompt string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates[prompt]
}

// Hooks counts the webhooks answered 2xx.
func (f *Fake) Hooks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hooks
}

// SecretReads counts the reads of the webhook secret.
func (f *Fake) SecretReads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.secrets
}

// KeyLeaks counts output downloads that carried the API token.
func (f *Fake) KeyLeaks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaked
}

// Canceled reports whether the prediction was canceled.
func (f *Fake) Canceled(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.find(id)
	return p != nil && p.canceled
}

// Failures counts the failures injected, by kind.
func (f *Fake) Failures() map[string]int { return f.inject.Failures() }
