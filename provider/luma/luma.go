// Package luma is the adapter for Luma's Dream Machine API
// (api.lumalabs.ai/dream-machine/v1): a generation per video (POST
// /generations/video), polled at GET /generations/{id} (queued, dreaming,
// completed, failed; Luma reports no progress, so the gateway estimates
// it), the video fetched from assets.video.
//
// Reconciliation is exact when Luma can call Tollgate back: each attempt's
// reference rides in the callback_url, which Luma echoes on the
// generation (request.callback_url), so a submit whose answer was lost is
// found by listing the generations, or known not to have been made. Luma
// does not sign its callbacks: one only says which generation to poll,
// and nothing in it is believed. Without a public URL there is no
// callback, and the listing is matched on prompt, model and time as for
// OpenAI (a heuristic: when unsure, the job is never sent again).
package luma

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tollgate"
	"tollgate/provider/internal/call"
	"tollgate/router"
)

// DefaultBaseURL is Luma's API.
const DefaultBaseURL = "https://api.lumalabs.ai/dream-machine/v1"

// Client calls Luma. It is safe for concurrent use.
type Client struct {
	name     string
	base     string
	key      string
	callback string
	// settle is how long after a submit a listing that lacks it is
	// believed: the submit's own timeout (Luma may still be taking it),
	// and 30 s more for the listing to show it.
	settle  time.Duration
	http    *http.Client
	content *http.Client
}

var (
	_ router.Provider   = (*Client)(nil)
	_ router.Reconciler = (*Client)(nil)
	_ router.Notifier   = (*Client)(nil)
)

// Options configure a Client.
type Options struct {
	Name    string // the provider's name in the catalog; default "luma"
	BaseURL string // default DefaultBaseURL
	APIKey  string
	// CallbackURL is where Luma posts a generation's changes: Tollgate's
	// POST /v1/webhooks/providers/{name} at its public URL. Set, it makes
	// reconciliation exact; "" sends no callback.
	CallbackURL string
	// Timeout bounds each call but downloads; default 60 s.
	Timeout time.Duration
	// Transport, when set, is used instead of the default one (tests).
	Transport http.RoundTripper
}

// New returns a client for Luma.
func New(o Options) *Client {
	if o.Name == "" {
		o.Name = "luma"
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	api, content := call.Clients(o.Timeout, o.Transport)
	return &Client{name: o.Name, base: strings.TrimRight(o.BaseURL, "/"), key: o.APIKey, callback: o.CallbackURL, settle: api.Timeout + 30*time.Second,
		http: api, content: content}
}

// Name returns the provider's name.
func (c *Client) Name() string { return c.name }

// Exact reports whether a lost submit is found for sure (callbacks on).
func (c *Client) Exact() bool { return c.callback != "" }

func (c *Client) request(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := call.JSON(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	return req, nil
}

// Ref is the reference of the attempt j, carried in the callback URL.
func Ref(j router.Job) string {
	return j.VideoID + "." + strconv.FormatInt(j.SubmittedAt.UnixNano(), 36)
}

// Submit starts a generation of j's prompt at its model, duration ("5s",
// "9s"), resolution and aspect ratio.
func (c *Client) Submit(ctx context.Context, j router.Job) (string, error) {
	if (j.Kind != "" && j.Kind != tollgate.VideoCreate) || j.Input != "" {
		return "", &router.Error{Kind: router.Terminal, Code: "unsupported", Message: "Luma is sent text-to-video jobs only"}
	}
	shape, err := call.ShapeOf(j.Size)
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	body := map[string]any{"generation_type": "video", "prompt": j.Prompt, "model": j.Model, "duration": strconv.Itoa(j.Seconds) + "s",
		"resolution": shape.Resolution, "aspect_ratio": shape.Ratio}
	if c.callback != "" {
		body["callback_url"] = c.callback + "?ref=" + url.QueryEscape(Ref(j))
	}
	b, _ := json.Marshal(body)
	req, err := c.request(ctx, http.MethodPost, "/generations/video", b)
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	ans, _, err := call.Send(c.http, req, true, ParseError)
	if err != nil {
		return "", err
	}
	g, err := ParseGeneration(ans)
	if err != nil {
		return "", call.Malformed(true, err)
	}
	return g.ID, nil
}

// Generation is Luma's generation object, as far as Tollgate reads it.
type Generation struct {
	ID            string    `json:"id"`
	State         string    `json:"state"`
	FailureReason *string   `json:"failure_reason"`
	CreatedAt     time.Time `json:"created_at"`
	Model         string    `json:"model"`
	Assets        *struct {
		Video string `json:"video"`
	} `json:"assets"`
	Request *struct {
		Prompt      string `json:"prompt"`
		Model       string `json:"model"`
		Duration    string `json:"duration"`
		Resolution  string `json:"resolution"`
		AspectRatio string `json:"aspect_ratio"`
		CallbackURL string `json:"callback_url"`
	} `json:"request"`
}

// ParseGeneration reads a generation, refusing one without an id or with
// a state Luma does not have.
func ParseGeneration(b []byte) (Generation, error) {
	var g Generation
	if err := json.Unmarshal(b, &g); err != nil {
		return g, fmt.Errorf("the generation does not parse: %w", err)
	}
	if !call.UsableID(g.ID) {
		return g, errors.New("the generation has no usable id")
	}
	switch g.State {
	case "queued", "dreaming", "completed", "failed":
	default:
		return g, fmt.Errorf("the generation has state %q", g.State)
	}
	return g, nil
}

// ParseError classifies Luma's error answer ({"detail": "..."}, or
// FastAPI's list of problems): a moderation refusal, a failure to retry
// (429, 5xx), or one final for Luma (any other 4xx).
func ParseError(status int, h http.Header, body []byte) *router.Error {
	var e struct {
		Detail json.RawMessage `json:"detail"`
	}
	_ = json.Unmarshal(body, &e)
	var msg string
	if json.Unmarshal(e.Detail, &msg) != nil {
		var list []struct {
			Msg string `json:"msg"`
		}
		_ = json.Unmarshal(e.Detail, &list)
		for _, d := range list {
			msg += d.Msg + "; "
		}
	}
	if msg == "" {
		msg = call.Excerpt(body)
	}
	out := &router.Error{Kind: call.ByStatus(status), Code: fmt.Sprintf("http_%d", status), Message: fmt.Sprintf("%d: %s", status, msg), RetryAfter: call.RetryAfter(h)}
	switch {
	case status < 500 && status != http.StatusTooManyRequests && refused(msg):
		out.Kind, out.Code = router.Refused, "moderation"
	case status == http.StatusPaymentRequired || strings.Contains(strings.ToLower(msg), "insufficient credits"):
		out.Kind, out.Code = router.Terminal, "provider_credits"
	case status == http.StatusNotFound:
		out.Code = "not_found"
	}
	return out
}

// refused reports whether Luma's reason names a moderation refusal.
func refused(reason string) bool {
	r := strings.ToLower(reason)
	return call.Refusal(r) || strings.Contains(r, "blacklisted") || strings.Contains(r, "not allowed") || strings.Contains(r, "contains ip")
}

func (c *Client) generation(ctx context.Context, id string) (Generation, error) {
	if !call.UsableID(id) {
		return Generation{}, call.NotAJob("Luma", id)
	}
	req, err := c.request(ctx, http.MethodGet, "/generations/"+id, nil)
	if err != nil {
		return Generation{}, err
	}
	return call.Read(c.http, req, ParseError, ParseGeneration)
}

// Status reads the generation.
func (c *Client) Status(ctx context.Context, id string) (router.Status, error) {
	g, err := c.generation(ctx, id)
	if err != nil {
		return router.Status{}, err
	}
	return status(g), nil
}

func status(g Generation) router.Status {
	switch g.State {
	case "completed":
		if g.Assets == nil || g.Assets.Video == "" {
			return router.Status{State: router.Failed, Progress: -1, Err: &router.Error{Kind: router.Terminal, Code: "no_output", Message: "Luma says the generation completed but gives no video"}}
		}
		return router.Status{State: router.Completed, Progress: 100}
	case "failed":
		reason := "Luma says the generation failed"
		if g.FailureReason != nil && *g.FailureReason != "" {
			reason = *g.FailureReason
		}
		e := &router.Error{Kind: router.Terminal, Code: "failed", Message: reason}
		if refused(reason) {
			e.Kind, e.Code = router.Refused, "moderation"
		}
		return router.Status{State: router.Failed, Progress: -1, Err: e}
	}
	return router.Status{State: router.Running, Progress: -1} // queued, dreaming: no progress from Luma
}

// Fetch downloads the generation's video from assets.video, without the
// API key.
func (c *Client) Fetch(ctx context.Context, id string, w io.Writer) error {
	g, err := c.generation(ctx, id)
	if err != nil {
		return err
	}
	if g.State != "completed" || g.Assets == nil || g.Assets.Video == "" {
		return &router.Error{Kind: router.Retryable, Code: "not_ready", Message: fmt.Sprintf("the generation is %s, not completed with a video", g.State)}
	}
	req, err := call.Get(ctx, g.Assets.Video)
	if err != nil {
		return err
	}
	return call.Download(c.content, req, w, ParseError)
}

// Cancel: Luma's API deletes a generation but does not say that deleting
// one stops its billing, so a job is not cancelled there.
func (c *Client) Cancel(context.Context, string) error { return router.ErrCannotCancel }

// Limits of a reconciliation's listing.
const (
	listPages = 10
	listLimit = 100
)

// Reconcile lists Luma's generations for the one j's submit made. With
// callbacks on, the attempt's reference in request.callback_url finds it
// for sure; a complete listing without it, read once the submit is over
// settle old and with every generation of the period carrying its
// callback, proves it was not made. Without, prompt, model and time are
// matched: one match is the job; none or several are Unknown.
func (c *Client) Reconcile(ctx context.Context, j router.Job) (string, bool, error) {
	ref := "ref=" + url.QueryEscape(Ref(j))
	since := j.SubmittedAt.Add(-5 * time.Second)
	var matches []string
	complete, echoed := false, true
	for page := range listPages {
		req, err := c.request(ctx, http.MethodGet, fmt.Sprintf("/generations?limit=%d&offset=%d", listLimit, page*listLimit), nil)
		if err != nil {
			return "", false, err
		}
		b, _, err := call.Send(c.http, req, false, ParseError)
		if err != nil {
			return "", false, &router.Error{Kind: router.Unknown, Code: "list_failed", Message: err.Error()}
		}
		l, err := ParseList(b)
		if err != nil {
			return "", false, &router.Error{Kind: router.Unknown, Code: "list_failed", Message: err.Error()}
		}
		for _, g := range l.Generations {
			if c.callback != "" && (g.Request == nil || g.Request.CallbackURL == "") && !g.CreatedAt.Before(since) {
				echoed = false // a generation of the period without its callback: the listing cannot prove an absence
			}
			if g.Request == nil {
				continue
			}
			if c.callback != "" && strings.HasSuffix(g.Request.CallbackURL, "?"+ref) {
				return g.ID, true, nil
			}
			if !g.CreatedAt.Before(since) && sameRequest(g, j) {
				matches = append(matches, g.ID)
			}
		}
		if !l.HasMore {
			complete = true
			break
		}
	}
	exact := c.callback != "" && echoed
	switch {
	case exact && complete && time.Since(j.SubmittedAt) > c.settle:
		return "", false, nil // listed in full, and it is not there
	case exact:
		return "", false, &router.Error{Kind: router.Unknown, Code: "not_listed_yet", Message: "the generation is not listed, and the listing cannot prove it yet"}
	case len(matches) == 1:
		return matches[0], true, nil
	case len(matches) > 1:
		return "", false, &router.Error{Kind: router.Unknown, Code: "ambiguous", Message: fmt.Sprintf("%d Luma generations match", len(matches))}
	}
	return "", false, &router.Error{Kind: router.Unknown, Code: "no_match", Message: "no Luma generation matches"}
}

// List is a page of Luma's generations.
type List struct {
	Generations []Generation `json:"generations"`
	HasMore     bool         `json:"has_more"`
}

// ParseList reads a page of generations.
func ParseList(b []byte) (List, error) {
	var raw struct {
		Generations []json.RawMessage `json:"generations"`
		HasMore     *bool             `json:"has_more"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return List{}, fmt.Errorf("the list does not parse: %w", err)
	}
	if raw.Generations == nil || raw.HasMore == nil {
		return List{}, errors.New("the list has no generations or has_more member")
	}
	l := List{HasMore: *raw.HasMore}
	for _, d := range raw.Generations {
		g, err := ParseGeneration(d)
		if err != nil {
			return List{}, err
		}
		l.Generations = append(l.Generations, g)
	}
	return l, nil
}

// Notification reads a callback: Luma posts the generation as it stands
// and does not sign it, so only its id is taken, and the gateway polls the
// generation before doing anything.
func (c *Client) Notification(cb router.Callback) (string, bool, error) {
	g, err := ParseGeneration(cb.Body)
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", router.ErrBadNotification, err)
	}
	if g.State != "completed" && g.State != "failed" {
		return "", false, nil // dreaming: the polls go on as they were
	}
	return g.ID, true, nil
}

// sameRequest reports whether g was asked for what j asks: prompt, model,
// duration, resolution and aspect ratio.
func sameRequest(g Generation, j router.Job) bool {
	shape, err := call.ShapeOf(j.Size)
	r := g.Request
	return err == nil && r.Prompt == j.Prompt && r.Model == j.Model && r.Duration == strconv.Itoa(j.Seconds)+"s" &&
		r.Resolution == shape.Resolution && r.AspectRatio == shape.Ratio
}
