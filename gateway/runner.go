package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"tollgate"
	"tollgate/router"
	"tollgate/store/record"
)

// Attempt outcomes.
const (
	outcomeSubmitting = "submitting" // recorded before the submit is sent
	outcomeRunning    = "running"
	outcomeCompleted  = "completed"
	outcomeFailed     = "failed"
	outcomeRefused    = "refused"
	outcomeUnknown    = "unknown"
	outcomeCancelled  = "cancelled"
)

// Retries of one call before the provider counts as failed for the job.
// A download is tried hardest: the provider has made, and will bill, the
// video.
const (
	maxRetries    = 3
	maxReconciles = 6
	maxFetches    = 8
)

// stepExpire deletes a completed video's content once it expires.
const stepExpire tollgate.VideoStep = "expire"

// stepReconcile looks for an attempt whose submit's answer was lost.
const stepReconcile tollgate.VideoStep = "reconcile"

// Start runs the job runner until ctx ends or Stop is called.
func (s *Service) Start(ctx context.Context) error {
	if err := os.MkdirAll(s.c.Dir, 0o750); err != nil {
		return fmt.Errorf("video directory: %w", err)
	}
	if s.c.SoleRunner {
		if err := s.reclaim(ctx); err != nil {
			return fmt.Errorf("take up the jobs a stopped process left: %w", err)
		}
	}
	s.loop.Start(ctx, s.run)
	return nil
}

// reclaim makes due now the steps claimed by a process that no longer
// runs: with one runner, any lease still running at start is its.
func (s *Service) reclaim(ctx context.Context) error {
	now := s.c.Clock.Now()
	var leased []tollgate.Video
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		leased, err = tx.VideosDue(ctx, now.Add(s.c.Lease), 100_000)
		return err
	})
	if err != nil {
		return err
	}
	n := 0
	for _, v := range leased {
		if v.NextAt == nil || !v.NextAt.After(now) || v.Step == stepExpire {
			continue
		}
		v.NextAt = &now
		if err := s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error { return tx.VideoUpdate(ctx, v) }); err != nil && !errors.Is(err, tollgate.ErrConflict) {
			return err
		}
		n++
	}
	if n > 0 {
		s.c.Log.Info("video runner: took up the jobs a stopped process had claimed", "jobs", n)
	}
	return nil
}

// Stop stops the runner and waits for the steps running to end. Safe to
// call twice.
func (s *Service) Stop() {
	s.loop.Stop()
	s.wg.Wait()
}

// Wake makes the runner look for due jobs now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) run(ctx context.Context) {
	tick := time.NewTicker(max(s.c.PollEvery/4, 20*time.Millisecond))
	defer tick.Stop()
	for {
		if err := s.RunDue(ctx); err != nil && ctx.Err() == nil {
			s.c.Log.Warn("video runner: looking for due jobs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// RunDue claims the jobs due now, as many as there are free workers, and
// runs a step of each in the background.
func (s *Service) RunDue(ctx context.Context) error {
	free := cap(s.sem) - len(s.sem)
	if free == 0 {
		return nil
	}
	var due []tollgate.Video
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		due, err = tx.VideosDue(ctx, s.c.Clock.Now(), free)
		return err
	})
	if err != nil {
		return err
	}
	for _, v := range due {
		claimed, ok, err := s.claim(ctx, v)
		if err != nil {
			return err
		}
		if !ok {
			continue // another instance has it
		}
		s.sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-s.sem; s.wg.Done() }()
			// A step outlives the request that woke it, not the service.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.c.Lease)
			defer cancel()
			s.step(sctx, claimed)
		}()
	}
	return nil
}

// claim moves v's next look to the end of a lease, if no one else has
// since it was read: only the claimer runs its step.
func (s *Service) claim(ctx context.Context, v tollgate.Video) (tollgate.Video, bool, error) {
	until := s.c.Clock.Now().Add(s.c.Lease)
	v.NextAt = &until
	err := s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error { return tx.VideoUpdate(ctx, v) })
	if errors.Is(err, tollgate.ErrConflict) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	v.Version++
	return v, true, nil
}

// step runs v's next step and writes what came of it.
func (s *Service) step(ctx context.Context, v tollgate.Video) {
	now := s.c.Clock.Now()
	var err error
	switch {
	case v.Step == stepExpire:
		err = s.expire(ctx, v)
	case !v.Status.Final() && now.Sub(v.CreatedAt) > s.c.Deadline && v.Step != tollgate.StepFetch:
		if cerr := s.cancelUpstream(ctx, v); cerr != nil {
			s.c.Log.Warn("video runner: a job past its deadline could not be cancelled at its provider", "video", v.ID, "err", cerr)
		}
		err = s.giveUp(ctx, v, "timeout", fmt.Sprintf("the video did not finish within %s", s.c.Deadline))
	case v.Step == tollgate.StepRoute:
		err = s.route(ctx, v)
	case v.Step == stepReconcile:
		err = s.reconcile(ctx, v)
	case v.Step == tollgate.StepPoll:
		err = s.poll(ctx, v)
	case v.Step == tollgate.StepFetch:
		err = s.fetch(ctx, v)
	default:
		err = fmt.Errorf("unknown step %q", v.Step)
	}
	if err != nil && !errors.Is(err, tollgate.ErrConflict) {
		s.c.Log.Error("video runner: a step failed; it is tried again when its lease ends", "video", v.ID, "step", v.Step, "err", err)
	}
}

// save writes v, at the version it was claimed at, due again after wait.
func (s *Service) save(ctx context.Context, v tollgate.Video, wait time.Duration) error {
	if wait >= 0 {
		next := s.c.Clock.Now().Add(wait)
		v.NextAt = &next
	}
	err := s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error { return tx.VideoUpdate(ctx, v) })
	if err == nil && wait == 0 {
		s.Wake()
	}
	return err
}

// route chooses a provider and submits v to it. The attempt is written
// before the submit is sent: a crash in between leaves an attempt
// "submitting", which is reconciled, never sent again.
func (s *Service) route(ctx context.Context, v tollgate.Video) error {
	p := CreateParams{Model: v.Model, Policy: v.Policy, Seconds: v.Seconds, Size: v.Size, Kind: v.Kind, Constraints: v.Constraints,
		inputSeconds: v.InputSeconds, Characters: v.Characters, image: v.Kind == tollgate.VideoCreate && v.Input != ""}
	var characters []string // their ids at the provider that keeps them
	if len(v.Characters) > 0 {
		var err error
		if p.only, characters, err = s.characters(ctx, v.Characters); err != nil {
			if tollgate.ErrorCode(err) == tollgate.CodeInvalidField {
				return s.giveUp(ctx, v, "invalid_character", err.Error())
			}
			return err
		}
		p.kept = p.only != ""
	}
	if v.SourceID != "" {
		src, err := s.read(ctx, v.SourceID)
		if err != nil {
			return err
		}
		p.only = src.Provider
	}
	if v.Kind == tollgate.VideoExtend {
		_, base, err := s.base(ctx, v)
		if err != nil {
			return err
		}
		p.Seconds = v.Seconds - base
	}
	cands, err := s.candidates(ctx, &p, v.Held-feesTotal(v.Fees), s.spent(v))
	if tollgate.ErrorCode(err) == tollgate.CodeModelUnavailable && s.waiting(ctx, &p, v) {
		// Its providers' breakers are open: it waits for them, within its
		// deadline, rather than fail.
		return s.save(ctx, v, s.c.PollEvery)
	}
	if err != nil {
		if tollgate.ErrorCode(err) == tollgate.CodeModelUnavailable {
			return s.giveUp(ctx, v, "no_provider", err.Error())
		}
		return err
	}
	c := cands[0]
	if p.fromFrame && v.Input == "" {
		if err := s.lastFrame(ctx, &v); err != nil {
			return s.giveUp(ctx, v, "invalid_source", fmt.Sprintf("the source's last frame could not be taken: %v", err))
		}
	}
	v.FromFrame = p.fromFrame
	now := s.c.Clock.Now()
	v.Attempts = append(v.Attempts, tollgate.VideoAttempt{Provider: c.Offer.Provider, ProviderModel: c.Offer.UpstreamModel, StartedAt: now,
		Outcome: outcomeSubmitting, Cost: c.Cost, Seconds: c.Seconds})
	v.Provider, v.ProviderModel, v.ProviderJob, v.Cost, v.Demo = c.Offer.Provider, c.Offer.UpstreamModel, "", c.Cost, c.Demo
	v.Step = stepReconcile // if the submit's outcome is never written
	if err := s.save(ctx, v, s.c.Lease); err != nil {
		return err
	}
	v.Version++
	job := s.job(ctx, v, c.Seconds, now)
	job.Characters = characters
	id, err := c.Provider.Submit(ctx, job)
	a := &v.Attempts[len(v.Attempts)-1]
	if err == nil {
		s.c.Router.Succeeded(c.Offer.Provider)
		return s.started(ctx, v, id)
	}
	pe := router.Classify(err)
	a.Error = pe.Error()
	s.c.Metrics.ProviderError(c.Offer.Provider, "submit", pe.Kind.String())
	switch pe.Kind {
	case router.Unknown:
		a.Outcome = outcomeUnknown
		s.c.Router.Failed(c.Offer.Provider)
		v.Step = stepReconcile
		return s.save(ctx, v, s.c.PollEvery)
	case router.Refused:
		a.Outcome, a.Cost = outcomeRefused, tollgate.Money{}
		if s.c.RetryRefused {
			a.Final = true // this provider is spent; the next may make it
			v.Step = tollgate.StepRoute
			return s.save(ctx, v, 0)
		}
		return s.giveUp(ctx, v, string(tollgate.CodeModerationBlocked), pe.Message)
	case router.Terminal:
		a.Outcome, a.Cost, a.Final = outcomeFailed, tollgate.Money{}, true
		v.Step = tollgate.StepRoute // the next candidate, this provider left out
		return s.save(ctx, v, 0)
	}
	// Retryable: nothing was started.
	a.Outcome, a.Cost = outcomeFailed, tollgate.Money{}
	s.c.Router.Failed(c.Offer.Provider)
	v.Step = tollgate.StepRoute
	return s.save(ctx, v, s.backoff(s.retries(v, c.Offer.Provider), pe.RetryAfter))
}

// waiting reports whether v has candidates once providers whose breaker
// is open count: then it waits for them.
func (s *Service) waiting(ctx context.Context, p *CreateParams, v tollgate.Video) bool {
	req := s.routeRequest(p.Model, p.Policy, p.Seconds, p.Size, p.Kind, p.Constraints, v.Held)
	req.ExcludeProviders, req.AnyHealth, req.Only = append(req.ExcludeProviders, s.spent(v)...), true, p.only
	cands, err := s.c.Router.Candidates(ctx, req)
	return err == nil && len(cands) > 0
}

// spent lists the providers v may not be sent to again: those that
// failed it for good, and those retried as often as allowed.
func (s *Service) spent(v tollgate.Video) []string {
	var out []string
	for _, a := range v.Attempts {
		if slices.Contains(out, a.Provider) {
			continue
		}
		if a.Final || a.Outcome == outcomeRefused || s.retries(v, a.Provider) >= maxRetries {
			out = append(out, a.Provider)
		}
	}
	return out
}

// retries counts v's failed attempts at provider.
func (s *Service) retries(v tollgate.Video, provider string) int {
	n := 0
	for _, a := range v.Attempts {
		if a.Provider == provider && a.Outcome == outcomeFailed {
			n++
		}
	}
	return n
}

// backoff is the wait before retry n+1: Retry-After when the provider
// gave one, else RetryBase doubled n times, up to a minute.
func (s *Service) backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, 10*time.Minute)
	}
	return min(s.c.RetryBase<<min(n, 6), time.Minute)
}

// job is what v asks of its provider.
func (s *Service) job(ctx context.Context, v tollgate.Video, seconds int, at time.Time) router.Job {
	j := router.Job{VideoID: v.ID, Kind: v.Kind, Model: v.ProviderModel, Prompt: cmp.Or(v.UpstreamPrompt, v.Prompt), Seconds: seconds, Size: v.Size, SubmittedAt: at}
	if v.Input != "" {
		j.Input = filepath.Join(s.c.Dir, v.ID, v.Input)
	}
	if v.FromFrame {
		j.Kind = tollgate.VideoCreate // a clip of its own, from the frame
		return j
	}
	if v.SourceID != "" {
		if src, err := s.read(ctx, v.SourceID); err == nil && src.Provider == v.Provider {
			j.SourceJob = src.ProviderJob
		}
	}
	return j
}

// started records that v's attempt runs at its provider as id.
func (s *Service) started(ctx context.Context, v tollgate.Video, id string) error {
	a := &v.Attempts[len(v.Attempts)-1]
	a.Outcome, a.ProviderJob, a.Tries, a.Error = outcomeRunning, id, 0, ""
	now := s.c.Clock.Now()
	v.ProviderJob, v.Status, v.Step = id, tollgate.VideoInProgress, tollgate.StepPoll
	if v.StartedAt == nil {
		v.StartedAt = &now
	}
	return s.save(ctx, v, s.c.PollEvery)
}

// reconcile looks for the job an attempt whose submit's answer was lost
// may have started. Found, it is polled; not found by a provider that can
// tell, the attempt never started and v is routed again; a provider that
// cannot tell is never sent v again: v fails and is released, the
// possible cost kept on the attempt for the operator.
func (s *Service) reconcile(ctx context.Context, v tollgate.Video) error {
	a := &v.Attempts[len(v.Attempts)-1]
	p := s.provider(a.Provider)
	rc, ok := p.(router.Reconciler)
	if p == nil || !ok {
		s.c.Metrics.Reconciled(a.Provider, "gave_up")
		a.Outcome = outcomeUnknown
		return s.giveUp(ctx, v, "provider_outcome_unknown", fmt.Sprintf("whether %s started the video is not known and it cannot be looked up; "+
			"it is not sent anywhere again, so it cannot be made twice", a.Provider))
	}
	id, found, err := rc.Reconcile(ctx, s.job(ctx, v, a.Seconds, a.StartedAt))
	if err == nil && found {
		// A match by fields (a heuristic) could be another job's video,
		// made from an identical request: then it is not this one's.
		other, terr := s.jobOf(ctx, a.Provider, id, v.ID)
		switch {
		case terr != nil:
			return terr
		case other != "":
			err = &router.Error{Kind: router.Unknown, Code: "taken", Message: fmt.Sprintf("the job %s found at %s is video %s's", id, a.Provider, other)}
		}
	}
	switch {
	case err == nil && found:
		s.c.Metrics.Reconciled(a.Provider, "found")
		s.c.Log.Info("video runner: a submit whose answer was lost is found at the provider", "video", v.ID, "provider", a.Provider, "job", id)
		return s.started(ctx, v, id)
	case err == nil:
		s.c.Metrics.Reconciled(a.Provider, "not_started")
		a.Outcome, a.Cost = outcomeFailed, tollgate.Money{}
		a.Error = "not started: the submit's answer was lost and the provider has no such job"
		v.Step = tollgate.StepRoute
		return s.save(ctx, v, 0)
	}
	if a.Tries >= maxReconciles {
		s.c.Metrics.Reconciled(a.Provider, "gave_up")
		a.Outcome = outcomeUnknown
		return s.giveUp(ctx, v, "provider_outcome_unknown", fmt.Sprintf("%s did not say whether it started the video (%v); "+
			"it is not sent anywhere again, so it cannot be made twice", a.Provider, err))
	}
	s.c.Metrics.Reconciled(a.Provider, "unsure")
	a.Tries++
	a.Error = fmt.Sprintf("reconcile %d: %v", a.Tries, err)
	return s.save(ctx, v, s.backoff(a.Tries, 0))
}

// poll asks v's provider how it goes.
func (s *Service) poll(ctx context.Context, v tollgate.Video) error {
	p := s.provider(v.Provider)
	if p == nil {
		return s.giveUp(ctx, v, "provider_removed", fmt.Sprintf("%s is no longer configured", v.Provider))
	}
	st, err := p.Status(ctx, v.ProviderJob)
	a := &v.Attempts[len(v.Attempts)-1]
	if err != nil {
		pe := router.Classify(err)
		s.c.Metrics.ProviderError(v.Provider, "poll", pe.Kind.String())
		if pe.Kind == router.Terminal { // the provider lost the job
			a.Outcome, a.Error = outcomeFailed, pe.Error()
			return s.giveUp(ctx, v, "provider_failed", fmt.Sprintf("%s: %s", v.Provider, pe.Message))
		}
		s.c.Router.Failed(v.Provider)
		return s.save(ctx, v, max(s.c.PollEvery, pe.RetryAfter))
	}
	s.c.Router.Succeeded(v.Provider)
	switch st.State {
	case router.Running:
		if st.Progress > v.Progress && st.Progress < 100 {
			v.Progress = st.Progress
		} else if st.Progress < 0 {
			v.Progress = s.estimate(v)
		}
		return s.save(ctx, v, s.c.PollEvery)
	case router.Completed:
		v.Step = tollgate.StepFetch
		return s.save(ctx, v, 0)
	}
	now := s.c.Clock.Now()
	a.EndedAt = &now
	pe := st.Err
	if pe == nil {
		pe = &router.Error{Kind: router.Terminal, Code: "failed", Message: "the provider says the job failed"}
	}
	a.Error = pe.Error()
	if pe.Kind == router.Refused && !s.c.RetryRefused {
		a.Outcome, a.Cost = outcomeRefused, tollgate.Money{}
		return s.giveUp(ctx, v, string(tollgate.CodeModerationBlocked), pe.Message)
	}
	// Known to be over at this provider: another candidate may make it.
	a.Outcome, a.Cost, a.Final = outcomeFailed, tollgate.Money{}, true
	s.attemptEnded(v)
	v.Status, v.Step = tollgate.VideoQueued, tollgate.StepRoute
	return s.save(ctx, v, 0)
}

// estimate is a rising progress for a provider that reports none: the
// share of its expected time spent, up to 95.
func (s *Service) estimate(v tollgate.Video) int {
	a := v.Attempts[len(v.Attempts)-1]
	expected := 60 * time.Second
	pct := int(95 * s.c.Clock.Now().Sub(a.StartedAt) / expected)
	return max(v.Progress, min(pct, 95))
}

// fetch downloads v's output, checks it, stores it with its images, and
// completes v with the capture of what was delivered.
func (s *Service) fetch(ctx context.Context, v tollgate.Video) error {
	p := s.provider(v.Provider)
	if p == nil {
		return s.giveUp(ctx, v, "provider_removed", fmt.Sprintf("%s is no longer configured", v.Provider))
	}
	dir := filepath.Join(s.c.Dir, v.ID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	// Each try works in a directory of its own, moved into place only
	// when all is made: a step that outlived its lease and the one that
	// took over never write the same file.
	work, err := os.MkdirTemp(dir, ".fetch-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()
	raw := filepath.Join(work, "download.mp4")
	f, err := os.Create(raw)
	if err != nil {
		return err
	}
	err = p.Fetch(ctx, v.ProviderJob, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	a := &v.Attempts[len(v.Attempts)-1]
	if err != nil {
		pe := router.Classify(err)
		s.c.Metrics.ProviderError(v.Provider, "fetch", pe.Kind.String())
		if pe.Kind == router.Terminal || a.Tries >= maxFetches {
			a.Outcome, a.Error = outcomeFailed, pe.Error()
			return s.giveUp(ctx, v, "fetch_failed", fmt.Sprintf("the video was made by %s but could not be downloaded: %s", v.Provider, pe.Message))
		}
		a.Tries++
		a.Error = "fetch: " + pe.Error()
		return s.save(ctx, v, s.backoff(a.Tries, pe.RetryAfter))
	}
	delivered, err := s.store(ctx, v, work, raw)
	if err != nil {
		// A download cut short or garbled is fetched again, a few times.
		if a.Tries < maxFetches {
			a.Tries++
			a.Error = "fetch: what was downloaded is not a usable video: " + err.Error()
			return s.save(ctx, v, s.backoff(a.Tries, 0))
		}
		a.Outcome, a.Error = outcomeFailed, err.Error()
		return s.giveUp(ctx, v, "invalid_output", fmt.Sprintf("%s delivered what is not a usable video: %v", v.Provider, err))
	}
	for _, name := range []string{fileThumbnail, fileSpritesheet, fileVideo} { // the video last: it says the rest is there
		if err := os.Rename(filepath.Join(work, name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	now := s.c.Clock.Now()
	base := 0 // an extension charges the seconds it adds
	if v.Kind == tollgate.VideoExtend {
		if _, b, err := s.base(ctx, v); err == nil {
			base = b
		}
	}
	charge := s.charge(v, delivered, base)
	expires := now.Add(s.c.Retention)
	c := v
	c.Attempts = slices.Clone(v.Attempts)
	ca := &c.Attempts[len(c.Attempts)-1]
	ca.Outcome, ca.EndedAt, ca.Tries, ca.Error = outcomeCompleted, &now, 0, ""
	c.Status, c.Progress, c.CompletedAt, c.ExpiresAt = tollgate.VideoCompleted, 100, &now, &expires
	c.DeliveredSeconds, c.DeliveredSize = delivered.Seconds, delivered.Size()
	c.Step, c.NextAt = stepExpire, &expires
	done, err := s.c.Ledger.SettleVideo(ctx, c, &charge, s.event(c, tollgate.EventVideoCompleted))
	if tollgate.ErrorCode(err) == tollgate.CodeHoldNotPending {
		return s.giveUp(ctx, v, "hold_expired", "the video was made after its hold timed out, so it could not be charged; it is not delivered")
	}
	if err != nil {
		return err
	}
	s.c.Router.Observed(v.Provider, v.ProviderModel, now.Sub(a.StartedAt))
	s.attemptEnded(done)
	s.c.Metrics.JobCompleted(v.Provider, v.Model, done.Held, done.Charged, v.Cost)
	s.c.Log.Info("video completed", "video", v.ID, "provider", v.Provider, "seconds", delivered.Seconds, "charged", done.Charged, "held", done.Held)
	return nil
}

// store checks the downloaded clip, trims it to what was asked, joins it
// to the source for an extension, and derives its images, all in dir (the
// try's own directory). It returns what was delivered.
func (s *Service) store(ctx context.Context, v tollgate.Video, dir, raw string) (Probe, error) {
	final := filepath.Join(dir, fileVideo)
	m := s.c.Media
	if !m.Available() {
		// Nothing can check it: it is stored as sent, with the fallback
		// images, and taken to be what was asked.
		if err := os.Rename(raw, final); err != nil {
			return Probe{}, err
		}
		_ = os.WriteFile(filepath.Join(dir, fileThumbnail), m.FallbackThumbnail, 0o640)
		_ = os.WriteFile(filepath.Join(dir, fileSpritesheet), m.FallbackSpritesheet, 0o640)
		var w, h int
		_, _ = fmt.Sscanf(v.Size, "%dx%d", &w, &h)
		return Probe{Seconds: float64(v.Seconds), Width: w, Height: h}, nil
	}
	got, err := m.Probe(ctx, raw)
	if err != nil {
		return Probe{}, err
	}
	segment := v.Seconds
	var source string // the clip an extension is joined to
	var baseSeconds int
	if v.Kind == tollgate.VideoExtend {
		if source, baseSeconds, err = s.base(ctx, v); err != nil {
			return Probe{}, err
		}
		segment = v.Seconds - baseSeconds
	}
	// An extension comes stitched from a provider that extends videos
	// itself (as long as the whole), or as the added segment alone.
	stitched := v.Kind == tollgate.VideoExtend && got.Seconds >= float64(v.Seconds)-0.5
	if stitched {
		segment = v.Seconds
	}
	if got.Seconds > float64(segment)+0.5 {
		trimmed := filepath.Join(dir, "trimmed.mp4")
		if err := m.Trim(ctx, raw, trimmed, segment); err != nil {
			return Probe{}, err
		}
		if err := os.Rename(trimmed, raw); err != nil {
			return Probe{}, err
		}
	}
	if v.Kind == tollgate.VideoExtend && !stitched {
		joined := filepath.Join(dir, "joined.mp4")
		seg, err := m.Probe(ctx, raw)
		if err != nil {
			return Probe{}, err
		}
		// Joined as they are when both clips are encoded alike; otherwise
		// (another provider's codec, size or rate) encoded afresh.
		err = m.Concat(ctx, source, raw, joined)
		if j, perr := m.Probe(ctx, joined); err != nil || perr != nil || j.Seconds < float64(baseSeconds)+seg.Seconds-0.5 {
			err = m.ConcatEncode(ctx, source, raw, joined, v.Size)
		}
		if err != nil {
			return Probe{}, err
		}
		if err := os.Rename(joined, raw); err != nil {
			return Probe{}, err
		}
	}
	if got, err = m.Probe(ctx, raw); err != nil {
		return Probe{}, err
	}
	if err := m.Thumbnail(ctx, raw, filepath.Join(dir, fileThumbnail), got.Seconds); err != nil {
		return Probe{}, err
	}
	if err := m.Spritesheet(ctx, raw, filepath.Join(dir, fileSpritesheet), got.Seconds); err != nil {
		return Probe{}, err
	}
	return got, os.Rename(raw, final)
}

// charge is what v is charged for what was delivered: its cameo fees in
// full (it was delivered), and the rest of the hold pro rata to the
// seconds delivered of those asked (past base, the source's, for an
// extension), all of it when all were (within a tenth of a second of
// encoding), never more.
func (s *Service) charge(v tollgate.Video, got Probe, base int) tollgate.Credits {
	fees := feesTotal(v.Fees)
	gen := v.Held - fees
	asked := float64(v.Seconds - base)
	delivered := got.Seconds - float64(base)
	if delivered >= asked-0.1 {
		return v.Held
	}
	if delivered <= 0 || gen <= 0 {
		return fees
	}
	ms := int64(delivered * 1000)
	c, ok := tollgate.MulDivCeil(int64(gen), ms, int64(v.Seconds-base)*1000)
	if !ok || tollgate.Credits(c) > gen {
		return v.Held
	}
	return tollgate.Credits(c) + fees
}

// fail marks v failed with code and message at now.
func (s *Service) fail(v *tollgate.Video, code, message string, now time.Time) {
	v.Status, v.ErrorCode, v.ErrorMessage, v.CompletedAt = tollgate.VideoFailed, code, message, &now
	v.Step, v.NextAt = tollgate.StepDone, nil
	if n := len(v.Attempts); n > 0 && v.Attempts[n-1].EndedAt == nil {
		v.Attempts[n-1].EndedAt = &now
		if v.Attempts[n-1].Outcome == outcomeRunning || v.Attempts[n-1].Outcome == outcomeSubmitting {
			v.Attempts[n-1].Outcome = outcomeCancelled
		}
	}
}

// giveUp fails v and releases its hold, in one transaction.
func (s *Service) giveUp(ctx context.Context, v tollgate.Video, code, message string) error {
	open := len(v.Attempts) > 0 && v.Attempts[len(v.Attempts)-1].EndedAt == nil
	s.fail(&v, code, message, s.c.Clock.Now())
	_, err := s.c.Ledger.SettleVideo(ctx, v, nil, s.event(v, tollgate.EventVideoFailed))
	if tollgate.ErrorCode(err) == tollgate.CodeHoldNotPending {
		// The hold timed out (the job outlived it): its credits went back
		// already; the job fails on its own.
		s.c.Log.Error("video runner: a job's hold timed out before the job ended; it fails without a charge", "video", v.ID, "hold", v.HoldID)
		err = s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error { return tx.VideoUpdate(ctx, v) })
	}
	if err == nil {
		_ = os.RemoveAll(filepath.Join(s.c.Dir, v.ID))
		s.c.Log.Info("video failed; its hold is released", "video", v.ID, "code", code, "message", message)
		if open {
			s.attemptEnded(v)
		}
		s.c.Metrics.JobFailed(v.Provider, v.Model, code, v.Held)
	}
	return err
}

// expire deletes a completed video's content once its time is up.
func (s *Service) expire(ctx context.Context, v tollgate.Video) error {
	if err := os.RemoveAll(filepath.Join(s.c.Dir, v.ID)); err != nil {
		return err
	}
	v.Step, v.NextAt = tollgate.StepDone, nil
	return s.save(ctx, v, -1)
}

// event is v's video.completed or video.failed event, in OpenAI's envelope
// ({id, object: "event", type, created_at, data: {id}}), so that the SDKs'
// webhooks.unwrap() reads it.
func (s *Service) event(v tollgate.Video, typ string) tollgate.Event {
	now := s.c.Clock.Now()
	id := tollgate.NewID("evt")
	body, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "created_at": now.Unix(), "data": map[string]string{"id": v.ID}})
	return tollgate.Event{ID: id, Type: typ, AccountID: v.AccountID, Payload: body, CreatedAt: now}
}

// lastFrame stores the last frame of v's source as v's input image.
func (s *Service) lastFrame(ctx context.Context, v *tollgate.Video) error {
	src, _, err := s.base(ctx, *v)
	if err != nil {
		return err
	}
	dir := filepath.Join(s.c.Dir, v.ID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := s.c.Media.LastFrame(ctx, src, filepath.Join(dir, "lastframe.png")); err != nil {
		return err
	}
	v.Input = "lastframe.png"
	return nil
}

// base is the clip an extension or an edit works on: its source's
// content, or the video uploaded with it; and its length in seconds.
func (s *Service) base(ctx context.Context, v tollgate.Video) (string, int, error) {
	if v.SourceID == "" {
		return filepath.Join(s.c.Dir, v.ID, v.Input), v.InputSeconds, nil
	}
	src, err := s.read(ctx, v.SourceID)
	if err != nil {
		return "", 0, err
	}
	return filepath.Join(s.c.Dir, src.ID, fileVideo), src.Seconds, nil
}

// attemptEnded observes v's last attempt's latency by its outcome.
func (s *Service) attemptEnded(v tollgate.Video) {
	if len(v.Attempts) == 0 || s.c.Metrics == nil {
		return
	}
	a := v.Attempts[len(v.Attempts)-1]
	s.c.Metrics.AttemptEnded(a.Provider, a.ProviderModel, a.Outcome, a.Latency(s.c.Clock.Now()))
}

// jobScan bounds the jobs jobOf reads.
const jobScan = 10_000

// jobOf returns the id of a video other than self whose job at provider
// is job, among those still running or kept (their content not yet
// expired: both have a next step), or "" if none is.
func (s *Service) jobOf(ctx context.Context, provider, job, self string) (string, error) {
	var vs []tollgate.Video
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		vs, err = tx.VideosDue(ctx, s.c.Clock.Now().Add(s.c.Retention+time.Hour), jobScan)
		return err
	})
	if err != nil {
		return "", err
	}
	for _, o := range vs {
		if o.ID != self && o.Provider == provider && o.ProviderJob == job {
			return o.ID, nil
		}
	}
	return "", nil
}
