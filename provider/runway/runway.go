// Package runway is the adapter for Runway's API (api.dev.runwayml.com):
// a task per video (text_to_video, or image_to_video with a reference
// image sent as a data URL), polled at GET /v1/tasks/{id}, whose progress
// Runway reports, downloaded from the signed URL of its output, cancelled
// with DELETE. Every call carries X-Runway-Version.
//
// Runway has no task listing and takes no client reference, so a submit
// whose answer was lost cannot be looked up: the adapter is not a
// router.Reconciler, and the gateway never sends such a job anywhere
// again (it fails and is released, the possible cost kept for the
// operator).
package runway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"tollgate"
	"tollgate/provider/internal/call"
	"tollgate/router"
)

// Defaults of Client.
const (
	DefaultBaseURL = "https://api.dev.runwayml.com"
	// Version is the API version sent in X-Runway-Version.
	Version = "2024-11-06"
)

// Client calls Runway. It is safe for concurrent use.
type Client struct {
	name    string
	base    string
	key     string
	http    *http.Client
	content *http.Client
}

var _ router.Provider = (*Client)(nil)

// Options configure a Client.
type Options struct {
	Name    string // the provider's name in the catalog; default "runway"
	BaseURL string // default DefaultBaseURL
	APIKey  string
	// Timeout bounds each call but downloads; default 60 s.
	Timeout time.Duration
	// Transport, when set, is used instead of the default one (tests).
	Transport http.RoundTripper
}

// New returns a client for Runway.
func New(o Options) *Client {
	if o.Name == "" {
		o.Name = "runway"
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	api, content := call.Clients(o.Timeout, o.Transport)
	return &Client{name: o.Name, base: strings.TrimRight(o.BaseURL, "/"), key: o.APIKey, http: api, content: content}
}

// Name returns the provider's name.
func (c *Client) Name() string { return c.name }

func (c *Client) request(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := call.JSON(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("X-Runway-Version", Version)
	return req, nil
}

// Submit starts a task: text_to_video, or image_to_video when j has a
// reference image. Runway cannot remix, edit or extend a video of its own.
func (c *Client) Submit(ctx context.Context, j router.Job) (string, error) {
	if j.Kind != "" && j.Kind != tollgate.VideoCreate {
		return "", &router.Error{Kind: router.Terminal, Code: "unsupported", Message: fmt.Sprintf("Runway cannot %s a video", j.Kind)}
	}
	shape, err := call.ShapeOf(j.Size)
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	body := map[string]any{"model": j.Model, "promptText": j.Prompt, "ratio": fmt.Sprintf("%d:%d", shape.Width, shape.Height), "duration": j.Seconds}
	path := "/v1/text_to_video"
	if j.Input != "" {
		img, err := call.DataURL(j.Input)
		if err != nil {
			return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
		}
		body["promptImage"], path = img, "/v1/image_to_video"
	}
	b, _ := json.Marshal(body)
	req, err := c.request(ctx, http.MethodPost, path, b)
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	ans, _, err := call.Send(c.http, req, true, ParseError)
	if err != nil {
		return "", err
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(ans, &created); err != nil || !call.UsableID(created.ID) {
		return "", call.Malformed(true, fmt.Errorf("the task's answer has no usable id: %.200s", ans))
	}
	return created.ID, nil
}

// Task is Runway's task object, as far as Tollgate reads it.
type Task struct {
	ID          string   `json:"id"`
	Status      string   `json:"status"`
	Progress    *float64 `json:"progress"`
	Output      []string `json:"output"`
	Failure     string   `json:"failure"`
	FailureCode *string  `json:"failureCode"`
}

// Statuses of a task.
var statuses = []string{"PENDING", "THROTTLED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"}

// ParseTask reads a task, refusing one without an id or with a status
// Runway does not have.
func ParseTask(b []byte) (Task, error) {
	var t Task
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("the task does not parse: %w", err)
	}
	if !call.UsableID(t.ID) {
		return t, errors.New("the task has no usable id")
	}
	known := false
	for _, s := range statuses {
		known = known || s == t.Status
	}
	if !known {
		return t, fmt.Errorf("the task has status %q", t.Status)
	}
	return t, nil
}

// ParseError classifies Runway's error answer ({"error": "...", "issues":
// [...]}): a moderation refusal, a failure to retry (429, 5xx), or one
// final for Runway (any other 4xx, among them a lack of credits, which
// Runway answers 400).
func ParseError(status int, h http.Header, body []byte) *router.Error {
	var e struct {
		Error  string `json:"error"`
		Issues []struct {
			Message string `json:"message"`
			Path    []any  `json:"path"`
		} `json:"issues"`
	}
	_ = json.Unmarshal(body, &e)
	msg := e.Error
	for _, is := range e.Issues {
		msg += "; " + is.Message
	}
	if msg == "" {
		msg = call.Excerpt(body)
	}
	out := &router.Error{Kind: call.ByStatus(status), Code: fmt.Sprintf("http_%d", status), Message: fmt.Sprintf("%d: %s", status, msg), RetryAfter: call.RetryAfter(h)}
	switch {
	case status == http.StatusBadRequest && call.Refusal(msg):
		out.Kind, out.Code = router.Refused, "moderation"
	case status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "enough credits"):
		out.Code = "provider_credits" // the operator's Runway balance, not the user's
	case status == http.StatusNotFound:
		out.Code = "not_found"
	}
	return out
}

func (c *Client) task(ctx context.Context, id string) (Task, error) {
	if !call.UsableID(id) {
		return Task{}, call.NotAJob("Runway", id)
	}
	req, err := c.request(ctx, http.MethodGet, "/v1/tasks/"+id, nil)
	if err != nil {
		return Task{}, err
	}
	return call.Read(c.http, req, ParseError, ParseTask)
}

// Status reads the task. Runway's progress (0 to 1) is reported while it
// runs; a pending or throttled task is at 0.
func (c *Client) Status(ctx context.Context, id string) (router.Status, error) {
	t, err := c.task(ctx, id)
	if err != nil {
		return router.Status{}, err
	}
	return status(t), nil
}

func status(t Task) router.Status {
	switch t.Status {
	case "SUCCEEDED":
		if len(t.Output) == 0 {
			return router.Status{State: router.Failed, Progress: -1, Err: &router.Error{Kind: router.Terminal, Code: "no_output", Message: "Runway says the task succeeded but gives no output"}}
		}
		return router.Status{State: router.Completed, Progress: 100}
	case "FAILED":
		code := "failed"
		if t.FailureCode != nil && *t.FailureCode != "" {
			code = *t.FailureCode
		}
		e := &router.Error{Kind: router.Terminal, Code: code, Message: cmp.Or(t.Failure, "Runway says the task failed")}
		if strings.HasPrefix(code, "SAFETY.") || strings.Contains(code, ".SAFETY.") {
			e.Kind = router.Refused
		}
		return router.Status{State: router.Failed, Progress: -1, Err: e}
	case "CANCELLED":
		return router.Status{State: router.Failed, Progress: -1, Err: &router.Error{Kind: router.Terminal, Code: "cancelled", Message: "the task was cancelled at Runway"}}
	case "RUNNING":
		p := 0
		if t.Progress != nil {
			p = int(min(max(*t.Progress, 0), 1) * 100)
		}
		return router.Status{State: router.Running, Progress: min(p, 99)}
	}
	return router.Status{State: router.Running, Progress: 0} // PENDING, THROTTLED
}

// Fetch downloads the task's video from its output URL (signed by
// Runway, fetched afresh: the URLs expire), without the API key.
func (c *Client) Fetch(ctx context.Context, id string, w io.Writer) error {
	t, err := c.task(ctx, id)
	if err != nil {
		return err
	}
	if t.Status != "SUCCEEDED" || len(t.Output) == 0 {
		return &router.Error{Kind: router.Retryable, Code: "not_ready", Message: fmt.Sprintf("the task is %s, not SUCCEEDED with an output", t.Status)}
	}
	req, err := call.Get(ctx, t.Output[0])
	if err != nil {
		return err
	}
	return call.Download(c.content, req, w, ParseError)
}

// Cancel cancels a task that is pending or running (DELETE /v1/tasks/{id});
// a task Runway no longer knows is as good as cancelled.
func (c *Client) Cancel(ctx context.Context, id string) error {
	if !call.UsableID(id) {
		return nil
	}
	req, err := c.request(ctx, http.MethodDelete, "/v1/tasks/"+id, nil)
	if err != nil {
		return err
	}
	_, _, err = call.Send(c.http, req, false, ParseError)
	var e *router.Error
	if errors.As(err, &e) && e.Code == "not_found" {
		return nil
	}
	return err
}
