package httpapi

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/provider/local"
)

// form is a multipart body of fields (in order) and files, as the SDKs
// send it.
func form(t *testing.T, fields [][2]string, files map[string][]byte) (string, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		fw, err := w.CreateFormFile(name, name+".bin")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String(), w.FormDataContentType()
}

// openaiErrorOf checks r is OpenAI's envelope with status, code and param.
func openaiErrorOf(t *testing.T, r response, status int, code tollgate.Code, param string) openaiError {
	t.Helper()
	if r.Status != status {
		t.Errorf("got status %d, want %d; body %s", r.Status, status, r.Body)
	}
	var env openaiEnvelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
	got := ""
	if env.Error.Param != nil {
		got = *env.Error.Param
	}
	if env.Error.Code != code || got != param || env.Error.Message == "" || env.Error.Type == "" {
		t.Errorf("got %s, want code %s naming param %q", r.Body, code, param)
	}
	return env.Error
}

// TestVideoBadInput: a bad video request is a 400 in OpenAI's envelope
// naming the parameter, and changes nothing.
func TestVideoBadInput(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "a", "free", "UTC")
		key := e.createKey(t, "a")
		png := []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 64))
		for _, tc := range []struct {
			name   string
			key    string
			fields [][2]string
			files  map[string][]byte
			json   string
			status int
			code   tollgate.Code
			param  string
		}{
			{"seconds", key, [][2]string{{"prompt", "a fox"}, {"seconds", "5"}}, nil, "", 400, tollgate.CodeInvalidField, "seconds"},
			{"seconds not a number", key, [][2]string{{"prompt", "a fox"}, {"seconds", "four"}}, nil, "", 400, tollgate.CodeInvalidField, "seconds"},
			{"size", key, [][2]string{{"prompt", "a fox"}, {"size", "640x480"}}, nil, "", 400, tollgate.CodeInvalidField, "size"},
			{"model", key, [][2]string{{"prompt", "a fox"}, {"model", "sora-9"}}, nil, "", 400, tollgate.CodeInvalidField, "model"},
			{"size the model does not make", key, [][2]string{{"prompt", "a fox"}, {"size", "1792x1024"}}, nil, "", 400, tollgate.CodeInvalidField, "size"},
			{"no prompt", key, [][2]string{{"seconds", "4"}}, nil, "", 400, tollgate.CodeInvalidField, "prompt"},
			{"file_id", key, [][2]string{{"prompt", "a fox"}, {"input_reference[file_id]", "file_1"}}, nil, "", 400, tollgate.CodeInvalidField, "input_reference.file_id"},
			{"not an image", key, [][2]string{{"prompt", "a fox"}}, map[string][]byte{"input_reference": []byte("just text")}, "", 400, tollgate.CodeInvalidField, "input_reference"},
			{"two references", key, [][2]string{{"prompt", "a fox"}, {"input_reference[image_url]", "data:image/png;base64,iVBORw0KGgo="}}, map[string][]byte{"input_reference": png}, "", 400, tollgate.CodeInvalidField, "input_reference"},
			{"private image_url", key, [][2]string{{"prompt", "a fox"}, {"input_reference[image_url]", "http://127.0.0.1:1/x.png"}}, nil, "", 400, tollgate.CodeInvalidField, "input_reference.image_url"},
			{"unknown file", key, [][2]string{{"prompt", "a fox"}}, map[string][]byte{"mask": png}, "", 400, tollgate.CodeUnknownField, "mask"},
			{"unknown field", key, [][2]string{{"prompt", "a fox"}, {"colour", "red"}}, nil, "", 400, tollgate.CodeUnknownField, "colour"},
			{"characters", key, [][2]string{{"prompt", "a fox"}, {"characters[][id]", "char_1"}}, nil, "", 400, tollgate.CodeInvalidField, "characters"},
			{"policy", key, [][2]string{{"prompt", "a fox"}, {"tollgate", `{"policy":"slowest"}`}}, nil, "", 400, tollgate.CodeInvalidField, "tollgate.policy"},
			{"tollgate member unknown", key, nil, nil, `{"prompt":"a fox","tollgate":{"colour":"red"}}`, 400, tollgate.CodeUnknownField, "tollgate.colour"},
			{"max_credits below the price", key, nil, nil, `{"prompt":"a fox","tollgate":{"max_credits":"0.1"}}`, 400, tollgate.CodeInvalidField, "tollgate.max_credits"},
			{"admin without account", adminKey, nil, nil, `{"prompt":"a fox"}`, 400, tollgate.CodeInvalidField, "tollgate.account_id"},
			{"another account", key, nil, nil, `{"prompt":"a fox","tollgate":{"account_id":"b"}}`, 404, tollgate.CodeNotFound, "tollgate.account_id"},
			{"malformed JSON", key, nil, nil, `{"prompt":`, 400, tollgate.CodeMalformedJSON, ""},
			{"no key", "", nil, nil, `{"prompt":"a fox"}`, 401, tollgate.CodeUnauthorized, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.world(t)
				req := request{Method: "POST", Path: "/v1/videos", Key: tc.key, Body: tc.json}
				if tc.json == "" {
					body, ct := form(t, tc.fields, tc.files)
					req.Body, req.Header = body, map[string]string{"Content-Type": ct}
				}
				openaiErrorOf(t, e.do(t, req), tc.status, tc.code, tc.param)
				e.unchanged(t, before)
			})
		}
		// Paths of a video another account owns, or none: 404 in OpenAI's shape.
		for _, p := range []string{"/v1/videos/video_none", "/v1/videos/video_none/content"} {
			openaiErrorOf(t, e.do(t, request{Method: "GET", Path: p, Key: key}), 404, tollgate.CodeNotFound, "video_id")
		}
		openaiErrorOf(t, e.do(t, request{Method: "GET", Path: "/v1/videos?order=sideways", Key: key}), 400, tollgate.CodeInvalidField, "order")
	})
}

// TestVideoInsufficientCredits: a video the account cannot pay for is a
// 402 whose error carries the figures and the offers; nothing is held or
// stored.
func TestVideoInsufficientCredits(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "a", "free", "UTC") // 30 credits of video a day
		key := e.createKey(t, "a")
		before := e.world(t)
		// sora-2-pro at 1024x1792 for 12 s: 0.5 x 12 = 6 credits... times many: ask the dearest the catalog has.
		r := e.do(t, request{Method: "POST", Path: "/v1/videos", Key: key,
			Body: `{"prompt":"a fox","model":"sora-2-pro","seconds":"12","size":"1792x1024","tollgate":{"max_credits":"1000"}}`})
		if r.Status == http.StatusOK {
			t.Skip("the catalog's dearest video fits the free allowance") // guards the figures below
		}
		oe := openaiErrorOf(t, r, 402, tollgate.CodeInsufficientCredits, "")
		if oe.Required == nil || oe.Available == nil || oe.Offers == nil || len(*oe.Offers) == 0 || oe.DailyAllowanceResetsAt == nil || oe.Type != "insufficient_quota" {
			t.Errorf("got %+v, want required, available, daily_allowance_resets_at and offers inside error", oe)
		}
		e.unchanged(t, before)
	})
}

// TestVideoOverHTTP: create as a form, poll, download with a Range, list,
// replay an Idempotency-Key, and delete, every answer checked against the
// document.
func TestVideoOverHTTP(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "a", "free", "UTC")
		key := e.createKey(t, "a")
		png := local.Thumbnail // any image the checks accept: WebP
		body, ct := form(t, [][2]string{{"prompt", "a fox"}, {"model", "sora-2"}, {"seconds", "4"}, {"size", "720x1280"},
			{"tollgate", `{"policy":"fastest"}`}}, map[string][]byte{"input_reference": png})
		req := request{Method: "POST", Path: "/v1/videos", Key: key, Body: body,
			Header: map[string]string{"Content-Type": ct, "Idempotency-Key": "v1", "OpenAI-Project": "proj_1"}}
		var v videoView
		e.call(t, req, 200, &v)
		// A prompt that looks like JSON stays text.
		jp, jct := form(t, [][2]string{{"prompt", `{"scene":"a fox"}`}, {"seconds", "4"}, {"size", "720x1280"}}, nil)
		var jv videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos", Key: key, Body: jp, Header: map[string]string{"Content-Type": jct}}, 200, &jv)
		if jv.Prompt != `{"scene":"a fox"}` {
			t.Errorf("a JSON-looking prompt came back as %q", jv.Prompt)
		}
		// Deleted before it finishes: cancelled, and its hold released.
		e.call(t, request{Method: "DELETE", Path: "/v1/videos/" + jv.ID, Key: key}, 200, nil)
		openaiErrorOf(t, e.do(t, request{Method: "GET", Path: "/v1/videos/" + jv.ID, Key: key}), 404, tollgate.CodeNotFound, "video_id")
		if v.Status != "queued" || v.Tollgate.Credits.Held != tollgate.Credits(400_000) || !v.Tollgate.Demo || v.Tollgate.Project != "proj_1" {
			t.Fatalf("created %+v", v)
		}
		// The same form again, with another boundary: the same video.
		body2, ct2 := form(t, [][2]string{{"size", "720x1280"}, {"prompt", "a fox"}, {"model", "sora-2"}, {"seconds", "4"},
			{"tollgate", `{"policy":"fastest"}`}}, map[string][]byte{"input_reference": png})
		var again videoView
		r := e.call(t, request{Method: "POST", Path: "/v1/videos", Key: key, Body: body2,
			Header: map[string]string{"Content-Type": ct2, "Idempotency-Key": "v1", "OpenAI-Project": "proj_1"}}, 200, &again)
		if again.ID != v.ID || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: got %s (%q), want %s replayed", again.ID, r.Header.Get("Idempotent-Replayed"), v.ID)
		}
		deadline := time.Now().Add(20 * time.Second)
		for v.Status != "completed" {
			if time.Now().After(deadline) || v.Status == "failed" {
				t.Fatalf("video %+v did not complete", v)
			}
			r := e.call(t, request{Method: "GET", Path: "/v1/videos/" + v.ID, Key: key}, 200, &v)
			if v.Status != "completed" && r.Header.Get("Openai-Poll-After-Ms") == "" {
				t.Error("a running video's answer has no openai-poll-after-ms")
			}
			e.clock.Advance(250 * time.Millisecond) // the runner looks again when the clock says so
			time.Sleep(10 * time.Millisecond)
		}
		if v.Tollgate.Credits.Charged != v.Tollgate.Credits.Held || v.Tollgate.Delivered == nil || v.Tollgate.Delivered.Size != "720x1280" {
			t.Errorf("completed %+v: want the hold charged for 4 s at 720x1280", v.Tollgate)
		}
		whole := e.call(t, request{Method: "GET", Path: "/v1/videos/" + v.ID + "/content", Key: key}, 200, nil)
		part := e.call(t, request{Method: "GET", Path: "/v1/videos/" + v.ID + "/content", Key: key, Header: map[string]string{"Range": "bytes=0-99"}}, 206, nil)
		if whole.Header.Get("Content-Type") != "video/mp4" || len(part.Body) != 100 || !bytes.Equal(part.Body, whole.Body[:100]) {
			t.Errorf("content: %s %d bytes; range %d bytes", whole.Header.Get("Content-Type"), len(whole.Body), len(part.Body))
		}
		var list videoListView
		e.call(t, request{Method: "GET", Path: "/v1/videos?limit=1", Key: key}, 200, &list)
		if len(list.Data) != 1 || list.HasMore || list.FirstID == nil || *list.FirstID != v.ID {
			t.Errorf("list %+v", list)
		}
		// The margin report counts it, for admin keys only, as JSON and CSV.
		e.call(t, request{Method: "GET", Path: "/v1/reports/margin", Key: key}, 403, nil)
		var m marginView
		e.call(t, request{Method: "GET", Path: "/v1/reports/margin?group_by=provider", Key: adminKey}, 200, &m)
		// The deleted one failed, at local or before it was routed ("none").
		failed, local := 0, marginRowView{}
		for _, row := range m.Rows {
			failed += row.Failed
			if row.Key == "local" {
				local = row
			}
		}
		if local.Completed != 1 || local.Charged != v.Tollgate.Credits.Charged || m.Total.Completed != 1 || m.Total.Failed != 1 || failed != 1 {
			t.Errorf("margin by provider: %+v", m)
		}
		csvAns := e.call(t, request{Method: "GET", Path: "/v1/reports/margin?group_by=model&format=csv", Key: adminKey}, 200, nil)
		lines := strings.Split(strings.TrimSpace(string(csvAns.Body)), "\n")
		if csvAns.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(lines) != 3 || !strings.HasPrefix(lines[0], "key,currency,completed") ||
			!strings.HasPrefix(lines[1], "sora-2,") || !strings.HasPrefix(lines[2], "total,") {
			t.Errorf("margin as CSV: %s\n%q", csvAns.Header.Get("Content-Type"), lines)
		}
		e.call(t, request{Method: "GET", Path: "/v1/reports/margin?group_by=account", Key: adminKey}, 422, nil)
		// Past expires_at the content is gone: a 404 in OpenAI's shape; the
		// video itself, and its charge, stay.
		before := e.do(t, request{Method: "GET", Path: "/v1/videos/" + v.ID + "/content?variant=thumbnail", Key: key})
		if before.Status != 200 || before.Header.Get("Content-Type") != "image/webp" {
			t.Errorf("thumbnail: %d %s", before.Status, before.Header.Get("Content-Type"))
		}
		e.clock.Advance(8 * 24 * time.Hour)
		openaiErrorOf(t, e.do(t, request{Method: "GET", Path: "/v1/videos/" + v.ID + "/content", Key: key}), 404, tollgate.CodeVideoNotReady, "")
		e.call(t, request{Method: "GET", Path: "/v1/videos/" + v.ID, Key: key}, 200, nil)
		var del videoDeletedView
		e.call(t, request{Method: "DELETE", Path: "/v1/videos/" + v.ID, Key: key}, 200, &del)
		if !del.Deleted || del.Object != "video.deleted" {
			t.Errorf("delete %+v", del)
		}
		openaiErrorOf(t, e.do(t, request{Method: "GET", Path: "/v1/videos/" + v.ID + "/content", Key: key}), 404, tollgate.CodeNotFound, "video_id")
	})
}

// TestProviderWebhookRoute: a notification for a provider this server does
// not have is a 404 problem; it needs no key (the provider signs it).
func TestProviderWebhookRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, openSQLite)
	r := e.do(t, request{Method: "POST", Path: "/v1/webhooks/providers/openai", Body: `{"type":"video.completed","data":{"id":"video_1"}}`,
		Header: map[string]string{"webhook-id": "evt_1", "webhook-timestamp": "1796000000", "webhook-signature": "v1,x"}})
	problemOf(t, r, 404, tollgate.CodeNotFound)
}
