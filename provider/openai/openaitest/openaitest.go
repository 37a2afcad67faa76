// Package openaitest is a fake of OpenAI's videos API for tests: an
// httptest server that speaks its contract (multipart creates, remix,
// edits, extensions, polling, paging, content, OpenAI's error envelope)
// and renders real clips with the local renderer. Chaos makes it fail a
// share of requests the ways upstreams do: 5xx, 429 with retry-after-ms,
// hangs, malformed answers, and creates that succeed but whose answer is
// lost.
package openaitest

import (
	"encoding/json"
	"fmt"
	"maps"
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
const Key = "sk-test-upstream"

// Chaos is a share of requests to fail, and how long a hang lasts.
type Chaos = providertest.Chaos

// Fake is a running fake upstream. Its methods are safe for concurrent use.
type Fake struct {
	*httptest.Server
	// RenderTime is how long a video takes to complete.
	RenderTime time.Duration

	mu      sync.Mutex
	inject  *providertest.Injector
	clips   *providertest.Clips
	videos  []*video // by creation
	creates map[string]int
	// characters are the characters made, by id: their names.
	characters map[string]string
	// hookURL and hookSecret, when set, receive a signed video.completed
	// or video.failed once each video ends (Notify).
	hookURL, hookSecret string
	hooksSent           int
}

// Notify makes the fake send each video's video.completed or video.failed
// to url once it ends, signed as Standard Webhooks with secret
// ("whsec_..."), as OpenAI does for a project's webhook.
func (f *Fake) Notify(url, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hookURL, f.hookSecret = url, secret
}

// HooksSent returns how many webhooks were answered 2xx.
func (f *Fake) HooksSent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hooksSent
}

// sendHook posts v's final event once its render time has passed.
func (f *Fake) sendHook(v *video) {
	f.mu.Lock()
	url, secret := f.hookURL, f.hookSecret
	f.mu.Unlock()
	if url == "" {
		return
	}
	time.Sleep(f.RenderTime + 10*time.Millisecond)
	f.mu.Lock()
	final := f.now(v)
	f.mu.Unlock()
	typ := "video.completed"
	if final.Status == "failed" {
		typ = "video.failed"
	}
	id := fmt.Sprintf("evt_%s", final.ID)
	body, _ := json.Marshal(map[string]any{"id": id, "object": "event", "created_at": time.Now().Unix(), "type": typ, "data": map[string]string{"id": final.ID}})
	if providertest.SendSigned(url, secret, id, body) {
		f.mu.Lock()
		f.hooksSent++
		f.mu.Unlock()
	}
}

type video struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Model     string `json:"model"`
	Status    string `json:"status"`
	Progress  int    `json:"progress"`
	CreatedAt int64  `json:"created_at"`
	Seconds   string `json:"seconds"`
	Size      string `json:"size"`
	Prompt    string `json:"prompt"`
	Remixed   any    `json:"remixed_from_video_id"`
	Error     any    `json:"error"`
	start     time.Time
	refuse    bool
	shows     []string // the characters it shows
}

// New starts a fake whose videos take renderTime, failing as chaos says.
func New(renderTime time.Duration, chaos Chaos) *Fake {
	f := &Fake{RenderTime: renderTime, inject: providertest.NewInjector(chaos), clips: providertest.NewClips(), creates: map[string]int{},
		characters: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/videos", f.create)
	mux.HandleFunc("GET /v1/videos", f.list)
	mux.HandleFunc("GET /v1/videos/{id}", f.get)
	mux.HandleFunc("GET /v1/videos/{id}/content", f.content)
	mux.HandleFunc("POST /v1/videos/{id}/remix", f.remix)
	mux.HandleFunc("POST /v1/videos/edits", f.derive)
	mux.HandleFunc("POST /v1/videos/extensions", f.derive)
	mux.HandleFunc("POST /v1/videos/characters", f.newCharacter)
	mux.HandleFunc("DELETE /v1/videos/{id}", f.delete)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+Key {
			apiError(w, 401, "invalid_request_error", "invalid_api_key", "", "Incorrect API key provided.")
			return
		}
		if f.fail(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	return f
}

// Creates returns how many videos were made with prompt: never more than
// one per job, whatever failed.
func (f *Fake) Creates(prompt string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates[prompt]
}

// Failures counts the failures injected, by kind.
func (f *Fake) Failures() map[string]int { return f.inject.Failures() }

// URLv1 is the base URL a client is given: the server's, with /v1.
func (f *Fake) URLv1() string { return f.URL + "/v1" }

// fail injects a failure into r, or reports false.
func (f *Fake) fail(w http.ResponseWriter, r *http.Request) bool {
	kind := f.inject.Pick(r.Method == http.MethodPost && r.URL.Path == "/v1/videos")
	switch kind {
	case "":
		return false
	case providertest.Fail500:
		apiError(w, 500, "server_error", "", "", "The server had an error while processing your request.")
	case providertest.Fail503:
		apiError(w, 503, "server_error", "", "", "The engine is currently overloaded.")
	case providertest.Fail429:
		w.Header().Set("Retry-After-Ms", "20")
		apiError(w, 429, "requests", "rate_limit_exceeded", "", "Rate limit reached.")
	case providertest.FailHang:
		f.inject.Hang(r)
		apiError(w, 500, "server_error", "", "", "too late")
	case providertest.FailMalformed:
		providertest.Malformed(w)
	case providertest.FailLost:
		providertest.Lose(w, r, f.create)
	}
	return true
}

func apiError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	e := map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}
	if code != "" {
		e["code"] = code
	}
	if param != "" {
		e["param"] = param
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

var (
	models  = []string{"sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08"}
	seconds = []string{"4", "8", "12"}
	sizes   = []string{"720x1280", "1280x720", "1024x1792", "1792x1024"}
)

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		apiError(w, 400, "invalid_request_error", "", "", "Expected multipart/form-data.")
		return
	}
	v := &video{Object: "video", Model: cmpOr(r.FormValue("model"), "sora-2"), Status: "queued", Seconds: cmpOr(r.FormValue("seconds"), "4"),
		Size: cmpOr(r.FormValue("size"), "720x1280"), Prompt: r.FormValue("prompt")}
	switch {
	case v.Prompt == "":
		apiError(w, 400, "invalid_request_error", "", "prompt", "Missing required parameter: 'prompt'.")
		return
	case !slices.Contains(models, v.Model):
		apiError(w, 400, "invalid_request_error", "", "model", "Invalid value for 'model'.")
		return
	case !slices.Contains(seconds, v.Seconds):
		apiError(w, 400, "invalid_request_error", "", "seconds", "Invalid value for 'seconds'.")
		return
	case !slices.Contains(sizes, v.Size):
		apiError(w, 400, "invalid_request_error", "", "size", "Invalid value for 'size'.")
		return
	case strings.Contains(v.Prompt, "FORBIDDEN"): // refused at once
		apiError(w, 400, "invalid_request_error", "moderation_blocked", "prompt", "Your request was blocked by our moderation system.")
		return
	}
	v.refuse = strings.Contains(v.Prompt, "REFUSE") // refused once it runs
	v.shows = r.MultipartForm.Value["characters[][id]"]
	f.mu.Lock()
	for _, id := range v.shows {
		if _, ok := f.characters[id]; !ok {
			f.mu.Unlock()
			apiError(w, 400, "invalid_request_error", "", "characters", fmt.Sprintf("Character '%s' not found.", id))
			return
		}
	}
	f.mu.Unlock()
	f.add(w, v)
}

// newCharacter is POST /v1/videos/characters: a name and an MP4 clip.
func (f *Fake) newCharacter(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		apiError(w, 400, "invalid_request_error", "", "", "Expected multipart/form-data.")
		return
	}
	name := r.FormValue("name")
	file, _, err := r.FormFile("video")
	if err != nil {
		apiError(w, 400, "invalid_request_error", "", "video", "Missing required parameter: 'video'.")
		return
	}
	defer func() { _ = file.Close() }()
	head := make([]byte, 8)
	if n, _ := file.Read(head); n < 8 || string(head[4:8]) != "ftyp" {
		apiError(w, 400, "invalid_request_error", "", "video", "The video must be an MP4 file.")
		return
	}
	if name == "" {
		apiError(w, 400, "invalid_request_error", "", "name", "Missing required parameter: 'name'.")
		return
	}
	f.mu.Lock()
	id := fmt.Sprintf("char_up%04d", len(f.characters)+1)
	f.characters[id] = name
	f.mu.Unlock()
	writeJSON(w, map[string]any{"id": id, "object": "character", "name": name, "created_at": time.Now().Unix()})
}

// Shows returns the characters (the fake's ids) the videos made with
// prompt were asked to show.
func (f *Fake) Shows(prompt string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, v := range f.videos {
		if v.Prompt == prompt {
			out = append(out, v.shows...)
		}
	}
	return out
}

// CharacterNames returns the characters made, by id.
func (f *Fake) CharacterNames() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.characters)
}

func (f *Fake) add(w http.ResponseWriter, v *video) {
	f.mu.Lock()
	v.ID = fmt.Sprintf("video_up%04d", len(f.videos)+1)
	v.start = time.Now()
	v.CreatedAt = v.start.Unix()
	f.videos = append(f.videos, v)
	f.creates[v.Prompt]++
	out := *v
	f.mu.Unlock()
	writeJSON(w, out)
	go f.sendHook(v)
}

func cmpOr(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// now advances v to where it stands, and returns a copy.
func (f *Fake) now(v *video) video {
	elapsed := time.Since(v.start)
	switch {
	case v.Status == "failed" || v.Status == "completed":
	case elapsed >= f.RenderTime && v.refuse:
		v.Status, v.Error = "failed", map[string]string{"code": "moderation_blocked", "message": "The video was blocked by our moderation system."}
	case elapsed >= f.RenderTime:
		v.Status, v.Progress = "completed", 100
	default:
		v.Status, v.Progress = "in_progress", int(99*elapsed/f.RenderTime)
	}
	return *v
}

func (f *Fake) find(id string) *video {
	for _, v := range f.videos {
		if v.ID == id {
			return v
		}
	}
	return nil
}

func (f *Fake) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	v := f.find(r.PathValue("id"))
	var out video
	if v != nil {
		out = f.now(v)
	}
	f.mu.Unlock()
	if v == nil {
		apiError(w, 404, "invalid_request_error", "", "video_id", "Video not found.")
		return
	}
	writeJSON(w, out)
}

func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(cmpOr(r.URL.Query().Get("limit"), "20"))
	after := r.URL.Query().Get("after")
	f.mu.Lock()
	var all []video
	for i := len(f.videos) - 1; i >= 0; i-- { // newest first
		all = append(all, f.now(f.videos[i]))
	}
	f.mu.Unlock()
	if after != "" {
		for i, v := range all {
			if v.ID == after {
				all = all[i+1:]
				break
			}
		}
	}
	more := len(all) > limit
	if more {
		all = all[:limit]
	}
	out := map[string]any{"object": "list", "data": all, "has_more": more, "first_id": nil, "last_id": nil}
	if len(all) > 0 {
		out["first_id"], out["last_id"] = all[0].ID, all[len(all)-1].ID
	}
	writeJSON(w, out)
}

func (f *Fake) content(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	v := f.find(r.PathValue("id"))
	var cur video
	if v != nil {
		cur = f.now(v)
	}
	f.mu.Unlock()
	if v == nil || cur.Status != "completed" {
		apiError(w, 404, "invalid_request_error", "video_not_ready", "", "Video is not ready yet.")
		return
	}
	secs, _ := strconv.Atoi(cur.Seconds)
	f.clips.Serve(w, r, secs, cur.Size)
}

func (f *Fake) remix(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Prompt string `json:"prompt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Prompt == "" {
		apiError(w, 400, "invalid_request_error", "", "prompt", "Missing required parameter: 'prompt'.")
		return
	}
	f.mu.Lock()
	src := f.find(r.PathValue("id"))
	var s video
	if src != nil {
		s = f.now(src)
	}
	f.mu.Unlock()
	if src == nil || s.Status != "completed" {
		apiError(w, 400, "invalid_request_error", "", "video_id", "The source video is not completed.")
		return
	}
	f.add(w, &video{Object: "video", Model: s.Model, Status: "queued", Seconds: s.Seconds, Size: s.Size, Prompt: body.Prompt, Remixed: s.ID})
}

func (f *Fake) derive(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		apiError(w, 400, "invalid_request_error", "", "", "Expected multipart/form-data.")
		return
	}
	f.mu.Lock()
	src := f.find(r.FormValue("video[id]"))
	var s video
	if src != nil {
		s = f.now(src)
	}
	f.mu.Unlock()
	if src == nil || s.Status != "completed" {
		apiError(w, 400, "invalid_request_error", "", "video", "The source video is not completed.")
		return
	}
	v := &video{Object: "video", Model: s.Model, Status: "queued", Seconds: s.Seconds, Size: s.Size, Prompt: r.FormValue("prompt")}
	if strings.HasSuffix(r.URL.Path, "/extensions") {
		add, _ := strconv.Atoi(r.FormValue("seconds"))
		had, _ := strconv.Atoi(s.Seconds)
		v.Seconds = strconv.Itoa(had + add)
	}
	f.add(w, v)
}

func (f *Fake) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, v := range f.videos {
		if v.ID == r.PathValue("id") {
			if cur := f.now(v); cur.Status != "completed" && cur.Status != "failed" {
				apiError(w, 400, "invalid_request_error", "", "video_id", "Only a completed or failed video can be deleted.")
				return
			}
			f.videos = append(f.videos[:i], f.videos[i+1:]...)
			writeJSON(w, map[string]any{"id": v.ID, "object": "video.deleted", "deleted": true})
			return
		}
	}
	apiError(w, 404, "invalid_request_error", "", "video_id", "Video not found.")
}
