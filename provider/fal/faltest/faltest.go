// Package faltest is a fake of fal for tests: the queue API (POST
// /{endpoint}, status at /{owner}/{app}/requests/{id}/status answering 202
// while IN_QUEUE or IN_PROGRESS and 200 once COMPLETED, the result at
// /{owner}/{app}/requests/{id}, PUT .../cancel), the platform API's
// listing of an endpoint's requests with their inputs, and webhooks
// signed with an ED25519 key whose JWKS it serves. Inputs are checked per
// model family (Kling, MiniMax, Pika, Veo 3). It answers
// x-fal-no-retry-less submits with 400, so an adapter that forgets it is
// caught.
//
// Prompts steer it: FORBIDDEN is refused at submit (422
// content_policy_violation), REFUSE completes but its result is that 422
// (fal's disguised failure), RUNNERDIED completes with an error.
package faltest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tollgate/provider/providertest"
)

// Key is the API key the fake accepts; User is the user id its webhooks name.
const (
	Key  = "fal-key-id:fal-key-secret"
	User = "user_faltest"
)

// Fake is a running fake of fal. Its methods are safe for concurrent use.
type Fake struct {
	*httptest.Server
	// RenderTime is how long a request takes.
	RenderTime time.Duration

	inject *providertest.Injector
	clips  *providertest.Clips
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey

	mu      sync.Mutex
	reqs    []*request
	creates map[string]int
	hooks   int
	leaked  int
	closed  bool
}

type request struct {
	id, endpoint, app string
	input             map[string]any
	webhook           string
	start             time.Time
	seconds           int
	size              string
	cancelled, hooked bool
}

// New starts a fake whose requests take renderTime, failing as chaos says.
func New(renderTime time.Duration, chaos providertest.Chaos) *Fake {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	f := &Fake{RenderTime: renderTime, inject: providertest.NewInjector(chaos), clips: providertest.NewClips(), pub: pub, priv: priv, creates: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{owner}/{app}/{path...}", f.submit)
	mux.HandleFunc("GET /{owner}/{app}/requests/{id}/status", f.status)
	mux.HandleFunc("GET /{owner}/{app}/requests/{id}", f.result)
	mux.HandleFunc("PUT /{owner}/{app}/requests/{id}/cancel", f.cancel)
	mux.HandleFunc("GET /v1/models/requests/by-endpoint", f.list)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/files/"):
			f.file(w, r)
			return
		case r.URL.Path == "/.well-known/jwks.json":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(f.pub), "kid": "faltest"}}})
			return
		}
		if r.Header.Get("Authorization") != "Key "+Key {
			detail(w, 401, "", "Unauthorized")
			return
		}
		switch kind := f.inject.Pick(r.Method == http.MethodPost); kind {
		case "":
			mux.ServeHTTP(w, r)
		case providertest.Fail500:
			detail(w, 500, "internal_error", "Internal server error")
		case providertest.Fail503:
			detail(w, 503, "runner_scheduling_failure", "No runner could be scheduled")
		case providertest.Fail429:
			w.Header().Set("Retry-After", "1")
			detail(w, 429, "", "Too many concurrent requests")
		case providertest.FailHang:
			f.inject.Hang(r)
			detail(w, 504, "request_timeout", "Request timed out")
		case providertest.FailMalformed:
			providertest.Malformed(w)
		case providertest.FailLost:
			providertest.Lose(w, r, mux.ServeHTTP)
		}
	}))
	go f.hookLoop()
	return f
}

// JWKSURL is where the fake serves its signing key.
func (f *Fake) JWKSURL() string { return f.URL + "/.well-known/jwks.json" }

func detail(w http.ResponseWriter, status int, errorType, msg string) {
	body := map[string]any{"detail": msg}
	if errorType != "" {
		body["error_type"] = errorType
		w.Header().Set("X-Fal-Error-Type", errorType)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func invalid(w http.ResponseWriter, field, msg, typ string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnprocessableEntity)
	_ = json.NewEncoder(w).Encode(map[string]any{"detail": []map[string]any{{"loc": []string{"body", field}, "msg": msg, "type": typ}}})
}

// family checks an input as the endpoint's model does, and returns the
// clip's seconds and size.
func family(endpoint string, in map[string]any) (int, string, string, string) {
	str := func(k string) string { s, _ := in[k].(string); return s }
	ratio := str("aspect_ratio")
	if ratio == "" {
		ratio = "16:9"
	}
	short := 720
	switch str("resolution") {
	case "1080p":
		short = 1080
	case "", "720p":
	default:
		return 0, "", "resolution", "resolution must be 720p or 1080p"
	}
	var secs int
	switch {
	case strings.Contains(endpoint, "/kling-video/") && strings.HasSuffix(endpoint, "/text-to-video"):
		if !slices.Contains([]string{"5", "10"}, str("duration")) {
			return 0, "", "duration", `duration must be "5" or "10"`
		}
		secs, _ = strconv.Atoi(str("duration"))
	case strings.Contains(endpoint, "/minimax/"):
		if !slices.Contains([]string{"6", "10"}, str("duration")) {
			return 0, "", "duration", `duration must be "6" or "10"`
		}
		secs, _ = strconv.Atoi(str("duration"))
		short, ratio = 768, "16:9"
	case strings.Contains(endpoint, "/pika/"):
		d, _ := in["duration"].(float64)
		if d != 5 && d != 10 {
			return 0, "", "duration", "duration must be 5 or 10"
		}
		secs = int(d)
	case strings.Contains(endpoint, "/veo3"):
		if !slices.Contains([]string{"4s", "6s", "8s"}, str("duration")) {
			return 0, "", "duration", `duration must be "4s", "6s" or "8s"`
		}
		secs, _ = strconv.Atoi(strings.TrimSuffix(str("duration"), "s"))
	default:
		return 0, "", "endpoint", "Application not found"
	}
	if ratio != "16:9" && ratio != "9:16" && ratio != "1:1" {
		return 0, "", "aspect_ratio", "aspect_ratio must be 16:9, 9:16 or 1:1"
	}
	long := short * 16 / 9 &^ 1 // even, as video sizes are
	size := fmt.Sprintf("%dx%d", long, short)
	switch ratio {
	case "9:16":
		size = fmt.Sprintf("%dx%d", short, long)
	case "1:1":
		size = fmt.Sprintf("%dx%d", short, short)
	}
	return secs, size, "", ""
}

func (f *Fake) submit(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Fal-No-Retry") == "" {
		detail(w, 400, "bad_request", "this fake wants x-fal-no-retry: the router retries, fal must not")
		return
	}
	app := r.PathValue("owner") + "/" + r.PathValue("app")
	endpoint := app + "/" + r.PathValue("path")
	var in map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&in); err != nil {
		detail(w, 400, "bad_request", "Invalid JSON")
		return
	}
	prompt, _ := in["prompt"].(string)
	secs, size, field, msg := family(endpoint, in)
	switch {
	case field == "endpoint":
		detail(w, 404, "", msg)
		return
	case field != "":
		invalid(w, field, msg, "value_error")
		return
	case prompt == "":
		invalid(w, "prompt", "field required", "missing")
		return
	case strings.Contains(prompt, "FORBIDDEN"):
		invalid(w, "prompt", "The content was flagged by a content checker.", "content_policy_violation")
		return
	}
	hook := r.URL.Query().Get("fal_webhook")
	if hook != "" {
		if u, err := url.Parse(hook); err != nil || !u.IsAbs() {
			detail(w, 400, "bad_request", "fal_webhook must be an absolute URL")
			return
		}
	}
	f.mu.Lock()
	id := fmt.Sprintf("%08x-fa1-4000-8000-%012d", time.Now().UnixNano()&0xffffffff, len(f.reqs)+1)
	f.reqs = append(f.reqs, &request{id: id, endpoint: endpoint, app: app, input: in, webhook: hook, start: time.Now(), seconds: secs, size: size})
	f.creates[prompt]++
	f.mu.Unlock()
	base := f.URL + "/" + app + "/requests/" + id
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"request_id": id, "gateway_request_id": id, "status": "IN_QUEUE", "queue_position": 0,
		"response_url": base, "status_url": base + "/status", "cancel_url": base + "/cancel"})
}

func (f *Fake) find(app, id string) *request {
	for _, q := range f.reqs {
		if q.id == id && q.app == app {
			return q
		}
	}
	return nil
}

// state is where q stands: IN_QUEUE, IN_PROGRESS, COMPLETED.
func (f *Fake) state(q *request) string {
	switch e := time.Since(q.start); {
	case q.cancelled || e >= f.RenderTime:
		return "COMPLETED"
	case e >= f.RenderTime/4:
		return "IN_PROGRESS"
	}
	return "IN_QUEUE"
}

func (f *Fake) status(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	q := f.find(r.PathValue("owner")+"/"+r.PathValue("app"), r.PathValue("id"))
	var body map[string]any
	if q != nil {
		st := f.state(q)
		body = map[string]any{"status": st, "request_id": q.id, "response_url": f.URL + "/" + q.app + "/requests/" + q.id, "logs": nil}
		switch {
		case st == "IN_QUEUE":
			body["queue_position"] = 0
		case st == "COMPLETED" && q.cancelled:
			body["error"], body["error_type"] = "Request was cancelled", "client_cancelled"
		case st == "COMPLETED" && strings.Contains(q.input["prompt"].(string), "RUNNERDIED"):
			body["error"], body["error_type"] = "Runner disconnected", "runner_disconnected"
		case st == "COMPLETED":
			body["metrics"] = map[string]float64{"inference_time": f.RenderTime.Seconds()}
		}
	}
	f.mu.Unlock()
	if q == nil {
		detail(w, 404, "", "Request not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if body["status"] != "COMPLETED" {
		w.WriteHeader(http.StatusAccepted)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// output is q's result as fal answers it: the video, or the error it ended in.
func (f *Fake) output(q *request) (int, any) {
	prompt, _ := q.input["prompt"].(string)
	switch {
	case f.state(q) != "COMPLETED":
		return 400, map[string]any{"detail": "Request is still in progress"}
	case strings.Contains(prompt, "REFUSE"):
		return 422, map[string]any{"detail": []map[string]any{{"loc": []string{"body", "prompt"}, "msg": "The content was flagged by a content checker.",
			"type": "content_policy_violation", "url": "https://docs.fal.ai/errors#content_policy_violation"}}}
	case strings.Contains(prompt, "RUNNERDIED") || q.cancelled:
		return 500, map[string]any{"detail": "Runner disconnected", "error_type": "runner_disconnected"}
	}
	return 200, map[string]any{"video": map[string]any{"url": f.URL + "/files/" + q.id + "/output.mp4", "content_type": "video/mp4", "file_name": "output.mp4"}}
}

func (f *Fake) result(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	q := f.find(r.PathValue("owner")+"/"+r.PathValue("app"), r.PathValue("id"))
	var status int
	var body any
	if q != nil {
		status, body = f.output(q)
	}
	f.mu.Unlock()
	if q == nil {
		detail(w, 404, "", "Request not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (f *Fake) cancel(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	q := f.find(r.PathValue("owner")+"/"+r.PathValue("app"), r.PathValue("id"))
	st := "NOT_FOUND"
	if q != nil {
		st = "CANCELLATION_REQUESTED"
		if f.state(q) == "COMPLETED" {
			st = "ALREADY_COMPLETED"
		} else {
			q.cancelled = true
		}
	}
	f.mu.Unlock()
	if q == nil {
		detail(w, 404, "", "Request not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": st})
}

const pageSize = 100

// list is the platform API's GET /v1/models/requests/by-endpoint.
func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	endpoint := q.Get("endpoint_id")
	start := time.Now().Add(-24 * time.Hour)
	if s := q.Get("start"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			detail(w, 400, "bad_request", "start is not ISO 8601")
			return
		}
		start = t
	}
	cursor := 0
	if c := q.Get("cursor"); c != "" {
		b, err := base64.StdEncoding.DecodeString(c)
		if cursor, _ = strconv.Atoi(string(b)); err != nil {
			detail(w, 400, "bad_request", "bad cursor")
			return
		}
	}
	payloads := q.Get("expand") == "payloads"
	f.mu.Lock()
	var items []map[string]any
	for i := len(f.reqs) - 1; i >= 0; i-- {
		rq := f.reqs[i]
		if rq.endpoint != endpoint || rq.start.Before(start) {
			continue
		}
		it := map[string]any{"request_id": rq.id, "endpoint_id": rq.endpoint, "started_at": rq.start.UTC().Format(time.RFC3339Nano), "status_code": 200}
		if payloads {
			it["json_input"] = rq.input
		}
		items = append(items, it)
	}
	f.mu.Unlock()
	page := items[min(cursor, len(items)):min(cursor+pageSize, len(items))]
	body := map[string]any{"items": append([]map[string]any{}, page...), "has_more": cursor+pageSize < len(items), "next_cursor": nil}
	if cursor+pageSize < len(items) {
		body["next_cursor"] = base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(cursor + pageSize)))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func (f *Fake) file(w http.ResponseWriter, r *http.Request) {
	id, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/files/"), "/")
	f.mu.Lock()
	if r.Header.Get("Authorization") != "" {
		f.leaked++
	}
	var q *request
	for _, rq := range f.reqs {
		if rq.id == id {
			q = rq
		}
	}
	ok := q != nil
	var secs int
	var size string
	if ok {
		st, _ := f.output(q)
		ok, secs, size = st == 200, q.seconds, q.size
	}
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	f.clips.Serve(w, r, secs, size)
}

// Sign returns the headers fal signs a webhook body with.
func (f *Fake) Sign(requestID string, body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	sum := sha256.Sum256(body)
	sig := ed25519.Sign(f.priv, []byte(requestID+"\n"+User+"\n"+ts+"\n"+hex.EncodeToString(sum[:])))
	return http.Header{"X-Fal-Webhook-Request-Id": {requestID}, "X-Fal-Webhook-User-Id": {User}, "X-Fal-Webhook-Timestamp": {ts},
		"X-Fal-Webhook-Signature": {hex.EncodeToString(sig)}, "Content-Type": {"application/json"}}
}

// hookLoop posts each completed request's webhook, signed, to its
// fal_webhook, until answered 2xx.
func (f *Fake) hookLoop() {
	providertest.Deliver(func() ([]providertest.Delivery, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var ds []providertest.Delivery
		for _, q := range f.reqs {
			if q.webhook == "" || q.hooked || f.state(q) != "COMPLETED" {
				continue
			}
			q.hooked = true
			status, out := f.output(q)
			ev := map[string]any{"request_id": q.id, "gateway_request_id": q.id, "status": "OK", "payload": out}
			if status != 200 {
				ev["status"], ev["error"] = "ERROR", fmt.Sprintf("Invalid status code: %d", status)
			}
			body, _ := json.Marshal(ev)
			id := q.id
			ds = append(ds, providertest.Delivery{URL: q.webhook, Body: body, Header: func() http.Header { return f.Sign(id, body, time.Now()) }})
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

// Creates returns how many requests were made with prompt.
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

// KeyLeaks counts output downloads that carried the API key.
func (f *Fake) KeyLeaks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaked
}

// Failures counts the failures injected, by kind.
func (f *Fake) Failures() map[string]int { return f.inject.Failures() }
