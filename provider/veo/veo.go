// Package veo is the adapter for Google's Veo through the Gemini API
// (generativelanguage.googleapis.com/v1beta): a long-running operation
// per video (POST models/{model}:predictLongRunning), polled at GET
// /v1beta/{operation name} until done, the video downloaded from the
// generated sample's URI with the API key (which a redirect to storage
// does not carry).
//
// A done operation can hide a refusal: no error, no samples, and
// raiMediaFilteredCount set (Google does not charge for it); it is a
// content-policy refusal here. The Gemini API neither lists operations
// nor takes a client reference, and cannot cancel one, so the adapter is
// not a router.Reconciler: a submit whose answer was lost is never sent
// anywhere again.
package veo

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"tollgate"
	"tollgate/provider/internal/call"
	"tollgate/router"
)

// DefaultBaseURL is the Gemini API.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"

// keyHeader carries the API key.
const keyHeader = "X-Goog-Api-Key"

// Client calls the Gemini API's Veo models. It is safe for concurrent use.
type Client struct {
	name    string
	base    *url.URL
	key     string
	http    *http.Client
	content *http.Client
}

var _ router.Provider = (*Client)(nil)

// Options configure a Client.
type Options struct {
	Name    string // the provider's name in the catalog; default "veo"
	BaseURL string // default DefaultBaseURL
	APIKey  string
	// Timeout bounds each call but downloads; default 60 s.
	Timeout time.Duration
	// Transport, when set, is used instead of the default one (tests).
	Transport http.RoundTripper
}

// New returns a client for the Gemini API.
func New(o Options) *Client {
	if o.Name == "" {
		o.Name = "veo"
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if err != nil {
		base = &url.URL{Scheme: "https", Host: "invalid.invalid"}
	}
	api, content := call.Clients(o.Timeout, o.Transport)
	c := &Client{name: o.Name, base: base, key: o.APIKey}
	// The key goes to the API's own scheme and host only: Go keeps custom
	// headers across redirects, and the download is redirected to storage.
	keep := func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		if !c.ours(req) {
			req.Header.Del(keyHeader)
		}
		return nil
	}
	a, dl := *api, *content
	a.CheckRedirect, dl.CheckRedirect = keep, keep
	c.http, c.content = &a, &dl
	return c
}

// Name returns the provider's name.
func (c *Client) Name() string { return c.name }

func (c *Client) request(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := call.JSON(ctx, method, c.base.String()+"/"+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(keyHeader, c.key)
	return req, nil
}

var (
	modelName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,99}$`)
	opName    = regexp.MustCompile(`^models/[a-z0-9][a-z0-9.-]{0,99}/operations/[A-Za-z0-9_-]{1,200}$`)
)

// Submit starts an operation for j at its model: text to video, or image
// to video with j's reference sent inline.
func (c *Client) Submit(ctx context.Context, j router.Job) (string, error) {
	if j.Kind != "" && j.Kind != tollgate.VideoCreate {
		return "", &router.Error{Kind: router.Terminal, Code: "unsupported", Message: fmt.Sprintf("Veo through the Gemini API is not sent a %s", j.Kind)}
	}
	if !modelName.MatchString(j.Model) {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: fmt.Sprintf("%q is not a Gemini model name", j.Model)}
	}
	shape, err := call.ShapeOf(j.Size)
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	instance := map[string]any{"prompt": j.Prompt}
	if j.Input != "" {
		img, mime, err := call.Image(j.Input)
		if err != nil {
			return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
		}
		instance["image"] = map[string]string{"bytesBase64Encoded": base64.StdEncoding.EncodeToString(img), "mimeType": mime}
	}
	body, _ := json.Marshal(map[string]any{"instances": []any{instance},
		"parameters": map[string]any{"aspectRatio": shape.Ratio, "resolution": shape.Resolution, "durationSeconds": j.Seconds, "sampleCount": 1}})
	req, err := c.request(ctx, http.MethodPost, "models/"+j.Model+":predictLongRunning", body)
	if err != nil {
		return "", &router.Error{Kind: router.Terminal, Code: "bad_request", Message: err.Error()}
	}
	ans, _, err := call.Send(c.http, req, true, ParseError)
	if err != nil {
		return "", err
	}
	op, err := ParseOperation(ans)
	if err != nil {
		return "", call.Malformed(true, err)
	}
	return op.Name, nil
}

// Operation is the Gemini API's long-running operation, as far as
// Tollgate reads it.
type Operation struct {
	Name  string `json:"name"`
	Done  bool   `json:"done"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
	Response *struct {
		GenerateVideoResponse *struct {
			GeneratedSamples []struct {
				Video *struct {
					URI string `json:"uri"`
				} `json:"video"`
			} `json:"generatedSamples"`
			RAIMediaFilteredCount   int      `json:"raiMediaFilteredCount"`
			RAIMediaFilteredReasons []string `json:"raiMediaFilteredReasons"`
		} `json:"generateVideoResponse"`
	} `json:"response"`
}

// Video is the URI of the operation's first generated video, or "".
func (o Operation) Video() string {
	if o.Response == nil || o.Response.GenerateVideoResponse == nil {
		return ""
	}
	for _, s := range o.Response.GenerateVideoResponse.GeneratedSamples {
		if s.Video != nil && s.Video.URI != "" {
			return s.Video.URI
		}
	}
	return ""
}

// ParseOperation reads an operation, refusing one whose name is not an
// operation of a model.
func ParseOperation(b []byte) (Operation, error) {
	var o Operation
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("the operation does not parse: %w", err)
	}
	if !opName.MatchString(o.Name) {
		return o, fmt.Errorf("the operation's name %.100q is not models/{model}/operations/{id}", o.Name)
	}
	return o, nil
}

// ParseError classifies the Gemini API's error answer ({"error": {code,
// message, status}}): a safety refusal, a failure to retry (429
// RESOURCE_EXHAUSTED, 5xx), or one final for Veo (any other 4xx).
func ParseError(status int, h http.Header, body []byte) *router.Error {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	msg := e.Error.Message
	if msg == "" {
		msg = call.Excerpt(body)
	}
	code := e.Error.Status
	if code == "" {
		code = fmt.Sprintf("http_%d", status)
	}
	out := &router.Error{Kind: call.ByStatus(status), Code: code, Message: fmt.Sprintf("%d: %s", status, msg), RetryAfter: call.RetryAfter(h)}
	switch {
	case status < 500 && status != http.StatusTooManyRequests && call.Refusal(msg):
		out.Kind, out.Code = router.Refused, "moderation"
	case status == http.StatusNotFound:
		out.Code = "not_found"
	}
	return out
}

func (c *Client) operation(ctx context.Context, name string) (Operation, error) {
	if !opName.MatchString(name) {
		return Operation{}, call.NotAJob("Veo", name)
	}
	req, err := c.request(ctx, http.MethodGet, name, nil)
	if err != nil {
		return Operation{}, err
	}
	return call.Read(c.http, req, ParseError, ParseOperation)
}

// Status reads the operation. Veo reports no progress; the gateway
// estimates it.
func (c *Client) Status(ctx context.Context, name string) (router.Status, error) {
	o, err := c.operation(ctx, name)
	if err != nil {
		return router.Status{}, err
	}
	return status(o), nil
}

func status(o Operation) router.Status {
	switch {
	case !o.Done:
		return router.Status{State: router.Running, Progress: -1}
	case o.Error != nil:
		e := &router.Error{Kind: router.Terminal, Code: cmp.Or(o.Error.Status, fmt.Sprintf("rpc_%d", o.Error.Code)), Message: cmp.Or(o.Error.Message, "the operation failed")}
		if call.Refusal(o.Error.Message) {
			e.Kind = router.Refused
		}
		return router.Status{State: router.Failed, Progress: -1, Err: e}
	case o.Video() != "":
		return router.Status{State: router.Completed, Progress: 100}
	case o.Response != nil && o.Response.GenerateVideoResponse != nil && o.Response.GenerateVideoResponse.RAIMediaFilteredCount > 0:
		// Done without a video: Google's safety filters took it.
		return router.Status{State: router.Failed, Progress: -1, Err: &router.Error{Kind: router.Refused, Code: "rai_media_filtered",
			Message: cmp.Or(strings.Join(o.Response.GenerateVideoResponse.RAIMediaFilteredReasons, " "), "Veo's safety filters removed the video")}}
	}
	return router.Status{State: router.Failed, Progress: -1, Err: &router.Error{Kind: router.Terminal, Code: "no_output", Message: "the operation is done but has no video"}}
}

// Fetch downloads the operation's video. Its URI is on the API's host
// and needs the key; the storage it redirects to does not get it. A URI on
// another host is fetched without the key.
func (c *Client) Fetch(ctx context.Context, name string, w io.Writer) error {
	o, err := c.operation(ctx, name)
	if err != nil {
		return err
	}
	uri := o.Video()
	if !o.Done || uri == "" {
		return &router.Error{Kind: router.Retryable, Code: "not_ready", Message: "the operation has no video yet"}
	}
	req, err := call.Get(ctx, uri)
	if err != nil {
		return err
	}
	if c.ours(req) {
		req.Header.Set(keyHeader, c.key)
	}
	return call.Download(c.content, req, w, ParseError)
}

// Cancel: the Gemini API cannot cancel a video operation.
func (c *Client) Cancel(context.Context, string) error { return router.ErrCannotCancel }

// ours reports whether req goes to the API itself: its scheme and host.
func (c *Client) ours(req *http.Request) bool {
	return req.URL.Scheme == c.base.Scheme && req.URL.Host == c.base.Host
}
