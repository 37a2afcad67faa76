package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/webhooks"

	"tollgate/provider/openai/openaitest"
)

// sdkEnv is a serve on SQLite in demo mode with an account "ada" holding
// 50 promotional credits, and OpenAI's Go SDK pointed at it with ada's key.
type sdkEnv struct {
	inst   *instance
	admin  string
	key    string
	videos openai.VideoService
}

func newSDKEnv(t *testing.T) *sdkEnv {
	t.Helper()
	c := newConfig()
	c.DataDir, c.Addr, c.VerifyEvery, c.AllowPrivateWebhooks = t.TempDir(), "127.0.0.1:0", 0, true
	c.LocalRenderTime, c.VideoPollEvery = 200*time.Millisecond, 50*time.Millisecond
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, admin, err := start(context.Background(), c, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := inst.close(log); err != nil {
			t.Error(err)
		}
	})
	must := func(want int, method, path string, body any) map[string]any {
		t.Helper()
		st, m, err := try(inst.URL, admin, method, path, body)
		if err != nil || st != want {
			t.Fatalf("%s %s: got %d %v %v, want %d", method, path, st, m, err, want)
		}
		return m
	}
	must(201, "POST", "/v1/plans/none/versions", map[string]any{"daily_allowances": map[string]string{}})
	must(201, "POST", "/v1/accounts", map[string]any{"id": "ada", "name": "Ada", "plan": "none"})
	must(201, "POST", "/v1/accounts/ada/grants", map[string]any{"credits": "50", "source": "promo"})
	key := must(201, "POST", "/v1/accounts/ada/keys", map[string]any{"name": "sdk"})["key"].(string)
	// Only the base URL and the key are set; no option is read from the
	// environment (NewVideoService reads none), and the SDK does not retry,
	// so every answer is Tollgate's first.
	videos := openai.NewVideoService(option.WithBaseURL(inst.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0),
		option.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	return &sdkEnv{inst: inst, admin: admin, key: key, videos: videos}
}

func (e *sdkEnv) balance(t *testing.T) (available, held string) {
	t.Helper()
	st, m, err := try(e.inst.URL, e.key, "GET", "/v1/balance", nil)
	if err != nil || st != 200 {
		t.Fatalf("balance: %d %v", st, err)
	}
	return m["available"].(string), m["held"].(string)
}

// TestOpenAISDK drives Tollgate with OpenAI's official Go SDK (openai-go
// v3.102.0), changed only in base URL and key: create as multipart and as
// JSON, poll, list with paging, download each variant, remix, edit,
// extend, delete; the credits held and charged follow.
func TestOpenAISDK(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it): the SDK test checks the rendered clips")
	}
	e := newSDKEnv(t)
	ctx := context.Background()

	// The account's own webhook endpoint, for its video events.
	type delivery struct {
		body   []byte
		header http.Header
	}
	got := make(chan delivery, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{b, r.Header.Clone()}
	}))
	defer hook.Close()
	st, ep, err := try(e.inst.URL, e.key, "POST", "/v1/webhook_endpoints", map[string]any{"url": hook.URL, "events": []string{"video.completed"}})
	if err != nil || st != 201 || ep["account_id"] != "ada" {
		t.Fatalf("an account's endpoint: %d %v %v", st, ep, err)
	}
	secret := ep["secret"].(string)
	if st, _, _ := try(e.inst.URL, e.key, "POST", "/v1/webhook_endpoints", map[string]any{"url": hook.URL, "events": []string{"ledger.verify_failed"}}); st != 422 {
		t.Errorf("an account's endpoint for the operator's events: got %d, want 422", st)
	}

	// Create (multipart, as the SDK sends it), with an Idempotency-Key.
	v, err := e.videos.New(ctx, openai.VideoNewParams{Prompt: "a red fox in the snow", Model: openai.VideoModelSora2, Seconds: openai.VideoSeconds4,
		Size: openai.VideoSize1280x720}, option.WithHeader("Idempotency-Key", "fox-1"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != openai.VideoStatusQueued || v.Seconds != "4" || v.Size != "1280x720" || v.Model != "sora-2" || !strings.HasPrefix(v.ID, "video_") {
		t.Fatalf("created %+v", v)
	}
	if _, held := e.balance(t); held != "0.4" {
		t.Errorf("held %s after create, want 0.4 (4 s of sora-2 at 0.1)", held)
	}
	// The same key and body: the same video, not a second one.
	again, err := e.videos.New(ctx, openai.VideoNewParams{Prompt: "a red fox in the snow", Model: openai.VideoModelSora2, Seconds: openai.VideoSeconds4,
		Size: openai.VideoSize1280x720}, option.WithHeader("Idempotency-Key", "fox-1"))
	if err != nil || again.ID != v.ID {
		t.Fatalf("replay: got %v %v, want video %s again", again, err, v.ID)
	}
	// The same key with another body: an error the SDK does not retry.
	_, err = e.videos.New(ctx, openai.VideoNewParams{Prompt: "a blue fox", Seconds: openai.VideoSeconds4}, option.WithHeader("Idempotency-Key", "fox-1"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 409 || apiErr.Code != "idempotency_mismatch" || apiErr.Response.Header.Get("X-Should-Retry") != "false" {
		t.Fatalf("key reused with another body: got %v, want 409 idempotency_mismatch with x-should-retry: false", err)
	}

	done, err := e.videos.PollStatus(ctx, v.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != openai.VideoStatusCompleted || done.Progress != 100 || done.CompletedAt == 0 || done.ExpiresAt == 0 {
		t.Fatalf("polled %+v", done)
	}
	if available, held := e.balance(t); held != "0" || available != "49.6" {
		t.Errorf("after completion: available %s held %s, want 49.6 and 0", available, held)
	}
	// The video.completed event, verified and read by the SDK.
	select {
	case d := <-got:
		hooks := webhooks.NewWebhookService(option.WithWebhookSecret(secret))
		ev, err := hooks.Unwrap(d.body, d.header)
		if err != nil {
			t.Fatalf("unwrap: %v (%s)", err, d.body)
		}
		if ev.Type != "video.completed" || ev.Data.ID != v.ID || ev.Object != "event" || ev.ID == "" {
			t.Errorf("event %s, want video.completed of %s", d.body, v.ID)
		}
		d.body[len(d.body)-2] ^= 1
		if _, err := hooks.Unwrap(d.body, d.header); err == nil {
			t.Error("a tampered event unwrapped")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no video.completed event delivered in 20 s")
	}

	// Download each variant.
	var fox []byte
	for variant, ct := range map[openai.VideoDownloadContentParamsVariant]string{"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"} {
		resp, err := e.videos.DownloadContent(ctx, v.ID, openai.VideoDownloadContentParams{Variant: variant})
		if err != nil {
			t.Fatalf("download %s: %v", variant, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.Header.Get("Content-Type") != ct || len(body) < 100 {
			t.Errorf("download %s: %s, %d bytes", variant, resp.Header.Get("Content-Type"), len(body))
		}
		if variant == "video" {
			checkClip(t, body, 4, "1280x720")
			fox = body
		}
	}

	// A character from the clip, read back, and shown in a new video
	// (characters through the request body: the SDK's create has no
	// field for them).
	ch, err := e.videos.NewCharacter(ctx, openai.VideoNewCharacterParams{Name: "Fox", Video: bytes.NewReader(fox)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ch.ID, "char_") || ch.Name != "Fox" || ch.CreatedAt == 0 {
		t.Fatalf("character %+v", ch)
	}
	if back, err := e.videos.GetCharacter(ctx, ch.ID); err != nil || back.ID != ch.ID || back.Name != "Fox" {
		t.Fatalf("get character: %+v %v", back, err)
	}
	if _, err := e.videos.GetCharacter(ctx, "char_none"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("an unknown character: %v, want 404", err)
	}
	cv, err := e.videos.New(ctx, openai.VideoNewParams{}, option.WithRequestBody("application/json",
		[]byte(`{"prompt":"the fox meets a hare","seconds":"4","size":"1280x720","characters":[{"id":"`+ch.ID+`"}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	if cdone, err := e.videos.PollStatus(ctx, cv.ID, 50); err != nil || cdone.Status != openai.VideoStatusCompleted {
		t.Fatalf("a video with a character: %+v %v", cdone, err)
	}

	// JSON, through WithRequestBody, with Tollgate's member.
	jv, err := e.videos.New(ctx, openai.VideoNewParams{}, option.WithRequestBody("application/json",
		[]byte(`{"prompt":"a lighthouse","model":"sora-2","seconds":"8","size":"720x1280","tollgate":{"policy":"fastest"}}`)))
	if err != nil {
		t.Fatal(err)
	}
	if jv.Seconds != "8" || jv.Size != "720x1280" {
		t.Errorf("JSON create: %+v", jv)
	}
	if _, err := e.videos.PollStatus(ctx, jv.ID, 50); err != nil {
		t.Fatal(err)
	}

	// Remix, edit and extend a completed video.
	remix, err := e.videos.Remix(ctx, v.ID, openai.VideoRemixParams{Prompt: "the fox, now at night"})
	if err != nil {
		t.Fatal(err)
	}
	if remix.RemixedFromVideoID != v.ID || remix.Seconds != "4" {
		t.Errorf("remix: %+v", remix)
	}
	edit, err := e.videos.Edit(ctx, openai.VideoEditParams{Prompt: "make it snow harder",
		Video: openai.VideoEditParamsVideoUnion{OfVideoEditsVideoVideoReferenceInputParam: &openai.VideoEditParamsVideoVideoReferenceInputParam{ID: v.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := e.videos.Extend(ctx, openai.VideoExtendParams{Prompt: "the fox runs on", Seconds: "16", // longer than sora-2 makes on its own
		Video: openai.VideoExtendParamsVideoUnion{OfVideoExtendsVideoVideoReferenceInputParam: &openai.VideoExtendParamsVideoVideoReferenceInputParam{ID: v.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if ext.Seconds != "20" {
		t.Errorf("extension: seconds %s, want the stitched total 20", ext.Seconds)
	}
	for _, id := range []string{remix.ID, edit.ID, ext.ID} {
		got, err := e.videos.PollStatus(ctx, id, 50)
		if err != nil || got.Status != openai.VideoStatusCompleted {
			t.Fatalf("video %s: %+v %v", id, got, err)
		}
	}
	resp, err := e.videos.DownloadContent(ctx, ext.ID, openai.VideoDownloadContentParams{})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	checkClip(t, body, 20, "1280x720")

	// List, one per page: the SDK pages on has_more and last_id.
	var seen []string
	iter := e.videos.ListAutoPaging(ctx, openai.VideoListParams{Limit: openai.Int(1)})
	for iter.Next() {
		seen = append(seen, iter.Current().ID)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{ext.ID, edit.ID, remix.ID, jv.ID, cv.ID, v.ID} // newest first
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("listed %v, want %v", seen, want)
	}

	// Delete: gone from gets, lists and downloads.
	del, err := e.videos.Delete(ctx, v.ID)
	if err != nil || !del.Deleted || del.ID != v.ID || del.Object != "video.deleted" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := e.videos.Get(ctx, v.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("get after delete: %v, want 404", err)
	}
	// An uploaded video, edited and extended: its size and length come
	// from the file.
	upEdit, err := e.videos.Edit(ctx, openai.VideoEditParams{Prompt: "make it snow harder",
		Video: openai.VideoEditParamsVideoUnion{OfFile: bytes.NewReader(fox)}})
	if err != nil {
		t.Fatal(err)
	}
	upExt, err := e.videos.Extend(ctx, openai.VideoExtendParams{Prompt: "it runs on", Seconds: openai.VideoSeconds4,
		Video: openai.VideoExtendParamsVideoUnion{OfFile: bytes.NewReader(fox)}})
	if err != nil {
		t.Fatal(err)
	}
	if upEdit.Seconds != "4" || upEdit.Size != "1280x720" || upExt.Seconds != "8" {
		t.Errorf("uploads: edit %s s at %s, extension %s s; want 4 at 1280x720 and 8", upEdit.Seconds, upEdit.Size, upExt.Seconds)
	}
	for _, id := range []string{upEdit.ID, upExt.ID} {
		if got, err := e.videos.PollStatus(ctx, id, 50); err != nil || got.Status != openai.VideoStatusCompleted {
			t.Fatalf("upload %s: %+v %v", id, got, err)
		}
	}
	if _, err := e.videos.Edit(ctx, openai.VideoEditParams{Prompt: "x", Video: openai.VideoEditParamsVideoUnion{OfFile: strings.NewReader("not a video")}}); !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "video" {
		t.Errorf("a text file as the video: %v, want 400 naming video", err)
	}
	// Every charge is what was held: 0.4 (the fox) + 0.4 (with the character) + 0.8 + 0.4 + 0.4 + 1.6 (the extension's added 16 s),
	// and 0.4 + 0.4 for the uploads.
	if available, held := e.balance(t); held != "0" || available != "45.2" {
		t.Errorf("in the end: available %s held %s, want 45.2 and 0", available, held)
	}
}

// checkClip checks an MP4's duration and size with ffprobe.
func checkClip(t *testing.T, mp4 []byte, seconds float64, size string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, mp4, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height:format=duration",
		"-of", "default=noprint_wrappers=1", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	s := string(out)
	w, h, _ := strings.Cut(size, "x")
	if !strings.Contains(s, "width="+w) || !strings.Contains(s, "height="+h) {
		t.Errorf("clip is not %s: %s", size, s)
	}
	var d float64
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(line, "duration="); ok {
			d, _ = strconv.ParseFloat(v, 64)
		}
	}
	if d < seconds-0.2 || d > seconds+0.2 {
		t.Errorf("clip lasts %.2f s, want %.0f", d, seconds)
	}
}

// TestCatalogReload: serve picks up a changed catalog file without a
// restart, and keeps the one in force when the new file is bad.
func TestCatalogReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "catalog.json")
	base, err := os.ReadFile("../../pricing/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, base, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newConfig()
	c.DataDir, c.Addr, c.VerifyEvery, c.Catalog, c.CatalogReload = dir, "127.0.0.1:0", 0, file, 20*time.Millisecond
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, _, err := start(context.Background(), c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := inst.close(log); err != nil {
			t.Error(err)
		}
	}()
	offers := func() int { return len(inst.videos.Router().Catalog().OfferList) }
	before := offers()
	// A bad file is refused; the catalog stays.
	if err := os.WriteFile(file, []byte(`{"models": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if offers() != before {
		t.Fatalf("a bad file changed the catalog")
	}
	more := strings.Replace(string(base), `"offers": [`, `"offers": [
    {"provider": "aggregator", "model": "sora-2", "upstream_model": "sora-2", "durations": [4, 8, 12], "sizes": ["720x1280", "1280x720"],
     "cost": [{"amount": 12, "currency": "usd", "per_seconds": 1}], "cost_as_of": "2026-12-01", "source": "the aggregator's price list"},`, 1)
	if err := os.WriteFile(file, []byte(more), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for offers() != before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("the catalog was not reloaded: %d offers, want %d", offers(), before+1)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitVideos polls the videos through url until each is completed or
// failed, and returns them.
func waitVideos(t *testing.T, url, key string, ids []string) []map[string]any {
	t.Helper()
	out := make([]map[string]any, len(ids))
	deadline := time.Now().Add(60 * time.Second)
	for i, id := range ids {
		for {
			st, m, err := try(url, key, "GET", "/v1/videos/"+id, nil)
			if err != nil || st != 200 {
				t.Fatalf("get %s: %d %v %v", id, st, m, err)
			}
			if s := m["status"]; s == "completed" || s == "failed" {
				out[i] = m
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("video %s is still %v", id, m["status"])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

// completedOnce checks a finished video: completed, charged what it held,
// made by one attempt.
func completedOnce(t *testing.T, v map[string]any) {
	t.Helper()
	tg := v["tollgate"].(map[string]any)
	credits := tg["credits"].(map[string]any)
	if v["status"] != "completed" || credits["charged"] != credits["held"] || len(tg["attempts"].([]any)) != 1 {
		t.Errorf("video %v: want completed once, charged what it held", v)
	}
}

// TestVideosSurviveRestart: serve stops with videos running at the local
// renderer and starts again on the same data; each video completes once,
// charged once.
func TestVideosSurviveRestart(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	c := newConfig()
	c.DataDir, c.Addr, c.VerifyEvery, c.AdminKey = t.TempDir(), "127.0.0.1:0", 0, testAdminKey
	c.LocalRenderTime, c.VideoPollEvery = 1500*time.Millisecond, 50*time.Millisecond
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	inst, _, err := start(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][]any{{"/v1/accounts", map[string]any{"id": "ada", "name": "Ada"}}, {"/v1/accounts/ada/grants", map[string]any{"credits": "20", "source": "promo"}}} {
		if st, m, err := try(inst.URL, testAdminKey, "POST", r[0].(string), r[1]); err != nil || st != 201 {
			t.Fatalf("%s: %d %v %v", r[0], st, m, err)
		}
	}
	var ids []string
	for i := range 4 {
		st, m, err := try(inst.URL, testAdminKey, "POST", "/v1/videos", map[string]any{"prompt": fmt.Sprintf("restart %d", i), "seconds": "4",
			"tollgate": map[string]any{"account_id": "ada"}})
		if err != nil || st != 200 {
			t.Fatalf("create: %d %v %v", st, m, err)
		}
		ids = append(ids, m["id"].(string))
	}
	// Stop once every video runs at the renderer.
	for _, id := range ids {
		for {
			_, m, _ := try(inst.URL, testAdminKey, "GET", "/v1/videos/"+id, nil)
			if m["status"] == "in_progress" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := inst.close(log); err != nil {
		t.Fatal(err)
	}
	again, _, err := start(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := again.close(log); err != nil {
			t.Error(err)
		}
	}()
	for _, v := range waitVideos(t, again.URL, testAdminKey, ids) {
		completedOnce(t, v)
	}
	if r, err := again.ledger.Verify(ctx); err != nil || len(r.Violations) > 0 {
		t.Errorf("verify: %v %v", r.Violations, err)
	}
}

// TestVideosTwoInstancesPostgres: two serves on one PostgreSQL database
// share the video jobs made through either: each is submitted to the
// upstream once and completed once.
func TestVideosTwoInstancesPostgres(t *testing.T) {
	t.Parallel()
	base := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping two instances on PostgreSQL")
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	_, dbURL := emptySchema(t, base, "tollgate_videos")
	up := openaitest.New(200*time.Millisecond, openaitest.Chaos{})
	defer up.Close()
	// The catalog's OpenAI offers, without their retirement: the fake
	// upstream speaks OpenAI's API.
	raw, err := os.ReadFile("../../pricing/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(raw), `"retires_at": "2026-09-24T00:00:00Z", `, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := t.TempDir() // the instances share their data directory: the videos' content
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	var insts []*instance
	for range 2 {
		c := newConfig()
		c.DataDir, c.Addr, c.VerifyEvery, c.AdminKey, c.DatabaseURL, c.Catalog = shared, "127.0.0.1:0", 0, testAdminKey, dbURL, file
		c.OpenAIKey, c.OpenAIBaseURL, c.VideoPollEvery = openaitest.Key, up.URLv1(), 50*time.Millisecond
		inst, _, err := start(ctx, c, log)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := inst.close(log); err != nil {
				t.Error(err)
			}
		}()
		insts = append(insts, inst)
	}
	a, b := insts[0], insts[1]
	if st, m, err := try(a.URL, testAdminKey, "POST", "/v1/accounts", map[string]any{"id": "ada", "name": "Ada"}); err != nil || st != 201 {
		t.Fatalf("account: %d %v %v", st, m, err)
	}
	if st, m, err := try(b.URL, testAdminKey, "POST", "/v1/accounts/ada/grants", map[string]any{"credits": "50", "source": "promo"}); err != nil || st != 201 {
		t.Fatalf("grant: %d %v %v", st, m, err)
	}
	var ids []string
	for i := range 12 {
		st, m, err := try(insts[i%2].URL, testAdminKey, "POST", "/v1/videos", map[string]any{"prompt": fmt.Sprintf("shared %d", i), "seconds": "4",
			"size": "1280x720", "tollgate": map[string]any{"account_id": "ada"}})
		if err != nil || st != 200 {
			t.Fatalf("create: %d %v %v", st, m, err)
		}
		ids = append(ids, m["id"].(string))
	}
	for i, v := range waitVideos(t, b.URL, testAdminKey, ids) {
		completedOnce(t, v)
		if n := up.Creates(fmt.Sprintf("shared %d", i)); n != 1 {
			t.Errorf("video %d was made %d times upstream", i, n)
		}
		if p := v["tollgate"].(map[string]any)["provider"]; p != "openai" {
			t.Errorf("video %d made by %v, want the upstream", i, p)
		}
	}
	if r, err := a.ledger.Verify(ctx); err != nil || len(r.Violations) > 0 {
		t.Errorf("verify: %v %v", r.Violations, err)
	}
}

// TestVideosSurviveKill9: serve is killed with SIGKILL while videos run at
// the local renderer, some of them being fetched and checked; a new serve
// on the same data finishes every one, each completed once and charged
// once, and verify is clean.
func TestVideosSurviveKill9(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	dir := t.TempDir()
	env := []string{"TOLLGATE_DATA_DIR=" + dir, "TOLLGATE_ADMIN_KEY=" + testAdminKey, "TOLLGATE_VERIFY_EVERY=0",
		"TOLLGATE_LOCAL_RENDER_TIME=300ms", "TOLLGATE_VIDEO_POLL_EVERY=50ms"}
	p := startServe(t, env...)
	for _, r := range [][]any{{"/v1/accounts", map[string]any{"id": "ada", "name": "Ada"}}, {"/v1/accounts/ada/grants", map[string]any{"credits": "50", "source": "promo"}}} {
		if st, m, err := try(p.url, testAdminKey, "POST", r[0].(string), r[1]); err != nil || st != 201 {
			t.Fatalf("%s: %d %v %v", r[0], st, m, err)
		}
	}
	var ids []string
	for i := range 10 {
		st, m, err := try(p.url, testAdminKey, "POST", "/v1/videos", map[string]any{"prompt": fmt.Sprintf("kill %d", i), "seconds": "8",
			"tollgate": map[string]any{"account_id": "ada"}})
		if err != nil || st != 200 {
			t.Fatalf("create: %d %v %v", st, m, err)
		}
		ids = append(ids, m["id"].(string))
		time.Sleep(60 * time.Millisecond) // spread over the steps: some queued, some rendering, some fetched
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait() // killed: its exit status says so
	again := startServe(t, env...)
	defer again.stop(t)
	completed := 0
	for _, v := range waitVideos(t, again.url, testAdminKey, ids) {
		completedOnce(t, v)
		completed++
	}
	// Every charge was what was held, once: 10 videos of 8 s of sora-2 at 0.1.
	st, b, err := try(again.url, testAdminKey, "GET", "/v1/accounts/ada/balance", nil)
	if err != nil || st != 200 || b["held"] != "0" || b["available"] != "72" { // 50 promo + 30 allowance - 8
		t.Errorf("balance after the kill: %d %v %v; want nothing held and 72 available", st, b, err)
	}
	t.Logf("%d videos, killed mid-way, all completed once after the restart", completed)
}

// TestUpstreamWebhooks: an upstream that sends signed webhooks has its
// videos finished as soon as they end, though Tollgate would poll them
// only every hour; a webhook whose signature does not verify is refused.
func TestUpstreamWebhooks(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	up := openaitest.New(200*time.Millisecond, openaitest.Chaos{})
	defer up.Close()
	raw, err := os.ReadFile("../../pricing/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(raw), `"retires_at": "2026-09-24T00:00:00Z", `, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := newConfig()
	c.DataDir, c.Addr, c.VerifyEvery, c.AdminKey, c.Catalog = t.TempDir(), "127.0.0.1:0", 0, testAdminKey, file
	c.OpenAIKey, c.OpenAIBaseURL, c.OpenAIWebhookSecret, c.VideoPollEvery = openaitest.Key, up.URLv1(), secret, time.Hour
	inst, _, err := start(context.Background(), c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := inst.close(log); err != nil {
			t.Error(err)
		}
	}()
	hook := inst.URL + "/v1/webhooks/providers/openai"
	up.Notify(hook, secret)
	for _, r := range [][]any{{"/v1/accounts", map[string]any{"id": "ada", "name": "Ada"}}, {"/v1/accounts/ada/grants", map[string]any{"credits": "50", "source": "promo"}}} {
		if st, m, err := try(inst.URL, testAdminKey, "POST", r[0].(string), r[1]); err != nil || st != 201 {
			t.Fatalf("%s: %d %v %v", r[0], st, m, err)
		}
	}
	var ids []string
	for i := range 3 {
		st, m, err := try(inst.URL, testAdminKey, "POST", "/v1/videos", map[string]any{"prompt": fmt.Sprintf("hooked %d", i), "seconds": "4",
			"size": "1280x720", "tollgate": map[string]any{"account_id": "ada"}})
		if err != nil || st != 200 {
			t.Fatalf("create: %d %v %v", st, m, err)
		}
		ids = append(ids, m["id"].(string))
	}
	for _, v := range waitVideos(t, inst.URL, testAdminKey, ids) {
		completedOnce(t, v)
	}
	if n := up.HooksSent(); n != 3 {
		t.Errorf("%d webhooks accepted, want 3", n)
	}
	// A webhook that does not verify is refused.
	body := `{"id":"evt_x","object":"event","type":"video.completed","data":{"id":"video_up0001"}}`
	req, _ := http.NewRequest(http.MethodPost, hook, strings.NewReader(body))
	req.Header.Set("Webhook-Id", "evt_x")
	req.Header.Set("Webhook-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString([]byte("forged")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("a forged webhook: %d, want 400", resp.StatusCode)
	}
}
