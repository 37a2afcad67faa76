// Package replicate is the adapter for Replicate's predictions API
// (api.replicate.com/v1): a prediction per video at an official model
// (POST /v1/models/{owner}/{name}/predictions), polled at GET
// /v1/predictions/{id} (starting, processing, then succeeded, failed,
// canceled or aborted), the video fetched from its output URL, cancelled
// with POST .../cancel.
//
// Reconciliation is exact when Replicate can call Tollgate back: each
// attempt's reference rides in the webhook URL, which Replicate echoes on
// the prediction, and predictions are listed newest first, so a submit
// whose answer was lost is found, or known not to have been made once the
// listing reaches past it. Without a public URL, the listing is matched on
// the prompt and the time (a heuristic). Replicate signs its webhooks as
// Standard Webhooks with a secret its API gives (GET
// /v1/webhooks/default/secret), read once when none is configured.
package replicate

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
	"sync"
	"time"

	"tollgate"
	"tollgate/provider/internal/call"
	"tollgate/router"
)

// DefaultBaseURL is Replicate's API.
const DefaultBaseURL = "https://api.replicate.com/v1"

// Client calls Replicate. It is safe for concurrent use.
type Client struct {
	name     string
	base     string
	key      string
	callback string
	// settle is how long after a submit a listing that lacks it is
	// believed: the submit's own timeout (the provider may still be
	// taking it), and 30 s more for the listing to show it.
	settle  time.Duration
	http    *http.Client
	content *http.Client

	mu     sync.Mutex
	secret string // the webhook signing secret, configured or read once
}

var (
	_ router.Provider   = (*Client)(nil)
	_ router.Reconciler = (*Client)(nil)
	_ router.Notifier   = (*Client)(nil)
)

// Options configure a Client.
type Options struct {
	Name    string // the provider's name in the catalog; default "replicate"
	BaseURL string // default DefaultBaseURL
	APIKey  string
	// CallbackURL is where Replicate posts a prediction's end: Tollgate's
	// POST /v1/webhooks/providers/{name} at its public URL. Set, it makes
	// reconciliation exact; "" asks for no webhook.
	CallbackURL string
	// WebhookSecret ("whsec_...") verifies the webhooks; "" reads it from
	// Replicate's API the first time one arrives.
	WebhookSecret string
	// Timeout bounds each call but downloads; default 60 s.
	Timeout time.Duration
	// Transport, when set, is used instead of the default one (tests).
	Transport http.RoundTripper
}

// New returns a client for Replicate.
func New(o Options) *Client {
	if o.Name == "" {
		o.Name = "replicate"
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	api, content := call.Clients(o.Timeout, o.Transport)
	return &Client{name: o.Name, base: strings.TrimRight(o.BaseURL, "/"), key: o.APIKey, callback: o.CallbackURL, secret: o.WebhookSecret,
		settle: api.Timeout + 30*time.Second, http: api, content: content}
}

// Name returns the provider's name.
func (c *Client) Name() string { return c.name }

// Exact reports whether a lost submit is found for sure (webhooks on).
func (c *Client) Exact() bool { return c.callback != "" }

func (c *Client) request(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := call.JSON(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	return req, nil
}

// Ref is the reference of the attempt j, carried in the webhook URL.
func Ref(j router.Job) string {
	return j.VideoID + "." + strconv.FormatInt(j.SubmittedAt.UnixNano(), 36)
}

// input is j as an official video model's input. The families differ in
// how they name a reference image and whether they take an aspect ratio.
func input(j router.Job) (map[string]any, error) {
	shape, err := call.ShapeOf(j.Size)
	if err != nil {
		return nil, err
	}
	in := map[string]any{"prompt": j.Prompt, "duration": j.Seconds}
	image := "image"
	switch owner, _, _ := strings.Cut(j.Model, "/"); owner {
	case "minimax": // hailuo: the frame sets the shape
		in["resolution"], image = map[string]string{"720p": "768p"}[shape.Resolution], "first_frame_image"
		if in["resolution"] == "" {
			in["resolution"] = shape.Resolution
		}
	case "kwaivgi": // kling
		in["aspect_ratio"], image = shape.Ratio, "start_image"
	default: // google/veo-*, bytedance/seedance-*
		in["aspect_ratio"], in["resolution"] = shape.Ratio, shape.Resolution
	}
	if j.Input != "" {
		img, err := call.DataURL(j.Input)
		if err != nil {
			return nil, err
		}
		in[image] = img
	}
	return in, nil
}

// Submit starts a prediction of j at its model ("owner/name").
func (c *Client) Submit(ctx context.Context, j router.Job) (string, error) {
	owner, name, ok := strings.Cut(j.Model, "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(name, "/?#") {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: fmt.Sprintf("model %q is not owner/name", j.Model)}
	}
	if j.Kind != "" && j.Kind != tollgate.VideoCreate {
		return "", &router.Error{Kind: router.Terminal, Code: "unsupported", Message: fmt.Sprintf("Replicate's models are not sent a %s", j.Kind)}
	}
	in, err := input(j)
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	body := map[string]any{"input": in}
	if c.callback != "" {
		body["webhook"] = c.callback + "?ref=" + url.QueryEscape(Ref(j))
		body["webhook_events_filter"] = []string{"completed"}
	}
	b, _ := json.Marshal(body)
	req, err := c.request(ctx, http.MethodPost, "/models/"+url.PathEscape(owner)+"/"+url.PathEscape(name)+"/predictions", b)
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	ans, _, err := call.Send(c.http, req, true, ParseError)
	if err != nil {
		return "", err
	}
	p, err := ParsePrediction(ans)
	if err != nil {
		return "", call.Malformed(true, err)
	}
	return p.ID, nil
}

// Prediction is Replicate's prediction object, as far as Tollgate reads it.
type Prediction struct {
	ID        string          `json:"id"`
	Model     string          `json:"model"`
	Status    string          `json:"status"`
	Input     map[string]any  `json:"input"`
	Output    json.RawMessage `json:"output"`
	Error     any             `json:"error"`
	Webhook   *string         `json:"webhook"`
	CreatedAt time.Time       `json:"created_at"`
}

// Video is the prediction's output URL: a string, or the first of a list.
func (p Prediction) Video() string {
	var one string
	if json.Unmarshal(p.Output, &one) == nil {
		return one
	}
	var many []string
	if json.Unmarshal(p.Output, &many) == nil && len(many) > 0 {
		return many[0]
	}
	return ""
}

func (p Prediction) errorText() string {
	switch e := p.Error.(type) {
	case string:
		return e
	case nil:
		return ""
	default:
		b, _ := json.Marshal(e)
		return string(b)
	}
}

// ParsePrediction reads a prediction, refusing one without an id or with
// a status Replicate does not have.
func ParsePrediction(b []byte) (Prediction, error) {
	var p Prediction
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("the prediction does not parse: %w", err)
	}
	if !call.UsableID(p.ID) {
		return p, errors.New("the prediction has no usable id")
	}
	switch p.Status {
	case "starting", "processing", "succeeded", "failed", "canceled", "aborted":
	default:
		return p, fmt.Errorf("the prediction has status %q", p.Status)
	}
	return p, nil
}

// ParseError classifies Replicate's problem answer ({"title", "detail",
// "status"}): a content refusal, a failure to retry (429 after
// Retry-After, 5xx), or one final for Replicate (402 when its credit is
// spent, 422 for an input the model refuses, any other 4xx).
func ParseError(status int, h http.Header, body []byte) *router.Error {
	var e struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(body, &e)
	msg := strings.Trim(strings.TrimSpace(e.Title+": "+e.Detail), ": ")
	if msg == "" {
		msg = call.Excerpt(body)
	}
	out := &router.Error{Kind: call.ByStatus(status), Code: fmt.Sprintf("http_%d", status), Message: fmt.Sprintf("%d: %s", status, msg), RetryAfter: call.RetryAfter(h)}
	switch {
	case status < 500 && status != http.StatusTooManyRequests && refused(msg):
		out.Kind, out.Code = router.Refused, "moderation"
	case status == http.StatusPaymentRequired:
		out.Code = "provider_credits"
	case status == http.StatusNotFound:
		out.Code = "not_found"
	}
	return out
}

// refused reports whether Replicate's text names a content refusal (E005:
// "flagged as sensitive"; E006).
func refused(s string) bool {
	return call.Refusal(s) || strings.Contains(s, "E005") || strings.Contains(s, "E006") || strings.Contains(strings.ToLower(s), "flagged")
}

func (c *Client) prediction(ctx context.Context, id string) (Prediction, error) {
	if !call.UsableID(id) {
		return Prediction{}, call.NotAJob("Replicate", id)
	}
	req, err := c.request(ctx, http.MethodGet, "/predictions/"+id, nil)
	if err != nil {
		return Prediction{}, err
	}
	return call.Read(c.http, req, ParseError, ParsePrediction)
}

// Status reads the prediction. Replicate reports no progress for these
// models; the gateway estimates it.
func (c *Client) Status(ctx context.Context, id string) (router.Status, error) {
	p, err := c.prediction(ctx, id)
	if err != nil {
		return router.Status{}, err
	}
	return status(p), nil
}

func status(p Prediction) router.Status {
	switch p.Status {
	case "succeeded":
		if p.Video() == "" {
			return router.Status{State: router.Failed, Progress: -1, Err: &router.Error{Kind: router.Terminal, Code: "no_output", Message: "Replicate says the prediction succeeded but gives no video (its output may have been removed)"}}
		}
		return router.Status{State: router.Completed, Progress: 100}
	case "failed":
		msg := p.errorText()
		if msg == "" {
			msg = "Replicate says the prediction failed"
		}
		e := &router.Error{Kind: router.Terminal, Code: "failed", Message: msg}
		if refused(msg) {
			e.Kind, e.Code = router.Refused, "moderation"
		}
		return router.Status{State: router.Failed, Progress: -1, Err: e}
	case "canceled", "aborted":
		return router.Status{State: router.Failed, Progress: -1, Err: &router.Error{Kind: router.Terminal, Code: p.Status, Message: "the prediction was " + p.Status + " at Replicate"}}
	}
	return router.Status{State: router.Running, Progress: -1}
}

// Fetch downloads the prediction's video from its output URL, without the
// API key.
func (c *Client) Fetch(ctx context.Context, id string, w io.Writer) error {
	p, err := c.prediction(ctx, id)
	if err != nil {
		return err
	}
	if p.Status != "succeeded" || p.Video() == "" {
		return &router.Error{Kind: router.Retryable, Code: "not_ready", Message: fmt.Sprintf("the prediction is %s, not succeeded with an output", p.Status)}
	}
	req, err := call.Get(ctx, p.Video())
	if err != nil {
		return err
	}
	return call.Download(c.content, req, w, ParseError)
}

// Cancel cancels the prediction (POST /v1/predictions/{id}/cancel).
func (c *Client) Cancel(ctx context.Context, id string) error {
	if !call.UsableID(id) {
		return nil
	}
	req, err := c.request(ctx, http.MethodPost, "/predictions/"+id+"/cancel", nil)
	if err != nil {
		return err
	}
	_, _, err = call.Send(c.http, req, false, ParseError)
	return err
}

// Limits of a reconciliation's listing.
const (
	listPages = 10
	// listSkew is how far before a submit the listing starts.
	listSkew = 10 * time.Minute
)

// Reconcile lists Replicate's predictions newest first, from just before
// j's submit, for the one it made. With webhooks on, the attempt's
// reference in the echoed webhook URL finds it for sure; a listing that
// reaches past the submit without it (every prediction listed carrying
// its webhook, the submit over settle old) proves it was not made.
// Otherwise the model, prompt and time are matched: one match is the job,
// none or several are Unknown.
func (c *Client) Reconcile(ctx context.Context, j router.Job) (string, bool, error) {
	// A wide window: the reference, not the time, finds the prediction,
	// and Replicate's clock may differ from this one.
	since := j.SubmittedAt.Add(-listSkew)
	ref := "?ref=" + url.QueryEscape(Ref(j))
	path := "/predictions?created_after=" + url.QueryEscape(since.UTC().Format(time.RFC3339))
	var matches []string
	complete, echoed := false, true
	for range listPages {
		req, err := c.request(ctx, http.MethodGet, path, nil)
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
		older := false
		for _, p := range l.Results {
			if p.CreatedAt.Before(since) {
				older = true
				continue
			}
			if c.callback != "" {
				if p.Webhook == nil {
					echoed = false
				} else if strings.HasSuffix(*p.Webhook, ref) {
					return p.ID, true, nil
				}
			}
			if !p.CreatedAt.Before(j.SubmittedAt.Add(-5*time.Second)) && sameInput(p, j) {
				matches = append(matches, p.ID)
			}
		}
		if older || l.Next == nil || *l.Next == "" {
			complete = true
			break
		}
		next, ok := c.nextPath(l.Next)
		if !ok { // a next page this client cannot follow: the listing proves nothing
			return "", false, &router.Error{Kind: router.Unknown, Code: "list_failed", Message: fmt.Sprintf("the listing's next page %.200q is not under %s", *l.Next, c.base)}
		}
		path = next
	}
	exact := c.callback != "" && echoed // else the webhook is not echoed: match as without one
	switch {
	case exact && complete && time.Since(j.SubmittedAt) > c.settle:
		return "", false, nil // listed past the submit, and it is not there
	case exact:
		return "", false, &router.Error{Kind: router.Unknown, Code: "not_listed_yet", Message: "the prediction is not listed, and the listing cannot prove it yet"}
	case len(matches) == 1:
		return matches[0], true, nil
	case len(matches) > 1:
		return "", false, &router.Error{Kind: router.Unknown, Code: "ambiguous", Message: fmt.Sprintf("%d Replicate predictions match", len(matches))}
	}
	return "", false, &router.Error{Kind: router.Unknown, Code: "no_match", Message: "no Replicate prediction matches, and the listing cannot prove none was made yet"}
}

// nextPath turns the listing's next URL (absolute) into a path under the
// client's base; false when there is none or it points elsewhere.
func (c *Client) nextPath(next *string) (string, bool) {
	if next == nil || *next == "" {
		return "", false
	}
	u, err := url.Parse(*next)
	b, err2 := url.Parse(c.base)
	if err != nil || err2 != nil || (u.Host != "" && u.Host != b.Host) || !strings.HasPrefix(u.Path, b.Path+"/predictions") {
		return "", false
	}
	return strings.TrimPrefix(u.Path, b.Path) + "?" + u.RawQuery, true
}

// List is a page of Replicate's predictions.
type List struct {
	Results []Prediction `json:"results"`
	Next    *string      `json:"next"`
}

// ParseList reads a page of predictions.
func ParseList(b []byte) (List, error) {
	var raw struct {
		Results []json.RawMessage `json:"results"`
		Next    *string           `json:"next"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return List{}, fmt.Errorf("the list does not parse: %w", err)
	}
	if raw.Results == nil {
		return List{}, errors.New("the list has no results member")
	}
	l := List{Next: raw.Next}
	for _, d := range raw.Results {
		p, err := ParsePrediction(d)
		if err != nil {
			return List{}, err
		}
		l.Results = append(l.Results, p)
	}
	return l, nil
}

// Notification verifies a webhook Replicate sent (Standard Webhooks, with
// the configured secret or the one its API gives) and returns the
// prediction it is about when it has ended.
func (c *Client) Notification(cb router.Callback) (string, bool, error) {
	secret, err := c.webhookSecret()
	if err != nil {
		return "", false, fmt.Errorf("%w: the webhook secret could not be read from Replicate: %v", router.ErrBadNotification, err)
	}
	if err := call.VerifyStandard(secret, c.name, cb.Header, cb.Body, cb.Now); err != nil {
		return "", false, err
	}
	p, err := ParsePrediction(cb.Body)
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", router.ErrBadNotification, err)
	}
	if p.Status == "starting" || p.Status == "processing" {
		return "", false, nil
	}
	return p.ID, true, nil
}

// webhookSecret returns the configured secret, or reads Replicate's
// default one once.
func (c *Client) webhookSecret() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secret != "" {
		return c.secret, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := c.request(ctx, http.MethodGet, "/webhooks/default/secret", nil)
	if err != nil {
		return "", err
	}
	b, _, err := call.Send(c.http, req, false, ParseError)
	if err != nil {
		return "", err
	}
	var s struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(b, &s); err != nil || !strings.HasPrefix(s.Key, "whsec_") {
		return "", fmt.Errorf("the secret's answer is not {\"key\": \"whsec_...\"}: %.100s", b)
	}
	c.secret = s.Key
	return s.Key, nil
}

// sameInput reports whether p was made from what j asks: model, prompt,
// duration, shape and reference image.
func sameInput(p Prediction, j router.Job) bool {
	if p.Model != "" && p.Model != j.Model {
		return false
	}
	want, err := input(j)
	if err != nil {
		return false
	}
	for k, v := range want {
		if fmt.Sprint(p.Input[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}
