package httpapi

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/provider/local"
	"tollgate/store/record"
)

// TestCharacters: a character is made from an uploaded clip (here by the
// local renderer, standing in for a provider), belongs to its account, and
// a video that names it is made where it is kept; bad input is a 400
// naming the parameter and changes nothing.
func TestCharacters(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "a", "free", "UTC")
		e.createAccount(t, "b", "free", "UTC")
		keyA, keyB := e.createKey(t, "a"), e.createKey(t, "b")
		newCharacter := func(key string, fields [][2]string, files map[string][]byte, header map[string]string) response {
			body, ct := form(t, fields, files)
			h := map[string]string{"Content-Type": ct}
			for k, v := range header {
				h[k] = v
			}
			return e.do(t, request{Method: "POST", Path: "/v1/videos/characters", Key: key, Body: body, Header: h})
		}
		clip := map[string][]byte{"video": local.Clip}

		var ch characterView
		r := newCharacter(keyA, [][2]string{{"name", "Captain Lux"}}, clip, map[string]string{"Idempotency-Key": "lux"})
		if r.Status != 200 {
			t.Fatalf("create a character: %s", r)
		}
		if err := json.Unmarshal(r.Body, &ch); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ch.ID, "char_") || ch.Name != "Captain Lux" || ch.Object != "video.character" || ch.Tollgate.AccountID != "a" ||
			ch.Tollgate.Provider != "local" || !ch.Tollgate.Demo || ch.CreatedAt == 0 {
			t.Fatalf("created %+v", ch)
		}
		// The same request again: the same character, not a second one.
		again := newCharacter(keyA, [][2]string{{"name", "Captain Lux"}}, clip, map[string]string{"Idempotency-Key": "lux"})
		if !strings.Contains(string(again.Body), ch.ID) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay: %s", again)
		}
		var got characterView
		e.call(t, request{Method: "GET", Path: "/v1/videos/characters/" + ch.ID, Key: keyA}, 200, &got)
		if got != ch {
			t.Errorf("get %+v, want %+v", got, ch)
		}
		e.call(t, request{Method: "GET", Path: "/v1/videos/characters/" + ch.ID, Key: adminKey}, 200, nil)
		for _, p := range []string{"/v1/videos/characters/" + ch.ID, "/v1/videos/characters/char_none", "/v1/videos/characters/content"} {
			key := keyA
			if strings.HasSuffix(p, ch.ID) {
				key = keyB // another account's
			}
			openaiErrorOf(t, e.do(t, request{Method: "GET", Path: p, Key: key}), 404, tollgate.CodeNotFound, "character_id")
		}
		if r := e.do(t, request{Method: "DELETE", Path: "/v1/videos/characters/" + ch.ID, Key: keyA}); r.Status != 405 || r.Header.Get("Allow") != "GET" {
			t.Errorf("DELETE a character: %d, Allow %q; want 405, GET", r.Status, r.Header.Get("Allow"))
		}

		// Bad requests: a 400 naming the parameter; nothing is made.
		before := e.world(t)
		for _, tc := range []struct {
			name   string
			key    string
			fields [][2]string
			files  map[string][]byte
			code   tollgate.Code
			param  string
		}{
			{"no clip", keyA, [][2]string{{"name", "Mira"}}, nil, tollgate.CodeInvalidField, "video"},
			{"no name", keyA, nil, clip, tollgate.CodeInvalidField, "name"},
			{"a name too long", keyA, [][2]string{{"name", strings.Repeat("m", tollgate.MaxCharacterNameBytes+1)}}, clip, tollgate.CodeInvalidField, "name"},
			{"not a video", keyA, [][2]string{{"name", "Mira"}}, map[string][]byte{"video": []byte("just some text, not a clip")}, tollgate.CodeInvalidField, "video"},
			{"another file", keyA, [][2]string{{"name", "Mira"}}, map[string][]byte{"clip": local.Clip}, tollgate.CodeUnknownField, "clip"},
			{"unknown provider", keyA, [][2]string{{"name", "Mira"}, {"tollgate", `{"provider":"runway"}`}}, clip, tollgate.CodeInvalidField, "tollgate.provider"},
			{"unknown option", keyA, [][2]string{{"name", "Mira"}, {"tollgate", `{"quote_id":"q"}`}}, clip, tollgate.CodeUnknownField, "tollgate.quote_id"},
			{"admin without account", adminKey, [][2]string{{"name", "Mira"}}, clip, tollgate.CodeInvalidField, "tollgate.account_id"},
			{"another account", keyA, [][2]string{{"name", "Mira"}, {"tollgate", `{"account_id":"b"}`}}, clip, tollgate.CodeNotFound, "tollgate.account_id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status := 400
				if tc.code == tollgate.CodeNotFound {
					status = 404
				}
				openaiErrorOf(t, newCharacter(tc.key, tc.fields, tc.files, nil), status, tc.code, tc.param)
			})
		}
		// Videos that name characters they cannot show.
		for _, tc := range []struct {
			name, key, body, param string
		}{
			{"unknown", keyA, `{"prompt":"a duel","characters":[{"id":"char_none"}]}`, "characters"},
			{"named twice", keyA, `{"prompt":"a duel","characters":[{"id":"` + ch.ID + `"},{"id":"` + ch.ID + `"}]}`, "characters"},
			{"too many", keyA, `{"prompt":"a duel","characters":[` + strings.Repeat(`{"id":"c"},`, tollgate.MaxCharactersPerVideo) + `{"id":"c"}]}`, "characters"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				openaiErrorOf(t, e.do(t, request{Method: "POST", Path: "/v1/videos", Key: tc.key, Body: tc.body}), 400, tollgate.CodeInvalidField, tc.param)
			})
		}
		// Another account's, owner_only: its owner has not consented.
		openaiErrorOf(t, e.do(t, request{Method: "POST", Path: "/v1/videos", Key: keyB, Body: `{"prompt":"a duel","characters":[{"id":"` + ch.ID + `"}]}`}),
			403, tollgate.CodeCameoNotPermitted, "cameos")
		e.unchanged(t, before)

		// An account keeps at most MaxCharactersPerAccount: the next is a
		// conflict, and the provider is not asked.
		if err := e.l.WriteRecords(e.ctx, func(tx record.Tx) error {
			for i := range tollgate.MaxCharactersPerAccount {
				if err := tx.CameoInsert(e.ctx, tollgate.Cameo{ID: fmt.Sprintf("char_b%03d", i), AccountID: "b", Name: "n", Handle: fmt.Sprintf("n_%03d", i),
					Provider: "local", ProviderID: "local_char_bg", CreatedAt: testStart}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		openaiErrorOf(t, newCharacter(keyB, [][2]string{{"name", "One too many"}}, clip, nil), 400, tollgate.CodeConflict, "")

		// A video that shows the character: made by the provider keeping it.
		var v videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos", Key: keyA,
			Body: `{"prompt":"a duel at dawn","seconds":"4","size":"1280x720","characters":[{"id":"` + ch.ID + `"}]}`}, 200, &v)
		if !slices.Equal(v.Tollgate.Characters, []string{ch.ID}) {
			t.Fatalf("the video's characters: %v, want [%s]", v.Tollgate.Characters, ch.ID)
		}
		// In a form, as characters[][id].
		body, ct := form(t, [][2]string{{"prompt", "a duel at dusk"}, {"characters[][id]", ch.ID}}, nil)
		var fv videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos", Key: keyA, Body: body, Header: map[string]string{"Content-Type": ct}}, 200, &fv)
		if !slices.Equal(fv.Tollgate.Characters, []string{ch.ID}) {
			t.Errorf("the form video's characters: %v", fv.Tollgate.Characters)
		}
		if _, err := exec.LookPath("ffmpeg"); err != nil {
			return // the render needs ffmpeg (.ci/run installs it)
		}
		deadline := time.Now().Add(20 * time.Second)
		for v.Status != "completed" {
			if time.Now().After(deadline) || v.Status == "failed" {
				t.Fatalf("video %+v did not complete", v)
			}
			e.call(t, request{Method: "GET", Path: "/v1/videos/" + v.ID, Key: keyA}, 200, &v)
			e.clock.Advance(250 * time.Millisecond)
			time.Sleep(10 * time.Millisecond)
		}
		if v.Tollgate.Provider == nil || *v.Tollgate.Provider != "local" || v.Tollgate.Credits.Charged != v.Tollgate.Credits.Held {
			t.Errorf("completed %+v", v.Tollgate)
		}
	})
}
