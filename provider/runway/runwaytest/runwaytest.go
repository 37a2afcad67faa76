// Package runwaytest is a fake of Runway's API for tests: tasks made by
// POST /v1/text_to_video and /v1/image_to_video (checked as Runway checks
// them: key, X-Runway-Version, model, ratio, duration), polled at GET
// /v1/tasks/{id} through PENDING, THROTTLED and RUNNING with progress to
// SUCCEEDED with a signed output URL, or FAILED with a failureCode, and
// cancelled or deleted with DELETE. Errors are Runway's {"error", "issues"}.
//
// Prompts steer it: FORBIDDEN is refused at submit (moderation), REFUSE
// fails with SAFETY.INPUT.TEXT, BADOUTPUT with INTERNAL.BAD_OUTPUT.CODE01,
// NOCREDITS answers Runway's 400 for an organisation out of credits.
package runwaytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"tollgate/provider/providertest"
)

// Key is the API key the fake accepts.
const Key = "key_runwaytest"

// Fake is a running fake of Runway. Its methods are safe for concurrent use.
type Fake struct {
	*httptest.Server
	// RenderTime is how long a task takes to succeed.
	RenderTime time.Duration

	inject *providertest.Injector
	clips  *providertest.Clips

	mu      sync.Mutex
	tasks   map[string]*task
	order   []string
	creates map[string]int // by prompt
	leaked  int            // output downloads that carried the API key
}

type task struct {
	id, model, prompt, ratio string
	duration                 int
	image                    bool
	start                    time.Time
	cancelled, deleted       bool
}

// New starts a fake whose tasks take renderTime, failing as chaos says.
func New(renderTime time.Duration, chaos providertest.Chaos) *Fake {
	f := &Fake{RenderTime: renderTime, inject: providertest.NewInjector(chaos), clips: providertest.NewClips(),
		tasks: map[string]*task{}, creates: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/text_to_video", f.create)
	mux.HandleFunc("POST /v1/image_to_video", f.create)
	mux.HandleFunc("GET /v1/tasks/{id}", f.get)
	mux.HandleFunc("DELETE /v1/tasks/{id}", f.delete)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/signed/") { // the output's signed URL: no key wanted
			f.output(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+Key {
			apiError(w, 401, "Invalid API key")
			return
		}
		if r.Header.Get("X-Runway-Version") != "2024-11-06" {
			apiError(w, 400, "Invalid API version header: X-Runway-Version must be 2024-11-06")
			return
		}
		switch kind := f.inject.Pick(r.Method == http.MethodPost); kind {
		case "":
			mux.ServeHTTP(w, r)
		case providertest.Fail500:
			apiError(w, 500, "Internal server error")
		case providertest.Fail503:
			apiError(w, 503, "Service temporarily unavailable")
		case providertest.Fail429:
			w.Header().Set("Retry-After", "1")
			apiError(w, 429, "You have exceeded the rate limit")
		case providertest.FailHang:
			f.inject.Hang(r)
			apiError(w, 504, "Gateway timeout")
		case providertest.FailMalformed:
			providertest.Malformed(w)
		case providertest.FailLost:
			providertest.Lose(w, r, mux.ServeHTTP)
		}
	}))
	return f
}

func apiError(w http.ResponseWriter, status int, msg string, issues ...map[string]any) {
	body := map[string]any{"error": msg}
	if len(issues) > 0 {
		body["issues"] = issues
		body["docUrl"] = "https://docs.dev.runwayml.com/api"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func invalid(w http.ResponseWriter, field, msg string) {
	apiError(w, 400, "Validation of body failed", map[string]any{"code": "invalid_value", "path": []string{field}, "message": msg})
}

// Models and what they take, as Runway's API lists them.
var (
	textModels  = []string{"gen4.5", "veo3.1", "veo3.1_fast", "veo3"}
	imageModels = []string{"gen4_turbo", "gen4.5", "veo3.1", "veo3.1_fast", "veo3"}
	ratios      = []string{"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672", "1920:1080", "1080:1920"}
)

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Model       string `json:"model"`
		PromptText  string `json:"promptText"`
		PromptImage string `json:"promptImage"`
		Ratio       string `json:"ratio"`
		Duration    int    `json:"duration"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		apiError(w, 400, "Invalid JSON body: "+err.Error())
		return
	}
	image := strings.HasSuffix(r.URL.Path, "image_to_video")
	models := textModels
	if image {
		models = imageModels
	}
	switch {
	case !slices.Contains(models, in.Model):
		invalid(w, "model", fmt.Sprintf("Invalid option: expected one of %s", strings.Join(models, "|")))
		return
	case image && !strings.HasPrefix(in.PromptImage, "data:image/") && !strings.HasPrefix(in.PromptImage, "https://"):
		invalid(w, "promptImage", "Invalid input: expected an HTTPS URL or a data URI")
		return
	case !image && strings.TrimSpace(in.PromptText) == "":
		invalid(w, "promptText", "Too small: expected string to have >=1 characters")
		return
	case len([]rune(in.PromptText)) > 1000:
		invalid(w, "promptText", "Too big: expected string to have <=1000 characters")
		return
	case !slices.Contains(ratios, in.Ratio):
		invalid(w, "ratio", "Invalid option: expected one of "+strings.Join(ratios, "|"))
		return
	case in.Duration < 2 || in.Duration > 10:
		invalid(w, "duration", "Too big or too small: expected number to be >=2 and <=10")
		return
	case strings.Contains(in.PromptText, "FORBIDDEN"):
		apiError(w, 400, "Your prompt was flagged by our content moderation system (safety).")
		return
	case strings.Contains(in.PromptText, "NOCREDITS"):
		apiError(w, 400, "You do not have enough credits to run this task.")
		return
	}
	t := &task{id: newUUID(), model: in.Model, prompt: in.PromptText, ratio: in.Ratio, duration: in.Duration, image: image, start: time.Now()}
	f.mu.Lock()
	f.tasks[t.id] = t
	f.order = append(f.order, t.id)
	f.creates[t.prompt]++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": t.id, "estimatedCost": map[string]int{"credits": 5 * t.duration}})
}

var uuidN struct {
	sync.Mutex
	n int
}

func newUUID() string {
	uuidN.Lock()
	defer uuidN.Unlock()
	uuidN.n++
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", time.Now().UnixNano()&0xffffffff, uuidN.n)
}

// view is the task as Runway shows it now.
func (f *Fake) view(t *task) map[string]any {
	v := map[string]any{"id": t.id, "createdAt": t.start.UTC().Format(time.RFC3339Nano)}
	elapsed := time.Since(t.start)
	switch {
	case t.cancelled:
		v["status"] = "CANCELLED"
	case elapsed < f.RenderTime/10:
		v["status"] = "THROTTLED"
	case elapsed < f.RenderTime/5:
		v["status"] = "PENDING"
	case elapsed < f.RenderTime:
		v["status"], v["progress"] = "RUNNING", float64(elapsed)/float64(f.RenderTime)
	case strings.Contains(t.prompt, "REFUSE"):
		v["status"], v["failure"], v["failureCode"] = "FAILED", "The prompt did not pass our content moderation.", "SAFETY.INPUT.TEXT"
	case strings.Contains(t.prompt, "BADOUTPUT"):
		v["status"], v["failure"], v["failureCode"] = "FAILED", "The output did not pass our quality checks.", "INTERNAL.BAD_OUTPUT.CODE01"
	default:
		v["status"] = "SUCCEEDED"
		v["output"] = []string{fmt.Sprintf("%s/signed/%s.mp4?_jwt=signed-%d", f.URL, t.id, time.Now().UnixNano())}
	}
	return v
}

func (f *Fake) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	t := f.tasks[r.PathValue("id")]
	var v map[string]any
	if t != nil && !t.deleted {
		v = f.view(t)
	}
	f.mu.Unlock()
	if v == nil {
		apiError(w, 404, "Task not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *Fake) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	t := f.tasks[r.PathValue("id")]
	if t == nil || t.deleted {
		f.mu.Unlock()
		apiError(w, 404, "Task not found")
		return
	}
	if time.Since(t.start) < f.RenderTime && !t.cancelled {
		t.cancelled = true
	} else {
		t.deleted = true
	}
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) output(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/signed/"), ".mp4")
	f.mu.Lock()
	t := f.tasks[id]
	if r.Header.Get("Authorization") != "" {
		f.leaked++
	}
	f.mu.Unlock()
	if t == nil || r.URL.Query().Get("_jwt") == "" {
		http.Error(w, "<Error><Code>AccessDenied</Code></Error>", http.StatusForbidden)
		return
	}
	w2, h2, _ := strings.Cut(t.ratio, ":")
	f.clips.Serve(w, r, t.duration, w2+"x"+h2)
}

// Creates returns how many tasks were made with prompt.
func (f *Fake) Creates(prompt string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates[prompt]
}

// Tasks returns how many tasks were made in all.
func (f *Fake) Tasks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.order)
}

// Cancelled reports whether the task was cancelled.
func (f *Fake) Cancelled(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tasks[id]
	return t != nil && t.cancelled
}

// KeyLeaks counts output downloads that carried the API key: Runway's
// outputs are on another host, which must never see it.
func (f *Fake) KeyLeaks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaked
}

// Failures counts the failures injected, by kind.
func (f *Fake) Failures() map[string]int { return f.inject.Failures() }
