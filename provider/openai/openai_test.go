package openai_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/jobs"
	"tollgate/provider/openai"
	"tollgate/provider/openai/openaitest"
	"tollgate/router"
)

func client(f *openaitest.Fake, key string) *openai.Client {
	return openai.New(openai.Options{Name: "up", BaseURL: f.URLv1(), APIKey: key, Timeout: 5 * time.Second})
}

func kindOf(err error) router.Kind {
	var e *router.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return -1
}

// TestClient runs the adapter against the fake upstream: create, poll,
// download, remix, edit, extend, and the errors as classified.
func TestClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it): the fake renders clips with it")
	}
	f := openaitest.New(50*time.Millisecond, openaitest.Chaos{})
	defer f.Close()
	c := client(f, openaitest.Key)
	ctx := context.Background()
	id, err := c.Submit(ctx, router.Job{Kind: tollgate.VideoCreate, Model: "sora-2", Prompt: "a fox", Seconds: 4, Size: "1280x720"})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(id string) router.Status {
		t.Helper()
		for range 200 {
			st, err := c.Status(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != router.Running {
				return st
			}
			if st.Progress < 0 || st.Progress > 99 {
				t.Errorf("running with progress %d", st.Progress)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s still running", id)
		return router.Status{}
	}
	if st := wait(id); st.State != router.Completed {
		t.Fatalf("status %+v", st)
	}
	var b bytes.Buffer
	if err := c.Fetch(ctx, id, &b); err != nil || b.Len() < 1000 {
		t.Fatalf("fetch: %d bytes, %v", b.Len(), err)
	}
	for _, j := range []router.Job{
		{Kind: tollgate.VideoRemix, Prompt: "at night", SourceJob: id},
		{Kind: tollgate.VideoEdit, Prompt: "more snow", SourceJob: id},
		{Kind: tollgate.VideoExtend, Prompt: "it runs on", Seconds: 4, SourceJob: id},
	} {
		nid, err := c.Submit(ctx, j)
		if err != nil {
			t.Fatalf("%s: %v", j.Kind, err)
		}
		if st := wait(nid); st.State != router.Completed {
			t.Errorf("%s: %+v", j.Kind, st)
		}
	}
	// Errors, classified.
	if _, err := client(f, "sk-wrong").Submit(ctx, router.Job{Model: "sora-2", Prompt: "a fox", Seconds: 4, Size: "1280x720"}); kindOf(err) != router.Terminal {
		t.Errorf("a wrong key: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "sora-2", Prompt: "a fox", Seconds: 5, Size: "1280x720"}); kindOf(err) != router.Terminal {
		t.Errorf("a value the upstream refuses: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "sora-2", Prompt: "FORBIDDEN fox", Seconds: 4, Size: "1280x720"}); kindOf(err) != router.Refused {
		t.Errorf("a prompt refused at once: %v, want refused", err)
	}
	rid, err := c.Submit(ctx, router.Job{Model: "sora-2", Prompt: "REFUSE fox", Seconds: 4, Size: "1280x720"})
	if err != nil {
		t.Fatal(err)
	}
	if st := wait(rid); st.State != router.Failed || st.Err == nil || st.Err.Kind != router.Refused {
		t.Errorf("a video refused as it runs: %+v, want failed and refused", st)
	}
	if _, err := c.Status(ctx, "video_none"); kindOf(err) != router.Terminal {
		t.Errorf("an unknown video: %v, want terminal", err)
	}
	if err := c.Cancel(ctx, id); !errors.Is(err, router.ErrCannotCancel) {
		t.Errorf("cancel: %v, want ErrCannotCancel", err)
	}
	// Reconcile finds the one video a lost submit made, by its fields.
	at := time.Now()
	j := router.Job{Kind: tollgate.VideoCreate, Model: "sora-2", Prompt: "a lost fox", Seconds: 8, Size: "720x1280", SubmittedAt: at}
	lost, err := c.Submit(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	if got, found, err := c.Reconcile(ctx, j); err != nil || !found || got != lost {
		t.Errorf("reconcile: %s %v %v, want %s", got, found, err, lost)
	}
	other := j
	other.Prompt = "never sent"
	if _, found, err := c.Reconcile(ctx, other); found || kindOf(err) != router.Unknown {
		t.Errorf("reconcile of a video never made: found %v, %v; want unknown (a listing proves no absence)", found, err)
	}
}

// TestClientUnreachable: a connection never made is retryable; a submit
// whose answer is lost after it was sent is unknown.
func TestClientUnreachable(t *testing.T) {
	t.Parallel()
	c := openai.New(openai.Options{BaseURL: "http://127.0.0.1:1/v1", APIKey: "k", Timeout: time.Second})
	_, err := c.Submit(context.Background(), router.Job{Model: "sora-2", Prompt: "a fox", Seconds: 4, Size: "1280x720"})
	if kindOf(err) != router.Retryable {
		t.Errorf("unreachable: %v, want retryable", err)
	}
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) })
	srv := newServer(hang)
	defer srv.Close()
	c = openai.New(openai.Options{BaseURL: srv.URL + "/v1", APIKey: "k", Timeout: 100 * time.Millisecond})
	if _, err := c.Submit(context.Background(), router.Job{Model: "sora-2", Prompt: "a fox", Seconds: 4, Size: "1280x720"}); kindOf(err) != router.Unknown {
		t.Errorf("a submit that timed out: %v, want unknown", err)
	}
	if _, err := c.Status(context.Background(), "video_1"); kindOf(err) != router.Retryable {
		t.Errorf("a poll that timed out: %v, want retryable", err)
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		header http.Header
		body   string
		kind   router.Kind
		code   string
		after  time.Duration
	}{
		{429, http.Header{"Retry-After-Ms": {"250"}}, `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`, router.Retryable, "rate_limit_exceeded", 250 * time.Millisecond},
		{429, http.Header{"Retry-After": {"2"}}, `{}`, router.Retryable, "http_429", 2 * time.Second},
		{503, nil, `upstream connect error`, router.Retryable, "http_503", 0},
		{400, nil, `{"error":{"message":"blocked","type":"invalid_request_error","code":"moderation_blocked"}}`, router.Refused, "moderation_blocked", 0},
		{400, nil, `{"error":{"message":"bad size","type":"invalid_request_error","param":"size","code":null}}`, router.Terminal, "http_400", 0},
		{401, nil, `{"error":{"message":"bad key","code":"invalid_api_key"}}`, router.Terminal, "invalid_api_key", 0},
		{409, nil, `{}`, router.Retryable, "http_409", 0},
	} {
		e := openai.ParseError(tc.status, tc.header, []byte(tc.body))
		if e.Kind != tc.kind || e.Code != tc.code || e.RetryAfter != tc.after {
			t.Errorf("%d %s: got %v %s %s, want %v %s %s", tc.status, tc.body, e.Kind, e.Code, e.RetryAfter, tc.kind, tc.code, tc.after)
		}
	}
}

// Fuzz targets for the parsers of the upstream's answers: they never
// panic, and what they accept is usable.
func FuzzParseVideo(f *testing.F) {
	f.Add([]byte(`{"id":"video_1","object":"video","status":"in_progress","progress":40,"seconds":"8","size":"1280x720","created_at":1}`))
	f.Add([]byte(`{"id":"video_1","status":"failed","error":{"code":"moderation_blocked","message":"no"}}`))
	f.Add([]byte(`{"id":"","status":"queued"}`))
	f.Add([]byte(`{"id":"v","status":"queued","seconds":8}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := openai.ParseVideo(b)
		if err == nil && (v.ID == "" || v.Status == "") {
			t.Errorf("accepted %q without an id or a status", b)
		}
	})
}

func FuzzParseList(f *testing.F) {
	f.Add([]byte(`{"object":"list","data":[{"id":"video_1","status":"completed"}],"has_more":true,"last_id":"video_1"}`))
	f.Add([]byte(`{"data":null,"last_id":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := openai.ParseList(b)
		if err == nil {
			for _, v := range l.Data {
				if v.ID == "" {
					t.Errorf("accepted a video without an id in %q", b)
				}
			}
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(429, []byte(`{"error":{"message":"x","code":"rate_limit_exceeded"}}`), "1.5")
	f.Add(400, []byte(`{"error":{"code":"moderation_blocked"}}`), "")
	f.Add(500, []byte(`<html>`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Fuzz(func(t *testing.T, status int, body []byte, retry string) {
		e := openai.ParseError(status, http.Header{"Retry-After": {retry}}, body)
		if e == nil || e.Code == "" || e.RetryAfter < 0 {
			t.Errorf("ParseError(%d, %q, %q) = %+v", status, body, retry, e)
		}
	})
}

func newServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

// TestSubmitUpload: an edit or an extension of an uploaded video sends it
// as the multipart file video, as OpenAI's API takes it.
func TestSubmitUpload(t *testing.T) {
	t.Parallel()
	clip := filepath.Join(t.TempDir(), "input.mp4")
	if err := os.WriteFile(clip, []byte("\x00\x00\x00\x18ftypmp42 the clip"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan *http.Request, 2)
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			t.Error(err)
		}
		got <- r
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"video_up","object":"video","status":"queued"}`))
	}))
	defer srv.Close()
	c := openai.New(openai.Options{BaseURL: srv.URL + "/v1", APIKey: "k"})
	for _, j := range []router.Job{
		{Kind: tollgate.VideoEdit, Prompt: "more snow", Input: clip},
		{Kind: tollgate.VideoExtend, Prompt: "on", Seconds: 8, Input: clip},
	} {
		if _, err := c.Submit(context.Background(), j); err != nil {
			t.Fatal(err)
		}
		r := <-got
		want := map[tollgate.VideoKind]string{tollgate.VideoEdit: "/v1/videos/edits", tollgate.VideoExtend: "/v1/videos/extensions"}[j.Kind]
		files := r.MultipartForm.File["video"]
		if r.URL.Path != want || len(files) != 1 || r.FormValue("video[id]") != "" || r.FormValue("prompt") != j.Prompt {
			t.Errorf("%s: %s with files %v and fields %v", j.Kind, r.URL.Path, r.MultipartForm.File, r.MultipartForm.Value)
		}
		if j.Kind == tollgate.VideoExtend && r.FormValue("seconds") != "8" {
			t.Errorf("extension seconds %q", r.FormValue("seconds"))
		}
	}
}

// TestCharacters: a character is made upstream from a clip (multipart name
// and video) and a create that shows it names it as characters[][id]; the
// upstream's refusals are classified.
func TestCharacters(t *testing.T) {
	t.Parallel()
	f := openaitest.New(time.Hour, openaitest.Chaos{})
	defer f.Close()
	c := client(f, openaitest.Key)
	ctx := context.Background()
	mp4 := append([]byte("\x00\x00\x00\x18ftypmp42"), make([]byte, 64)...)
	id, err := c.NewCharacter(ctx, "Captain Lux", mp4)
	if err != nil {
		t.Fatal(err)
	}
	if f.CharacterNames()[id] != "Captain Lux" {
		t.Fatalf("character %s upstream: %v", id, f.CharacterNames())
	}
	if _, err := c.Submit(ctx, router.Job{Kind: tollgate.VideoCreate, Model: "sora-2", Prompt: "a duel", Seconds: 4, Size: "1280x720",
		Characters: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if got := f.Shows("a duel"); len(got) != 1 || got[0] != id {
		t.Errorf("the create named characters %v upstream, want [%s]", got, id)
	}
	// A character the upstream does not have: its 400, terminal.
	_, err = c.Submit(ctx, router.Job{Kind: tollgate.VideoCreate, Model: "sora-2", Prompt: "a ghost", Seconds: 4, Size: "1280x720",
		Characters: []string{"char_none"}})
	if kindOf(err) != router.Terminal {
		t.Errorf("an unknown character upstream: %v, want a terminal error", err)
	}
	// Not a clip: the upstream's 400, terminal; a wrong key too.
	if _, err := c.NewCharacter(ctx, "Mira", []byte("text")); kindOf(err) != router.Terminal {
		t.Errorf("a character of text: %v, want terminal", err)
	}
	if _, err := client(f, "sk-wrong").NewCharacter(ctx, "Mira", mp4); kindOf(err) != router.Terminal {
		t.Errorf("a wrong key: %v, want terminal", err)
	}
	// An upstream that answers without an id: not taken as made.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"name":"Mira"}`)) }))
	defer bad.Close()
	if _, err := openai.New(openai.Options{BaseURL: bad.URL, APIKey: "k"}).NewCharacter(ctx, "Mira", mp4); kindOf(err) != router.Unknown {
		t.Errorf("an answer without an id: %v, want unknown", err)
	}
}

// TestNotification: a webhook signed as Standard Webhooks with the
// configured secret verifies, and names its video for video.completed and
// video.failed; a wrong signature, an old timestamp, a missing secret do
// not verify; other events are about nothing to poll.
func TestNotification(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	c := openai.New(openai.Options{Name: "up", APIKey: "k", WebhookSecret: secret})
	now := time.Unix(1_796_000_000, 0)
	sign := func(secret, id string, at time.Time, body string) http.Header {
		sig, err := jobs.Sign(secret, id, at.Unix(), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(at.Unix(), 10)}, "Webhook-Signature": {sig}}
	}
	completed := `{"id":"evt_1","object":"event","created_at":1796000000,"type":"video.completed","data":{"id":"video_up1"}}`
	id, ok, err := c.Notification(router.Callback{Header: sign(secret, "evt_1", now, completed), Body: []byte(completed), Now: now})
	if err != nil || !ok || id != "video_up1" {
		t.Fatalf("a signed video.completed: %q %v %v", id, ok, err)
	}
	// While a secret is rotated the upstream may sign with both.
	h := sign(secret, "evt_1", now, completed)
	h.Set("Webhook-Signature", "v1,bm90IGl0 "+h.Get("Webhook-Signature"))
	if _, ok, err := c.Notification(router.Callback{Header: h, Body: []byte(completed), Now: now}); err != nil || !ok {
		t.Errorf("two signatures, the second right: %v %v", ok, err)
	}
	other := `{"id":"evt_2","object":"event","type":"batch.completed","data":{"id":"batch_1"}}`
	if _, ok, err := c.Notification(router.Callback{Header: sign(secret, "evt_2", now, other), Body: []byte(other), Now: now}); err != nil || ok {
		t.Errorf("another event type: %v %v, want verified and about nothing", ok, err)
	}
	for name, tc := range map[string]struct {
		c    *openai.Client
		h    http.Header
		body string
	}{
		"another secret":     {c, sign("whsec_"+base64.StdEncoding.EncodeToString([]byte("another secret, 32 bytes long!!!")), "evt_1", now, completed), completed},
		"a changed body":     {c, sign(secret, "evt_1", now, completed), strings.Replace(completed, "up1", "up2", 1)},
		"an old timestamp":   {c, sign(secret, "evt_1", now.Add(-10*time.Minute), completed), completed},
		"no signature":       {c, http.Header{"Webhook-Id": {"evt_1"}, "Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)}}, completed},
		"no secret set here": {openai.New(openai.Options{APIKey: "k"}), sign(secret, "evt_1", now, completed), completed},
	} {
		if _, _, err := tc.c.Notification(router.Callback{Header: tc.h, Body: []byte(tc.body), Now: now}); !errors.Is(err, router.ErrBadNotification) {
			t.Errorf("%s: %v, want it refused", name, err)
		}
	}
}
