// Package veotest is a fake of the Gemini API's Veo models for tests:
// operations started by POST /v1beta/models/{model}:predictLongRunning
// (the key in x-goog-api-key, parameters checked), polled at GET
// /v1beta/models/{model}/operations/{id} until done with a generated
// sample, a google.rpc error, or no sample and raiMediaFilteredCount (a
// refusal in disguise); the sample's URI on the API's host answers a 302
// to storage, which must not see the key. Errors are
// {"error": {code, message, status}}.
//
// Prompts steer it: FORBIDDEN is refused at submit (400 INVALID_ARGUMENT
// naming the safety policy), REFUSE ends filtered, BROKEN ends with an
// INTERNAL error.
package veotest

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
const Key = "AIza-veotest"

// Fake is a running fake of the Gemini API. Its methods are safe for
// concurrent use.
type Fake struct {
	*httptest.Server
	// RenderTime is how long an operation takes.
	RenderTime time.Duration

	inject *providertest.Injector
	clips  *providertest.Clips
	// store is the storage a sample's download redirects to: another
	// host, which must not get the key.
	store *httptest.Server

	mu      sync.Mutex
	ops     map[string]*operation // by name
	creates map[string]int
	leaked  int // storage downloads that carried the key
	files   int // sample downloads with the key
}

type operation struct {
	name, model, prompt, size string
	seconds                   int
	start                     time.Time
}

// New starts a fake whose operations take renderTime, failing as chaos says.
func New(renderTime time.Duration, chaos providertest.Chaos) *Fake {
	f := &Fake{RenderTime: renderTime, inject: providertest.NewInjector(chaos), clips: providertest.NewClips(), ops: map[string]*operation{}, creates: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1beta/models/{action}", f.create)
	mux.HandleFunc("GET /v1beta/models/{model}/operations/{id}", f.get)
	mux.HandleFunc("GET /v1beta/files/{file}", f.file)
	f.store = httptest.NewServer(http.HandlerFunc(f.storage))
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Goog-Api-Key") != Key && r.URL.Query().Get("key") != Key {
			apiError(w, 403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
			return
		}
		switch kind := f.inject.Pick(r.Method == http.MethodPost); kind {
		case "":
			mux.ServeHTTP(w, r)
		case providertest.Fail500:
			apiError(w, 500, "INTERNAL", "An internal error has occurred.")
		case providertest.Fail503:
			apiError(w, 503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
		case providertest.Fail429:
			apiError(w, 429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
		case providertest.FailHang:
			f.inject.Hang(r)
			apiError(w, 504, "DEADLINE_EXCEEDED", "Deadline exceeded")
		case providertest.FailMalformed:
			providertest.Malformed(w)
		case providertest.FailLost:
			providertest.Lose(w, r, mux.ServeHTTP)
		}
	}))
	return f
}

// BaseURL is the base URL a client is given.
func (f *Fake) BaseURL() string { return f.URL + "/v1beta" }

var rpcCodes = map[string]int{"INVALID_ARGUMENT": 3, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "INTERNAL": 13, "UNAVAILABLE": 14, "NOT_FOUND": 5, "DEADLINE_EXCEEDED": 4}

func apiError(w http.ResponseWriter, status int, rpc, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg, "status": rpc}})
}

var models = []string{"veo-3.0-generate-001", "veo-3.0-fast-generate-001", "veo-3.1-generate-preview", "veo-3.1-fast-generate-preview"}

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	model, ok := strings.CutSuffix(r.PathValue("action"), ":predictLongRunning")
	if !ok {
		apiError(w, 404, "NOT_FOUND", "Method not found.")
		return
	}
	if !slices.Contains(models, model) {
		apiError(w, 404, "NOT_FOUND", fmt.Sprintf("models/%s is not found for API version v1beta, or is not supported for predictLongRunning.", model))
		return
	}
	var in struct {
		Instances []struct {
			Prompt string `json:"prompt"`
			Image  *struct {
				Bytes string `json:"bytesBase64Encoded"`
				Mime  string `json:"mimeType"`
			} `json:"image"`
		} `json:"instances"`
		Parameters struct {
			AspectRatio     string `json:"aspectRatio"`
			Resolution      string `json:"resolution"`
			DurationSeconds int    `json:"durationSeconds"`
			SampleCount     int    `json:"sampleCount"`
			Seed            *int   `json:"seed"`
			GenerateAudio   *bool  `json:"generateAudio"`
		} `json:"parameters"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 30<<20)).Decode(&in); err != nil || len(in.Instances) != 1 {
		apiError(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	p := in.Parameters
	inst := in.Instances[0]
	switch {
	case strings.TrimSpace(inst.Prompt) == "":
		apiError(w, 400, "INVALID_ARGUMENT", "The prompt is required.")
		return
	case p.Seed != nil || p.GenerateAudio != nil:
		apiError(w, 400, "INVALID_ARGUMENT", "seed and generateAudio are not supported by the Gemini API.")
		return
	case p.AspectRatio != "16:9" && p.AspectRatio != "9:16":
		apiError(w, 400, "INVALID_ARGUMENT", "aspectRatio must be 16:9 or 9:16.")
		return
	case p.Resolution != "720p" && p.Resolution != "1080p":
		apiError(w, 400, "INVALID_ARGUMENT", "resolution must be 720p or 1080p.")
		return
	case !slices.Contains([]int{4, 6, 8}, p.DurationSeconds) || (p.Resolution == "1080p" && p.DurationSeconds != 8):
		apiError(w, 400, "INVALID_ARGUMENT", "durationSeconds must be 4, 6 or 8, and 8 at 1080p.")
		return
	case inst.Image != nil && (inst.Image.Bytes == "" || !strings.HasPrefix(inst.Image.Mime, "image/")):
		apiError(w, 400, "INVALID_ARGUMENT", "image needs bytesBase64Encoded and an image mimeType.")
		return
	case strings.Contains(inst.Prompt, "FORBIDDEN"):
		apiError(w, 400, "INVALID_ARGUMENT", "The prompt violates our usage guidelines (safety). Support codes: 58061214")
		return
	}
	short := map[string]int{"720p": 720, "1080p": 1080}[p.Resolution]
	size := fmt.Sprintf("%dx%d", short*16/9, short)
	if p.AspectRatio == "9:16" {
		size = fmt.Sprintf("%dx%d", short, short*16/9)
	}
	f.mu.Lock()
	name := fmt.Sprintf("models/%s/operations/op%d%d", model, time.Now().UnixNano()%1e9, len(f.ops)+1)
	f.ops[name] = &operation{name: name, model: model, prompt: inst.Prompt, size: size, seconds: p.DurationSeconds, start: time.Now()}
	f.creates[inst.Prompt]++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"name": name})
}

func (f *Fake) view(o *operation) map[string]any {
	v := map[string]any{"name": o.name}
	if time.Since(o.start) < f.RenderTime {
		v["done"] = false
		return v
	}
	v["done"] = true
	resp := map[string]any{"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"}
	switch {
	case strings.Contains(o.prompt, "BROKEN"):
		v["error"] = map[string]any{"code": rpcCodes["INTERNAL"], "message": "Video generation failed due to an internal error."}
		return v
	case strings.Contains(o.prompt, "REFUSE"):
		resp["generateVideoResponse"] = map[string]any{"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": []string{
			"Veo could not generate 1 videos based on the prompt provided. You will not be charged for this request. Support codes: 42237218"}}
	default:
		id := strings.TrimPrefix(o.name[strings.LastIndex(o.name, "/")+1:], "op")
		resp["generateVideoResponse"] = map[string]any{"generatedSamples": []any{map[string]any{"video": map[string]string{
			"uri": f.URL + "/v1beta/files/" + id + ":download?alt=media"}}}}
	}
	v["response"] = resp
	return v
}

func (f *Fake) get(w http.ResponseWriter, r *http.Request) {
	name := "models/" + r.PathValue("model") + "/operations/" + r.PathValue("id")
	f.mu.Lock()
	o := f.ops[name]
	var v map[string]any
	if o != nil {
		v = f.view(o)
	}
	f.mu.Unlock()
	if o == nil {
		apiError(w, 404, "NOT_FOUND", "Operation not found.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// file answers a sample's download with a redirect to storage.
func (f *Fake) file(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ":download")
	if !ok || r.URL.Query().Get("alt") != "media" {
		apiError(w, 400, "INVALID_ARGUMENT", "Only generated files can be downloaded, with alt=media.")
		return
	}
	f.mu.Lock()
	f.files++
	f.mu.Unlock()
	// localhost, not 127.0.0.1: another host, as Google's storage is.
	http.Redirect(w, r, strings.Replace(f.store.URL, "127.0.0.1", "localhost", 1)+"/storage/"+id+".mp4?X-Goog-Signature=signed", http.StatusFound)
}

func (f *Fake) storage(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/storage/"), ".mp4")
	f.mu.Lock()
	if r.Header.Get("X-Goog-Api-Key") != "" {
		f.leaked++
	}
	var o *operation
	for _, op := range f.ops {
		if strings.HasSuffix(op.name, "/op"+id) {
			o = op
		}
	}
	f.mu.Unlock()
	if o == nil || r.URL.Query().Get("X-Goog-Signature") == "" {
		http.Error(w, "AccessDenied", http.StatusForbidden)
		return
	}
	f.clips.Serve(w, r, o.seconds, o.size)
}

// Close stops the fake and its storage.
func (f *Fake) Close() {
	f.Server.Close()
	f.store.Close()
}

// Creates returns how many operations were started with prompt.
func (f *Fake) Creates(prompt string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates[prompt]
}

// Operations returns how many operations were started in all.
func (f *Fake) Operations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ops)
}

// KeyLeaks counts storage downloads that carried the API key; Files
// counts sample downloads that reached the API with it.
func (f *Fake) KeyLeaks() (leaks, files int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaked, f.files
}

// Failures counts the failures injected, by kind.
func (f *Fake) Failures() map[string]int { return f.inject.Failures() }
