package gateway_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/gateway"
	"tollgate/router"
	"tollgate/store"
)

// notifier is a fake provider that sends notifications: a header says
// whether one verifies, the body is the job it is about.
type notifier struct {
	*fake
	smu sync.Mutex
	st  router.Status
}

func (n *notifier) Status(context.Context, string) (router.Status, error) {
	n.smu.Lock()
	defer n.smu.Unlock()
	return n.st, nil
}

func (n *notifier) set(st router.Status) {
	n.smu.Lock()
	defer n.smu.Unlock()
	n.st = st
}

func (n *notifier) Notification(cb router.Callback) (string, bool, error) {
	h, body := cb.Header, cb.Body
	if h.Get("X-Signed") != "yes" {
		return "", false, router.ErrBadNotification
	}
	return string(body), len(body) > 0, nil
}

// TestNotifyPollsAtOnce: a verified notification has its video polled at
// once, not at its next poll an hour away; one that does not verify is
// refused, one about no waiting job ignored, and nothing in it is believed
// but the job's id.
func TestNotifyPollsAtOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		up := &notifier{fake: &fake{name: "up"}, st: router.Status{State: router.Running, Progress: 10}}
		c := twoProviders(t)
		c.OfferList = c.OfferList[:1]
		c.OfferList[0].Provider = "up"
		e := newEnv(t, open, envOptions{providers: map[string]router.Provider{"up": up}, catalog: c, pollEvery: time.Hour})
		v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		var running tollgate.Video
		for deadline := time.Now().Add(10 * time.Second); running.ProviderJob == ""; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the video was not submitted")
			}
			if running, err = e.gw.Get(e.ctx, v.ID, "acme"); err != nil {
				t.Fatal(err)
			}
		}
		signed := http.Header{"X-Signed": {"yes"}}
		if _, err := e.gw.Notify(e.ctx, "up", http.Header{}, nil, []byte(running.ProviderJob)); tollgate.ErrorCode(err) != tollgate.CodeInvalidSignature {
			t.Errorf("an unsigned notification: %v, want invalid_signature", err)
		}
		if _, err := e.gw.Notify(e.ctx, "nobody", signed, nil, []byte(running.ProviderJob)); tollgate.ErrorCode(err) != tollgate.CodeNotFound {
			t.Errorf("a notification for no provider: %v, want not_found", err)
		}
		if did, err := e.gw.Notify(e.ctx, "up", signed, nil, []byte("job_unknown")); err != nil || did != gateway.NotifiedIgnored {
			t.Errorf("a notification about no job: %v %v, want ignored", did, err)
		}
		// The provider says it is done; the notification makes Tollgate look now.
		up.set(router.Status{State: router.Completed, Progress: 100})
		time.Sleep(300 * time.Millisecond)
		if still, err := e.gw.Get(e.ctx, v.ID, "acme"); err != nil || still.Status.Final() {
			t.Fatalf("polled before its hour without a notification: %+v %v", still, err)
		}
		if did, err := e.gw.Notify(e.ctx, "up", signed, nil, []byte(running.ProviderJob)); err != nil || did != gateway.NotifiedPolled {
			t.Fatalf("notified: %v %v, want polled", did, err)
		}
		got := e.waitFor(v.ID, 15*time.Second)
		if got.Status != tollgate.VideoCompleted || got.Charged != got.Held {
			t.Errorf("after the notification: %+v", got)
		}
	})
}
