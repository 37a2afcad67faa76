package gateway_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"tollgate"
	"tollgate/cameo"
	"tollgate/gateway"
	"tollgate/ledger"
	"tollgate/pricing"
	"tollgate/provider/local"
	"tollgate/router"
	"tollgate/store"
	"tollgate/store/record"
)

// keeper is a fake provider that keeps characters.
type keeper struct {
	*fake
	cmu   sync.Mutex
	made  []string // names, in order
	fails []error  // answers to successive NewCharacter calls: nil makes one
}

func (k *keeper) NewCharacter(_ context.Context, name string, _ []byte) (string, error) {
	k.cmu.Lock()
	defer k.cmu.Unlock()
	if len(k.fails) > 0 {
		err := k.fails[0]
		k.fails = k.fails[1:]
		if err != nil {
			return "", err
		}
	}
	k.made = append(k.made, name)
	return "up_" + name, nil
}

// TestCharactersGoToTheirProvider: a character is made at the provider
// that keeps characters, once per request whatever the retries, and a
// video that shows it is made there even when another is cheaper; a video
// whose constraints leave that provider out cannot be made.
func TestCharactersGoToTheirProvider(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		done := router.Status{State: router.Completed, Progress: 100}
		cheap := &fake{name: "cheap", status: done}
		dear := &keeper{fake: &fake{name: "dear", status: done}, fails: []error{&router.Error{Kind: router.Retryable, Code: "overloaded", Message: "try later"}}}
		c := twoProviders(t)
		c.OfferList[1].Features = []string{pricing.FeatureCharacter}
		e := newEnv(t, open, envOptions{providers: map[string]router.Provider{"cheap": cheap, "dear": dear}, catalog: c})
		count := func() int {
			var n int
			if err := e.l.ReadRecords(e.ctx, func(tx record.Tx) error {
				var err error
				n, err = tx.CameoCount(e.ctx, "acme")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return n
		}
		idem := &ledger.Idempotency{Scope: "acme", Key: "lux-1", Hash: []byte("the same request"),
			Render: func(any) (int, []byte) { return 200, []byte(`{"id":"the first answer"}`) }}
		p := gateway.CharacterParams{AccountID: "acme", Name: "Lux", Video: local.Clip, Idempotency: idem}

		// The provider is overloaded: unavailable, nothing stored.
		if _, err := e.gw.NewCharacter(e.ctx, p); tollgate.ErrorCode(err) != tollgate.CodeUnavailable || count() != 0 {
			t.Fatalf("an overloaded provider: %v, %d stored; want unavailable and none", err, count())
		}
		ch, err := e.gw.NewCharacter(e.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Provider != "dear" || ch.ProviderID != "up_Lux" || ch.Demo || count() != 1 {
			t.Fatalf("character %+v (%d stored)", ch, count())
		}
		// The same request again: the first answer, and no second character upstream.
		var rep *ledger.Replayed
		if _, err := e.gw.NewCharacter(e.ctx, p); !errors.As(err, &rep) || len(dear.made) != 1 || count() != 1 {
			t.Fatalf("a repeat: %v, made %v, %d stored; want the first answer replayed", err, dear.made, count())
		}
		if _, err := e.gw.NewCharacter(e.ctx, gateway.CharacterParams{AccountID: "acme", Name: "Mira", Video: local.Clip, Provider: "cheap"}); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
			t.Errorf("a character at a provider that keeps none: %v, want invalid_field", err)
		}

		v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a duel", Seconds: 4, Size: "1280x720", Characters: []string{ch.ID}})
		if err != nil {
			t.Fatal(err)
		}
		got := e.wait(v.ID)
		if got.Status != tollgate.VideoCompleted || got.Provider != "dear" || len(cheap.started) != 0 || len(dear.started) != 1 ||
			!slices.Equal(dear.started[0].Characters, []string{"up_Lux"}) || !slices.Equal(got.Characters, []string{ch.ID}) {
			t.Errorf("made by %s with %v; dear started %+v, cheap %d", got.Provider, got.Characters, dear.started, len(cheap.started))
		}
		// Without the provider that keeps it: nothing can make it, nothing is held.
		_, err = e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a duel", Seconds: 4, Size: "1280x720", Characters: []string{ch.ID},
			Constraints: tollgate.VideoConstraints{Providers: []string{"cheap"}}})
		if tollgate.ErrorCode(err) != tollgate.CodeModelUnavailable {
			t.Errorf("a character with only the cheap provider allowed: %v, want model_unavailable", err)
		}
		// Another account's character (owner_only) is not permitted.
		if _, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "other", Prompt: "a duel", Characters: []string{ch.ID}}); tollgate.ErrorCode(err) != tollgate.CodeCameoNotPermitted {
			t.Errorf("another account's character: %v, want cameo_not_permitted", err)
		}
	})
}

// TestCameoReference: a cameo's reference image is the input of a new
// video that shows it, and a likeness keeps the video away from the
// provider named openai unless the operator allows it.
func TestCameoReference(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, envOptions{local: local.New(0, tollgate.SystemClock{})})
		ref, err := e.gw.SaveReference(local.Thumbnail, ".webp")
		if err != nil {
			t.Fatal(err)
		}
		me, err := e.gw.Cameos().Create(e.ctx, cameo.Params{AccountID: "acme", Kind: tollgate.CameoLikeness, Name: "Ada", Reference: ref})
		if err != nil {
			t.Fatal(err)
		}
		// Waiting for verification: not even its owner may use it yet.
		if _, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "@ada waves", Seconds: 4, Size: "1280x720"}); tollgate.ErrorCode(err) != tollgate.CodeCameoNotPermitted {
			t.Fatalf("a likeness waiting for verification: %v, want cameo_not_permitted", err)
		}
		if _, err := e.gw.Cameos().Verify(e.ctx, me.ID); err != nil {
			t.Fatal(err)
		}
		v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "@ada waves", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		if v.Input == "" || !slices.Contains(v.Constraints.ExcludeProviders, "openai") || !slices.Equal(v.Characters, []string{me.ID}) || len(v.Fees) != 0 {
			t.Errorf("video %+v: want the reference as input, openai excluded, the likeness shown and no fee (its owner's)", v)
		}
		if got := e.wait(v.ID); got.Status != tollgate.VideoCompleted {
			t.Errorf("video ended %s: %s", got.Status, got.ErrorMessage)
		}
	})
}
