package gateway_test

import (
	"context"
	"testing"
	"time"

	"tollgate"
	"tollgate/gateway"
	"tollgate/router"
	"tollgate/store"
)

// thief reconciles every lost submit to one job: another video's, as a
// heuristic match on an identical request could.
type thief struct {
	*fake
	job string
}

func (t *thief) Reconcile(context.Context, router.Job) (string, bool, error) { return t.job, true, nil }

// TestReconcileRefusesAnotherVideosJob: a lookup that finds a job already
// another video's does not attach it (the user would be charged for, and
// given, someone else's video): the lost submit stays unknown, and the
// job fails uncharged.
func TestReconcileRefusesAnotherVideosJob(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		done := router.Status{State: router.Completed, Progress: 100}
		lost := &router.Error{Kind: router.Unknown, Code: "timeout", Message: "the answer was lost"}
		th := &thief{fake: &fake{name: "cheap", status: done, submits: []error{nil, lost}}}
		e := newEnv(t, open, envOptions{providers: map[string]router.Provider{"cheap": th}, catalog: twoProviders(t), retryBase: 10 * time.Millisecond})
		first, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		one := e.wait(first.ID)
		th.mu.Lock()
		th.job = one.ProviderJob
		th.mu.Unlock()
		second, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		two := e.wait(second.ID)
		if one.Status != tollgate.VideoCompleted || two.Status != tollgate.VideoFailed || two.ErrorCode != "provider_outcome_unknown" || two.Charged != 0 ||
			two.ProviderJob == one.ProviderJob {
			t.Errorf("first %s (%s), second %s %s charged %s job %q; want the second failed, uncharged, without the first's job",
				one.Status, one.ProviderJob, two.Status, two.ErrorCode, two.Charged, two.ProviderJob)
		}
	})
}
