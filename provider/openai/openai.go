// Package openai is the adapter for OpenAI's videos API and any upstream
// that speaks it (an aggregator, a self-hosted gateway, another Tollgate):
// submit as multipart/form-data, remix, edits and extensions where the
// upstream has them, poll, download, and find a job whose submit's answer
// was lost by listing the upstream's videos newest first and matching
// prompt, model, size, seconds and time (a heuristic: when unsure, it says
// so and the job is never sent again).
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tollgate"
	"tollgate/provider/internal/call"
	"tollgate/router"
)

// Defaults of Client.
const (
	DefaultBaseURL = "https://api.openai.com/v1"
	// MaxContent bounds a downloaded video.
	MaxContent = call.MaxContent
	// maxAnswer bounds an answer that is not a video.
	maxAnswer = call.MaxAnswer
)

// Client calls one OpenAI-compatible upstream. It is safe for concurrent
// use.
type Client struct {
	name          string
	webhookSecret string
	base          string
	key           string
	http          *http.Client
	content       *http.Client // downloads: no overall timeout, the context bounds them
}

var (
	_ router.Provider       = (*Client)(nil)
	_ router.Reconciler     = (*Client)(nil)
	_ router.CharacterMaker = (*Client)(nil)
	_ router.Notifier       = (*Client)(nil)
)

// Options configure a Client.
type Options struct {
	Name    string // the provider's name in the catalog; default "openai"
	BaseURL string // default DefaultBaseURL
	APIKey  string
	// WebhookSecret ("whsec_..."), when set, verifies the upstream's
	// webhooks (video.completed, video.failed), signed as Standard
	// Webhooks: a verified one has its job polled at once.
	WebhookSecret string
	// Timeout bounds each call but downloads; default 60 s.
	Timeout time.Duration
	// Transport, when set, is used instead of the default one (tests).
	Transport http.RoundTripper
}

// New returns a client for the upstream o describes.
func New(o Options) *Client {
	if o.Name == "" {
		o.Name = "openai"
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	api, content := call.Clients(o.Timeout, o.Transport)
	return &Client{name: o.Name, webhookSecret: o.WebhookSecret, base: strings.TrimRight(o.BaseURL, "/"), key: o.APIKey,
		http: api, content: content}
}

// Name returns the provider's name.
func (c *Client) Name() string { return c.name }

// Video is the upstream's video object, as far as Tollgate reads it.
type Video struct {
	ID                 string      `json:"id"`
	Object             string      `json:"object"`
	Status             string      `json:"status"`
	Progress           *int        `json:"progress"`
	Model              string      `json:"model"`
	Prompt             string      `json:"prompt"`
	Seconds            json.Number `json:"seconds"`
	Size               string      `json:"size"`
	CreatedAt          int64       `json:"created_at"`
	RemixedFromVideoID *string     `json:"remixed_from_video_id"`
	Error              *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ParseVideo reads a video object, refusing one without an id or with a
// status OpenAI's API does not have.
func ParseVideo(b []byte) (Video, error) {
	var v Video
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("the upstream's video does not parse: %w", err)
	}
	if v.ID == "" || len(v.ID) > 200 {
		return v, fmt.Errorf("the upstream's video has no usable id")
	}
	switch v.Status {
	case "queued", "in_progress", "completed", "failed":
	default:
		return v, fmt.Errorf("the upstream's video has status %q", v.Status)
	}
	return v, nil
}

// apiError is OpenAI's error envelope.
type apiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// ParseError classifies an upstream's error answer: a content-policy
// refusal, a failure to retry (429, 408, 409, 5xx, after Retry-After), or
// one that is final for this upstream (any other 4xx).
func ParseError(status int, header http.Header, body []byte) *router.Error {
	var ae apiError
	_ = json.Unmarshal(body, &ae)
	code, msg := "", ae.Error.Message
	if ae.Error.Code != nil {
		code = *ae.Error.Code
	}
	if msg == "" {
		msg = strings.TrimSpace(string(body[:min(len(body), 300)]))
	}
	if code == "" {
		code = "http_" + strconv.Itoa(status)
	}
	e := &router.Error{Code: code, Message: fmt.Sprintf("%d: %s", status, msg), RetryAfter: call.RetryAfter(header)}
	switch {
	case refusal(code, ae.Error.Type):
		e.Kind = router.Refused
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status == http.StatusConflict, status >= 500:
		e.Kind = router.Retryable
	default:
		e.Kind = router.Terminal
	}
	return e
}

func refusal(code, typ string) bool {
	for _, s := range []string{code, typ} {
		if s == "moderation_blocked" || s == "content_policy_violation" || strings.Contains(s, "moderation") || strings.Contains(s, "safety") {
			return true
		}
	}
	return false
}

// Submit sends j: a create (with its reference image), a remix, an edit or
// an extension of the upstream's own video. A transport failure after the
// request may have been sent, or an answer that does not parse, is of kind
// Unknown: the upstream may have made the video.
func (c *Client) Submit(ctx context.Context, j router.Job) (string, error) {
	var req *http.Request
	var err error
	switch j.Kind {
	case tollgate.VideoRemix:
		if j.SourceJob == "" {
			return "", &router.Error{Kind: router.Terminal, Code: "no_source", Message: "a remix goes to the upstream that made the source"}
		}
		body, _ := json.Marshal(map[string]string{"prompt": j.Prompt})
		req, err = c.request(ctx, http.MethodPost, "/videos/"+j.SourceJob+"/remix", "application/json", bytes.NewReader(body))
	case tollgate.VideoEdit, tollgate.VideoExtend:
		// The upstream's own video by id, or the video uploaded with the job.
		fields, file := [][2]string{{"prompt", j.Prompt}}, ""
		switch {
		case j.SourceJob != "":
			fields = append(fields, [2]string{"video[id]", j.SourceJob})
		case j.Input != "":
			file = j.Input
		default:
			return "", &router.Error{Kind: router.Terminal, Code: "no_source", Message: "an edit or an extension needs the upstream's video or an upload"}
		}
		path := "/videos/edits"
		if j.Kind == tollgate.VideoExtend {
			fields, path = append(fields, [2]string{"seconds", strconv.Itoa(j.Seconds)}), "/videos/extensions"
		}
		req, err = c.formFile(ctx, path, fields, "video", file)
	default:
		fields := [][2]string{{"prompt", j.Prompt}, {"model", j.Model}, {"seconds", strconv.Itoa(j.Seconds)}, {"size", j.Size}}
		for _, id := range j.Characters {
			fields = append(fields, [2]string{"characters[][id]", id})
		}
		req, err = c.formFile(ctx, "/videos", fields, "input_reference", j.Input)
	}
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	v, err := c.video(req)
	if err != nil {
		return "", err
	}
	return v.ID, nil
}

// WebhookTolerance is how far a webhook's timestamp may be from now.
const WebhookTolerance = call.WebhookTolerance

// Notification verifies a webhook the upstream sent (Standard Webhooks:
// webhook-id, webhook-timestamp and webhook-signature, an HMAC-SHA256 of
// "id.timestamp.body" with the secret) and returns the video it is about,
// for video.completed and video.failed events.
func (c *Client) Notification(cb router.Callback) (string, bool, error) {
	body := cb.Body
	if err := call.VerifyStandard(c.webhookSecret, c.name, cb.Header, body, cb.Now); err != nil {
		return "", false, err
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return "", false, fmt.Errorf("%w: the event is not JSON: %v", router.ErrBadNotification, err)
	}
	if (ev.Type != "video.completed" && ev.Type != "video.failed") || ev.Data.ID == "" {
		return "", false, nil
	}
	return ev.Data.ID, true, nil
}

// NewCharacter makes a character from the clip (POST /videos/characters,
// multipart name and video) and returns the upstream's id of it.
func (c *Client) NewCharacter(ctx context.Context, name string, video []byte) (string, error) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	err := w.WriteField("name", name)
	var fw io.Writer
	if err == nil {
		fw, err = w.CreateFormFile("video", "character.mp4")
	}
	if err == nil {
		_, err = fw.Write(video)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	req, err := c.request(ctx, http.MethodPost, "/videos/characters", w.FormDataContentType(), &b)
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	body, _, err := call.Send(c.http, req, true, ParseError)
	if err != nil {
		return "", err
	}
	var ch struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &ch); err != nil || ch.ID == "" || len(ch.ID) > 200 || !tollgate.CleanText(ch.ID) {
		return "", &router.Error{Kind: router.Unknown, Code: "malformed_answer", Message: fmt.Sprintf("the character's answer has no usable id: %.200s", body)}
	}
	return ch.ID, nil
}

// formFile makes a multipart request of fields and, when input is set,
// the file at input as the part named file.
func (c *Client) formFile(ctx context.Context, path string, fields [][2]string, file, input string) (*http.Request, error) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	if input != "" {
		data, err := os.ReadFile(input)
		if err != nil {
			return nil, fmt.Errorf("read the reference: %w", err)
		}
		fw, err := w.CreateFormFile(file, filepath.Base(input))
		if err != nil {
			return nil, err
		}
		if _, err := fw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return c.request(ctx, http.MethodPost, path, w.FormDataContentType(), &b)
}

func (c *Client) request(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Tollgate")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// video sends a request answered by a video object. For a POST, a failure
// once the request may have left is Unknown.
func (c *Client) video(req *http.Request) (Video, error) {
	write := req.Method == http.MethodPost
	body, _, err := call.Send(c.http, req, write, ParseError)
	if err != nil {
		return Video{}, err
	}
	v, err := ParseVideo(body)
	if err != nil {
		return Video{}, call.Malformed(write, err)
	}
	return v, nil
}

// Status reads the job's video.
func (c *Client) Status(ctx context.Context, id string) (router.Status, error) {
	req, err := c.request(ctx, http.MethodGet, "/videos/"+id, "", nil)
	if err != nil {
		return router.Status{}, err
	}
	v, err := c.video(req)
	if err != nil {
		return router.Status{}, err
	}
	return status(v), nil
}

func status(v Video) router.Status {
	p := -1
	if v.Progress != nil {
		p = min(max(*v.Progress, 0), 100)
	}
	switch v.Status {
	case "completed":
		return router.Status{State: router.Completed, Progress: 100}
	case "failed":
		e := &router.Error{Kind: router.Terminal, Code: "failed", Message: "the upstream says the video failed"}
		if v.Error != nil {
			e.Code, e.Message = v.Error.Code, v.Error.Message
			if refusal(v.Error.Code, "") {
				e.Kind = router.Refused
			}
		}
		return router.Status{State: router.Failed, Progress: p, Err: e}
	}
	return router.Status{State: router.Running, Progress: p}
}

// Fetch downloads the job's MP4.
func (c *Client) Fetch(ctx context.Context, id string, w io.Writer) error {
	req, err := c.request(ctx, http.MethodGet, "/videos/"+id+"/content", "", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "video/mp4, application/json")
	return call.Download(c.content, req, w, ParseError)
}

// Cancel: OpenAI's API cannot stop a running video (DELETE removes a
// finished one).
func (c *Client) Cancel(context.Context, string) error { return router.ErrCannotCancel }

// Reconcile lists the upstream's videos newest first and matches j's
// prompt, model, size, seconds and time. One match is the job. None, or
// several, are answered Unknown: a listing cannot prove a video was not
// made (it may be filtered, or late), so the job is never sent again.
func (c *Client) Reconcile(ctx context.Context, j router.Job) (string, bool, error) {
	since := j.SubmittedAt.Add(-5 * time.Second).Unix()
	var matches []string
	after := ""
	for page := 0; page < 10; page++ {
		path := "/videos?order=desc&limit=100"
		if after != "" {
			path += "&after=" + after
		}
		req, err := c.request(ctx, http.MethodGet, path, "", nil)
		if err != nil {
			return "", false, err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return "", false, &router.Error{Kind: router.Unknown, Code: "list_failed", Message: err.Error()}
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return "", false, &router.Error{Kind: router.Unknown, Code: "list_failed", Message: fmt.Sprintf("listing answered %d", resp.StatusCode)}
		}
		list, err := ParseList(body)
		if err != nil {
			return "", false, &router.Error{Kind: router.Unknown, Code: "list_failed", Message: err.Error()}
		}
		older := false
		for _, v := range list.Data {
			if v.CreatedAt < since {
				older = true
				continue
			}
			if matchesJob(v, j) {
				matches = append(matches, v.ID)
			}
		}
		if older || !list.HasMore || list.LastID == "" {
			break
		}
		after = list.LastID
	}
	switch {
	case len(matches) == 1:
		return matches[0], true, nil
	case len(matches) > 1:
		return "", false, &router.Error{Kind: router.Unknown, Code: "ambiguous", Message: fmt.Sprintf("%d upstream videos match", len(matches))}
	}
	return "", false, &router.Error{Kind: router.Unknown, Code: "no_match", Message: "no upstream video matches"}
}

func matchesJob(v Video, j router.Job) bool {
	if v.Prompt != j.Prompt || v.Size != j.Size || (j.Model != "" && v.Model != j.Model && j.Kind == tollgate.VideoCreate) {
		return false
	}
	if j.Kind == tollgate.VideoCreate && string(v.Seconds) != strconv.Itoa(j.Seconds) {
		return false
	}
	return true
}

// List is a page of the upstream's videos.
type List struct {
	Data    []Video `json:"data"`
	HasMore bool    `json:"has_more"`
	LastID  string  `json:"last_id"`
}

// ParseList reads a page of videos.
func ParseList(b []byte) (List, error) {
	var raw struct {
		Data    []json.RawMessage `json:"data"`
		HasMore bool              `json:"has_more"`
		LastID  *string           `json:"last_id"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return List{}, fmt.Errorf("the upstream's list does not parse: %w", err)
	}
	l := List{HasMore: raw.HasMore}
	if raw.LastID != nil {
		l.LastID = *raw.LastID
	}
	for _, d := range raw.Data {
		v, err := ParseVideo(d)
		if err != nil {
			return List{}, err
		}
		l.Data = append(l.Data, v)
	}
	return l, nil
}
