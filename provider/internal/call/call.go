// Package call is what the provider adapters share to call an HTTP API:
// bounded answers, failures classified for the router (a write whose
// answer was lost is Unknown, never retried blindly), Retry-After, media
// downloads that never carry the API key to another host, reference
// images as data URLs, and sizes read as aspect ratios and resolutions.
package call

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tollgate"
	"tollgate/jobs"
	"tollgate/router"
)

// Bounds of what is read from a provider.
const (
	// MaxContent bounds a downloaded video.
	MaxContent = 1 << 30
	// MaxAnswer bounds an answer that is not a video.
	MaxAnswer = 4 << 20
	// MaxImage bounds a reference image sent inline.
	MaxImage = 20 << 20
)

// Clients returns the HTTP clients of an adapter: api for calls, each
// bounded by timeout (default 60 s), and content for downloads, bounded by
// their context only. tr, when set, replaces the transports (tests).
func Clients(timeout time.Duration, tr http.RoundTripper) (api, content *http.Client) {
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctr := tr
	if tr == nil {
		t := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: timeout}
		// A download's answer may take a while to start (a provider
		// encoding on demand); the step's context bounds it.
		c := t.Clone()
		c.ResponseHeaderTimeout = max(timeout, 5*time.Minute)
		tr, ctr = t, c
	}
	return &http.Client{Timeout: timeout, Transport: tr}, &http.Client{Transport: ctr}
}

// ErrorParser classifies a provider's non-2xx answer.
type ErrorParser func(status int, h http.Header, body []byte) *router.Error

// Send does req and returns the body of a 2xx answer, at most MaxAnswer
// bytes. A non-2xx answer is classified by parse. write says the request
// may start work (a POST that submits): a failure once it may have left
// is then Unknown, and so are 500, 502 and 504, which a server or a proxy
// in front of it may answer after the work was started (429 and 503 say
// the request was turned away, and stay retryable).
func Send(c *http.Client, req *http.Request, write bool, parse ErrorParser) ([]byte, http.Header, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, Transport(err, write)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return nil, nil, Transport(err, write)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := parse(resp.StatusCode, resp.Header, body)
		switch resp.StatusCode {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			if write && e.Kind == router.Retryable {
				e.Kind = router.Unknown
				e.Message += " (the provider may have started it)"
			}
		}
		return nil, resp.Header, e
	}
	return body, resp.Header, nil
}

// Transport classifies a failed call: a connection never made is
// retryable; anything later, for a write, may have reached the provider.
func Transport(err error, write bool) *router.Error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &router.Error{Kind: router.Retryable, Code: "unreachable", Message: err.Error()}
	}
	if write {
		return &router.Error{Kind: router.Unknown, Code: "answer_lost", Message: err.Error()}
	}
	return &router.Error{Kind: router.Retryable, Code: "transport", Message: err.Error()}
}

// Malformed is the failure of an answer that does not parse: for a write,
// the provider may have started the job.
func Malformed(write bool, err error) *router.Error {
	kind := router.Retryable
	if write {
		kind = router.Unknown
	}
	return &router.Error{Kind: kind, Code: "malformed_answer", Message: err.Error()}
}

// ByStatus is the kind of an HTTP failure that says nothing more: 408,
// 409, 429 and 5xx are worth trying again, any other 4xx is final for this
// provider.
func ByStatus(status int) router.Kind {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status == http.StatusConflict, status >= 500:
		return router.Retryable
	}
	return router.Terminal
}

// RetryAfter reads retry-after-ms, else Retry-After (seconds or a date).
func RetryAfter(h http.Header) time.Duration {
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	v := h.Get("Retry-After")
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// Excerpt is the start of an answer, for an error message.
func Excerpt(body []byte) string {
	s := strings.TrimSpace(string(body[:min(len(body), 300)]))
	if s == "" {
		return "(no body)"
	}
	return s
}

// Download writes the video at req's URL to w, at most MaxContent bytes.
// The request is sent as made: a signed URL on another host gets no API
// key (the caller adds one only for the provider's own host).
func Download(c *http.Client, req *http.Request, w io.Writer, parse ErrorParser) error {
	resp, err := c.Do(req)
	if err != nil {
		return Transport(err, false)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
		return parse(resp.StatusCode, resp.Header, body)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, MaxContent+1))
	if err != nil {
		return Transport(err, false)
	}
	if n > MaxContent {
		return &router.Error{Kind: router.Terminal, Code: "too_large", Message: fmt.Sprintf("the video is over %d bytes", MaxContent)}
	}
	return nil
}

// Get makes a GET of a media URL the provider answered with. It refuses
// what is not http(s), so a provider's answer cannot point a download at
// a file or another scheme.
func Get(ctx context.Context, url string) (*http.Request, error) {
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return nil, &router.Error{Kind: router.Terminal, Code: "bad_output", Message: fmt.Sprintf("the provider's output URL %.100q is not http(s)", url)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &router.Error{Kind: router.Terminal, Code: "bad_output", Message: err.Error()}
	}
	req.Header.Set("User-Agent", "Tollgate")
	return req, nil
}

// Image reads the image at path (PNG, JPEG or WebP by its extension), at
// most MaxImage bytes, and returns it with its MIME type.
func Image(path string) ([]byte, string, error) {
	mime := map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}[strings.ToLower(filepath.Ext(path))]
	if mime == "" {
		return nil, "", fmt.Errorf("the reference %s is not a PNG, JPEG or WebP image", filepath.Base(path))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read the reference: %w", err)
	}
	if len(b) > MaxImage {
		return nil, "", fmt.Errorf("the reference image is over %d bytes", MaxImage)
	}
	return b, mime, nil
}

// DataURL reads the image at path as a data URL.
func DataURL(path string) (string, error) {
	b, mime, err := Image(path)
	if err != nil {
		return "", err
	}
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(b), nil
}

// Shape is a size read as providers that take an aspect ratio and a
// resolution name it.
type Shape struct {
	Width, Height int
	Ratio         string // "16:9", "9:16", "1:1", "7:4", "4:7"
	Resolution    string // "720p", "1080p": the short side
}

// ShapeOf reads a size "WIDTHxHEIGHT".
func ShapeOf(size string) (Shape, error) {
	ws, hs, ok := strings.Cut(size, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return Shape{}, fmt.Errorf("size %q is not WIDTHxHEIGHT", size)
	}
	g := gcd(w, h)
	s := Shape{Width: w, Height: h, Ratio: fmt.Sprintf("%d:%d", w/g, h/g), Resolution: fmt.Sprintf("%dp", min(w, h))}
	switch s.Ratio { // the sizes OpenAI's API offers, as others round them
	case "7:4", "4:7":
		s.Ratio = map[string]string{"7:4": "16:9", "4:7": "9:16"}[s.Ratio]
		s.Resolution = "1080p"
	}
	return s, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// JSON makes a request with a JSON body (nil for none).
func JSON(ctx context.Context, method, url string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Tollgate")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// Refusal reports whether a provider's code or message names a
// content-policy refusal.
func Refusal(s ...string) bool {
	for _, v := range s {
		v = strings.ToLower(v)
		for _, w := range []string{"moderation", "safety", "content_policy", "content policy", "nsfw", "sensitive", "responsible ai", "prohibited"} {
			if strings.Contains(v, w) {
				return true
			}
		}
	}
	return false
}

// WebhookTolerance is how far a signed webhook's timestamp may be from now.
const WebhookTolerance = 5 * time.Minute

// VerifyStandard checks a webhook signed as Standard Webhooks with secret
// ("whsec_..."): webhook-id, webhook-timestamp within WebhookTolerance of
// now, and a webhook-signature (one of several while a secret rotates)
// that is the HMAC-SHA256 of "id.timestamp.body". Its errors wrap
// router.ErrBadNotification.
func VerifyStandard(secret, provider string, h http.Header, body []byte, now time.Time) error {
	if secret == "" {
		return fmt.Errorf("%w: no webhook secret is configured for %s", router.ErrBadNotification, provider)
	}
	id, ts := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil {
		return fmt.Errorf("%w: webhook-id and webhook-timestamp are required", router.ErrBadNotification)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > WebhookTolerance || d < -WebhookTolerance {
		return fmt.Errorf("%w: its timestamp is %s from now, beyond %s", router.ErrBadNotification, d.Round(time.Second), WebhookTolerance)
	}
	want, err := jobs.Sign(secret, id, sec, body) // the signature Tollgate's own webhooks carry, from this secret
	if err != nil {
		return fmt.Errorf("%w: the webhook secret of %s: %v", router.ErrBadNotification, provider, err)
	}
	for sig := range strings.FieldsSeq(h.Get("Webhook-Signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature in webhook-signature matches", router.ErrBadNotification)
}

// Read sends req, which starts nothing, and parses a 2xx answer with
// parse; an answer that does not parse is a retryable malformed_answer.
func Read[T any](c *http.Client, req *http.Request, parseErr ErrorParser, parse func([]byte) (T, error)) (T, error) {
	var zero T
	b, _, err := Send(c, req, false, parseErr)
	if err != nil {
		return zero, err
	}
	v, err := parse(b)
	if err != nil {
		return zero, Malformed(false, err)
	}
	return v, nil
}

// UsableID reports whether a provider's id of a job is safe to put in a
// URL's path: printable, at most 200 bytes, without / ? # or %, and not
// . or .. (which a server would read as a path step).
func UsableID(id string) bool {
	return id != "" && id != "." && id != ".." && len(id) <= 200 && tollgate.CleanText(id) && !strings.ContainsAny(id, "/?#%")
}

// NotAJob is the failure of an id that cannot be one of provider's jobs:
// final, as for a job the provider does not know.
func NotAJob(provider, id string) *router.Error {
	return &router.Error{Kind: router.Terminal, Code: "not_found", Message: fmt.Sprintf("%.100q is not a %s job", id, provider)}
}
