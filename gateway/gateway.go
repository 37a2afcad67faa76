// Package gateway runs video jobs: it prices and holds a request, stores
// the job in the same transaction, and then, in the job runner, routes it
// to a provider, submits, polls, fetches and checks the output, derives its
// thumbnail and spritesheet, and captures what was delivered (never more
// than the quote) in the transaction that completes the job, or releases
// the hold in the one that fails it.
//
// Every step is claimed before it runs (the job's version moves on), so
// that with several instances on one database each step is done by one;
// a submit is recorded before it is sent, so that a job whose submit may
// have reached the provider is reconciled, never submitted again.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"tollgate"
	"tollgate/cameo"
	"tollgate/ledger"
	"tollgate/metrics"
	"tollgate/pricing"
	"tollgate/router"
	"tollgate/startstop"
	"tollgate/store/record"
)

// Defaults of Config.
const (
	DefaultRetention = 7 * 24 * time.Hour
	DefaultPollEvery = 2 * time.Second
	DefaultLease     = 2 * time.Minute
	DefaultDeadline  = time.Hour
	DefaultWorkers   = 8
	// MaxPromptBytes bounds a prompt.
	MaxPromptBytes = 32_000
)

// Config configures a Service.
type Config struct {
	Ledger *ledger.Ledger
	// Cameos decides which cameos a video may show and their fees.
	Cameos *cameo.Service
	// LikenessToOpenAI lets videos that show a real person's likeness go
	// to the provider named openai (TOLLGATE_LIKENESS_TO_OPENAI); by
	// default they are made elsewhere.
	LikenessToOpenAI bool
	Quotes           *pricing.Quotes
	Router           *router.Router
	// Dir is where outputs are stored, a directory per job.
	Dir   string
	Media Media
	Clock tollgate.Clock
	Log   *slog.Logger
	// Retention is how long a completed video's content is kept.
	Retention time.Duration
	// PollEvery is how often a running job is polled.
	PollEvery time.Duration
	// Lease is how long a claimed step may run before another instance
	// may take the job over.
	Lease time.Duration
	// Deadline is how long a job may take in all before it fails and its
	// hold is released.
	Deadline time.Duration
	// Workers is how many steps run at once in this instance.
	Workers int
	// RetryBase is the first wait before a call to a provider is tried
	// again; it doubles each time, up to a minute (default 1 s).
	RetryBase time.Duration
	// SoleRunner says this is the only instance running jobs (SQLite,
	// whose file one serve owns): at start, the steps an earlier process
	// claimed and never finished (it was killed) are taken up at once
	// rather than when their lease ends.
	SoleRunner bool
	// Metrics, when set, counts jobs, attempts, provider errors and
	// reconciliations for GET /metrics.
	Metrics *metrics.Metrics
	// RetryRefused sends a video a provider refused on its content policy
	// to the next candidate, as after any final failure; by default it
	// fails (uncharged), since another provider's policy is rarely looser
	// and the operator may not want it tried.
	RetryRefused bool
}

// Service makes videos. Its methods are safe for concurrent use.
type Service struct {
	c    Config
	loop startstop.Loop
	// wake makes the runner look for due jobs now.
	wake chan struct{}
	sem  chan struct{}
	wg   sync.WaitGroup
}

// New returns a service; Start runs its job runner.
func New(c Config) *Service {
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.PollEvery <= 0 {
		c.PollEvery = DefaultPollEvery
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Deadline <= 0 {
		c.Deadline = DefaultDeadline
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Cameos == nil {
		c.Cameos = cameo.New(cameo.Config{Ledger: c.Ledger, Clock: c.Clock, TakeBPS: -1})
	}
	return &Service{c: c, wake: make(chan struct{}, 1), sem: make(chan struct{}, c.Workers)}
}

// Cameos returns the cameo service the gateway checks and charges with.
func (s *Service) Cameos() *cameo.Service { return s.c.Cameos }

// Router returns the service's router.
func (s *Service) Router() *router.Router { return s.c.Router }

// Media returns how the service checks and derives media.
func (s *Service) Media() Media { return s.c.Media }

// CreateParams is a request for a video.
type CreateParams struct {
	AccountID string
	KeyID     string // "" for an admin key
	// KeyMaxPending is the key's own cap on pending holds (0: none).
	KeyMaxPending int
	Project       string
	Kind          tollgate.VideoKind
	Model         string // default sora-2
	Policy        string
	Prompt        string
	Seconds       int    // default 4
	Size          string // default 720x1280
	SourceID      string // remix, edit, extend: the video it builds on
	// Input is a reference image (or, for an edit, a video) uploaded or
	// fetched: its bytes and extension (".png", ".jpg", ".webp", ".mp4").
	Input       []byte
	InputExt    string
	QuoteID     string
	Constraints tollgate.VideoConstraints
	Idempotency *ledger.Idempotency
	// Characters are the cameos the video shows, by id (a create only:
	// characters[][id] and tollgate.cameos); those kept at a provider as
	// characters make it there.
	Characters []string

	// only is the provider that made the source of a remix, an edit or
	// an extension: its ids mean something to it alone.
	only string
	// fromFrame: no provider can extend the source, so the extension is
	// made from its last frame (candidates sets it).
	fromFrame bool
	// inputSeconds is the length of a video uploaded to be edited or
	// extended.
	inputSeconds int
	// image: a create from a reference image, which its provider must take.
	image bool
	// cameos are the cameos the video shows, and fees what it pays for
	// them; kept: some are characters kept at the provider only.
	cameos []tollgate.Cameo
	fees   []tollgate.Fee
	kept   bool
}

// feesTotal is what fees come to.
func feesTotal(fees []tollgate.Fee) tollgate.Credits {
	var t tollgate.Credits
	for _, f := range fees {
		t += f.Credits
	}
	return t
}

// Create prices p, checks that a provider can make it, and holds the
// credits and stores the job in one transaction; the job is queued for
// the runner. It fails with invalid_field naming the parameter,
// model_unavailable with the alternatives, insufficient_credits, and the
// errors of Ledger.Hold. With an Idempotency key already answered, it
// returns *ledger.Replayed.
func (s *Service) Create(ctx context.Context, p CreateParams) (tollgate.Video, error) {
	quoted := tollgate.Credits(0)
	var terms quoteTerms
	if p.QuoteID != "" {
		q, credits, err := s.c.Quotes.Usable(ctx, p.QuoteID, p.AccountID, tollgate.ProductVideo, 0)
		if err != nil {
			return tollgate.Video{}, err
		}
		if err := json.Unmarshal(q.Details, &terms); err != nil {
			return tollgate.Video{}, fmt.Errorf("read quote %s: %w", q.ID, err)
		}
		// What the request leaves out, the quote says.
		if p.Model == "" {
			p.Model = terms.Model
		}
		if p.Seconds == 0 {
			p.Seconds = terms.Seconds
		}
		quoted = credits
	}
	if err := s.fill(ctx, &p); err != nil {
		return tollgate.Video{}, err
	}
	if p.QuoteID != "" {
		if err := s.quoteMatches(terms, &p); err != nil {
			return tollgate.Video{}, err
		}
	}
	fees := feesTotal(p.fees)
	if quoted > 0 && quoted <= fees {
		return tollgate.Video{}, tollgate.FieldError("tollgate.quote_id", "quote %s does not cover the fees of the cameos the video shows", p.QuoteID)
	}
	cands, err := s.candidates(ctx, &p, max(quoted-fees, 0), nil)
	if err != nil {
		return tollgate.Video{}, err
	}
	credits := quoted
	if credits == 0 {
		credits = cands[0].Credits + fees
	}
	if p.Constraints.MaxCredits > 0 && credits > p.Constraints.MaxCredits {
		return tollgate.Video{}, tollgate.FieldError("tollgate.max_credits", "this video costs %s credits, more than max_credits %s", credits, p.Constraints.MaxCredits)
	}
	now := s.c.Clock.Now()
	v := tollgate.Video{ID: tollgate.NewID("video"), AccountID: p.AccountID, KeyID: p.KeyID, Project: p.Project, Kind: p.Kind,
		Status: tollgate.VideoQueued, Model: p.Model, Policy: p.Policy, Prompt: p.Prompt, Seconds: p.Seconds, Size: p.Size,
		SourceID: p.SourceID, Constraints: p.Constraints, Demo: cands[0].Demo, Step: tollgate.StepRoute, NextAt: &now, CreatedAt: now,
		FromFrame: p.fromFrame, Characters: p.Characters, Fees: p.fees}
	if up := cameo.Upstream(p.Prompt, p.cameos); up != p.Prompt {
		v.UpstreamPrompt = up
	}
	v.InputSeconds = p.inputSeconds
	if p.Kind == tollgate.VideoExtend {
		base := p.inputSeconds
		if p.SourceID != "" {
			src, _, err := s.Shared(ctx, p.SourceID, p.AccountID)
			if err != nil {
				return tollgate.Video{}, err
			}
			base = src.Seconds
		}
		v.Seconds = base + p.Seconds // the stitched total
	}
	if len(p.Input) > 0 {
		name := "input" + p.InputExt
		if err := s.writeFile(v.ID, name, p.Input); err != nil {
			return tollgate.Video{}, err
		}
		v.Input = name
	}
	hold := ledger.HoldParams{AccountID: p.AccountID, Product: tollgate.ProductVideo, Credits: credits, QuoteID: p.QuoteID,
		TTL: s.c.Deadline + s.c.Lease + 10*time.Minute, KeyID: p.KeyID, KeyMaxPending: p.KeyMaxPending, Idempotency: p.Idempotency,
		Metadata: map[string]string{"video_id": v.ID}}
	if hold.TTL > ledger.MaxHoldTTL {
		hold.TTL = ledger.MaxHoldTTL
	}
	out, err := s.c.Ledger.CreateVideo(ctx, hold, v)
	if err != nil {
		if v.Input != "" {
			_ = os.RemoveAll(filepath.Join(s.c.Dir, v.ID))
		}
		if p.QuoteID != "" && errors.Is(err, tollgate.ErrConflict) {
			return tollgate.Video{}, tollgate.Errorf(tollgate.CodeQuoteUsed, "quote %s has paid for a job already; ask for a new quote", p.QuoteID)
		}
		return tollgate.Video{}, err
	}
	s.Wake()
	s.c.Metrics.JobCreated(out.Model, out.Held)
	return out, nil
}

// fill checks p and sets its defaults: OpenAI's (sora-2, 4 seconds,
// 720x1280), or the source's for a remix, edit or extension.
func (s *Service) fill(ctx context.Context, p *CreateParams) error {
	if p.Kind == "" {
		p.Kind = tollgate.VideoCreate
	}
	if strings.TrimSpace(p.Prompt) == "" {
		return tollgate.FieldError("prompt", "is required: describe the video")
	}
	if len(p.Prompt) > MaxPromptBytes || !tollgate.CleanText(strings.NewReplacer("\n", " ", "\t", " ", "\r", " ").Replace(p.Prompt)) {
		return tollgate.FieldError("prompt", "must be UTF-8 text of at most %d bytes", MaxPromptBytes)
	}
	var src *tollgate.Video
	if p.Kind != tollgate.VideoCreate && p.SourceID == "" {
		if err := s.uploaded(ctx, p); err != nil {
			return err
		}
	} else if p.Kind != tollgate.VideoCreate {
		got, err := s.source(ctx, p)
		if err != nil {
			return err
		}
		src = &got
		if src.Status != tollgate.VideoCompleted {
			return tollgate.FieldError("video", "video %s is %s; only a completed video can be remixed, edited or extended", src.ID, src.Status)
		}
		if p.Model == "" {
			p.Model = src.Model
		}
		if p.Size == "" {
			p.Size = src.Size
		}
		if p.Seconds == 0 && p.Kind != tollgate.VideoExtend {
			p.Seconds = src.Seconds
		}
		if p.Policy == "" {
			p.Policy = src.Policy
		}
		p.only = src.Provider
	}
	if err := s.fillCameos(ctx, p, src); err != nil {
		return err
	}
	p.image = p.Kind == tollgate.VideoCreate && len(p.Input) > 0
	if p.Model == "" {
		p.Model = "sora-2"
	}
	if p.Seconds == 0 {
		p.Seconds = 4
	}
	if p.Size == "" {
		p.Size = "720x1280"
	}
	switch p.Policy {
	case "", router.Cheapest, router.Fastest, router.Balanced:
	default:
		return tollgate.FieldError("tollgate.policy", "unknown policy %q; known: cheapest, fastest, balanced", p.Policy)
	}
	if p.Kind == tollgate.VideoExtend && !slices.Contains([]int{4, 8, 12, 16, 20}, p.Seconds) {
		return tollgate.FieldError("seconds", "an extension adds 4, 8, 12, 16 or 20 seconds, not %d", p.Seconds)
	}
	// The price checks the model, seconds and size against the catalog.
	_, _, err := s.c.Quotes.Price(ctx, pricing.Request{Product: tollgate.ProductVideo, Model: p.Model, Seconds: p.Seconds, Size: p.Size,
		Extension: p.Kind == tollgate.VideoExtend || p.inputSeconds > 0})
	return err
}

// MaxUploadSeconds bounds a video uploaded to be edited or extended.
const MaxUploadSeconds = 120

// uploaded checks a video uploaded to be edited or extended (p.Input, an
// MP4) and takes its size, and for an edit its length, from it.
func (s *Service) uploaded(ctx context.Context, p *CreateParams) error {
	if len(p.Input) == 0 || p.InputExt != ".mp4" {
		return tollgate.FieldError("video", "give the completed video as video[id], or upload an MP4 as the file video")
	}
	if !s.c.Media.Available() {
		return tollgate.FieldError("video", "this server cannot read an uploaded video (ffmpeg is not installed): give video[id]")
	}
	got, err := s.probeUpload(ctx, p.Input)
	if err != nil {
		return err
	}
	secs := int(got.Seconds + 0.5)
	if secs < 1 || secs > MaxUploadSeconds {
		return tollgate.FieldError("video", "the uploaded video lasts %.1f s; from 1 to %d s are taken", got.Seconds, MaxUploadSeconds)
	}
	if p.Size == "" {
		p.Size = got.Size()
	}
	if p.Size != got.Size() {
		return tollgate.FieldError("video", "the uploaded video is %s, not %s", got.Size(), p.Size)
	}
	p.inputSeconds = secs
	if p.Kind == tollgate.VideoEdit {
		p.Seconds = secs
	}
	return nil
}

// quoteTerms are what a video quote priced.
type quoteTerms struct {
	Model      string `json:"model"`
	Resolution string `json:"resolution"`
	Seconds    int    `json:"seconds"`
	// Fees are the cameo fees quoted, one per cameo of another account.
	Fees []struct {
		CameoID string           `json:"cameo_id"`
		Credits tollgate.Credits `json:"credits"`
	} `json:"fees"`
}

// quoteMatches refuses a quote for another video than p: another length,
// resolution, or model (a request for auto may be made by any model whose
// price is within the quote, as the router ensures).
func (s *Service) quoteMatches(q quoteTerms, p *CreateParams) error {
	for _, f := range p.fees {
		if f.Kind == tollgate.FeeRemix {
			return tollgate.FieldError("tollgate.quote_id", "a quote does not price the remix fee of video %s (%s credits, paid to its creator): send the request without quote_id",
				f.Subject, f.Credits)
		}
	}
	if len(q.Fees) != len(p.fees) {
		return tollgate.FieldError("tollgate.quote_id", "quote %s priced %d cameo fees, but the video shows %d cameos of other accounts: quote it with the same cameos",
			p.QuoteID, len(q.Fees), len(p.fees))
	}
	for i := range p.fees {
		f := &p.fees[i]
		j := slices.IndexFunc(q.Fees, func(qf struct {
			CameoID string           `json:"cameo_id"`
			Credits tollgate.Credits `json:"credits"`
		}) bool {
			return qf.CameoID == f.Subject
		})
		if j < 0 {
			return tollgate.FieldError("tollgate.quote_id", "quote %s does not price cameo %s: quote it with the same cameos", p.QuoteID, f.Subject)
		}
		f.Credits = q.Fees[j].Credits // the fee quoted is the fee paid
	}
	if q.Seconds != p.Seconds {
		return tollgate.FieldError("tollgate.quote_id", "quote %s is for %d seconds, not %d", p.QuoteID, q.Seconds, p.Seconds)
	}
	if res, err := pricing.Resolution(p.Size); err != nil || res != q.Resolution {
		return tollgate.FieldError("tollgate.quote_id", "quote %s is for %s, not %s", p.QuoteID, q.Resolution, p.Size)
	}
	if !strings.HasPrefix(p.Model, "auto") && s.c.Quotes.File().Canonical(p.Model) != q.Model {
		return tollgate.FieldError("tollgate.quote_id", "quote %s is for %s, not %s", p.QuoteID, q.Model, p.Model)
	}
	return nil
}

// Route returns the ways to make a video of model (or auto...) for seconds
// at size, best first by policy, every one from a provider that can make
// it now; model_unavailable with the alternatives when there are none.
func (s *Service) Route(ctx context.Context, model, policy string, seconds int, size string) ([]router.Candidate, error) {
	p := CreateParams{Model: model, Policy: policy, Seconds: seconds, Size: size, Kind: tollgate.VideoCreate}
	return s.candidates(ctx, &p, 0, nil)
}

// candidates returns the ways to make p, at or below maxCredits when not
// zero, leaving out providers in exclude; model_unavailable with the
// alternatives when there are none.
func (s *Service) candidates(ctx context.Context, p *CreateParams, maxCredits tollgate.Credits, exclude []string) ([]router.Candidate, error) {
	req := s.routeRequest(p.Model, p.Policy, p.Seconds, p.Size, p.Kind, p.Constraints, maxCredits)
	req.ExcludeProviders, req.Only = append(req.ExcludeProviders, exclude...), p.only
	req.Extension = req.Extension || p.inputSeconds > 0 // an uploaded clip's length is its own
	if p.image {
		req.Features = append(req.Features, pricing.FeatureImage)
	}
	if p.kept {
		req.Features = append(req.Features, pricing.FeatureCharacter)
	}
	cands, err := s.c.Router.Candidates(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(cands) == 0 && p.Kind == tollgate.VideoExtend && s.c.Media.Available() {
		// The source's provider cannot extend it: a clip of the added
		// seconds from the source's last frame, by any provider that takes
		// an image, joined to the source.
		frame := s.routeRequest(p.Model, p.Policy, p.Seconds, p.Size, tollgate.VideoCreate, p.Constraints, maxCredits)
		frame.ExcludeProviders, frame.Features = append(frame.ExcludeProviders, exclude...), append(frame.Features, pricing.FeatureImage)
		if cands, err = s.c.Router.Candidates(ctx, frame); err != nil {
			return nil, err
		}
		p.fromFrame = len(cands) > 0
	}
	if len(cands) > 0 {
		return cands, nil
	}
	e := tollgate.Errorf(tollgate.CodeModelUnavailable, "no configured provider can make %s for %d seconds at %s now", p.Model, p.Seconds, p.Size)
	alt := req
	alt.Model, alt.MaxCredits, alt.Providers, alt.ExcludeProviders, alt.Only = "auto", 0, nil, nil, ""
	others, err := s.c.Router.Candidates(ctx, alt)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, c := range others {
		if !seen[c.Offer.Model] {
			seen[c.Offer.Model] = true
			e.Alternatives = append(e.Alternatives, tollgate.Alternative{Model: c.Offer.Model, Provider: c.Offer.Provider, Credits: c.Credits})
		}
	}
	if len(e.Alternatives) > 0 {
		var names []string
		for _, a := range e.Alternatives {
			names = append(names, fmt.Sprintf("%s (%s credits)", a.Model, a.Credits))
		}
		e.Message += "; these can: " + strings.Join(names, ", ")
	} else {
		e.Message += "; nothing else can either: the operator should configure a provider"
	}
	return nil, e
}

func (s *Service) routeRequest(model, policy string, seconds int, size string, kind tollgate.VideoKind, c tollgate.VideoConstraints,
	maxCredits tollgate.Credits) router.Request {
	req := router.Request{Model: model, Policy: policy, Seconds: seconds, Size: size, MaxCredits: maxCredits,
		Providers: c.Providers, ExcludeProviders: slices.Clone(c.ExcludeProviders)}
	switch kind {
	case tollgate.VideoRemix:
		req.Features = []string{pricing.FeatureRemix}
	case tollgate.VideoEdit:
		req.Features = []string{pricing.FeatureEdit}
	case tollgate.VideoExtend:
		req.Extension, req.Features = true, []string{pricing.FeatureExtend}
	}
	return req
}

// Get returns a video; with accountID set, another account's is not
// found, and so is a deleted one.
func (s *Service) Get(ctx context.Context, id, accountID string) (tollgate.Video, error) {
	v, err := s.read(ctx, id)
	if err == nil && ((accountID != "" && v.AccountID != accountID) || v.DeletedAt != nil) {
		err = tollgate.ErrNotFound
	}
	if errors.Is(err, tollgate.ErrNotFound) {
		return tollgate.Video{}, &tollgate.Error{Code: tollgate.CodeNotFound, Field: "video_id", Message: fmt.Sprintf("video %q not found", id)}
	}
	return v, err
}

func (s *Service) read(ctx context.Context, id string) (tollgate.Video, error) {
	if !tollgate.CleanText(id) || len(id) > 100 || id == "" {
		return tollgate.Video{}, tollgate.ErrNotFound
	}
	var v tollgate.Video
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		v, err = tx.VideoByID(ctx, id)
		return err
	})
	return v, err
}

// List pages through an account's videos by creation: after an id,
// newest first unless asc. It reports whether more follow.
func (s *Service) List(ctx context.Context, accountID, after string, limit int, asc bool) ([]tollgate.Video, bool, error) {
	var vs []tollgate.Video
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		vs, err = tx.VideoList(ctx, record.VideoListParams{AccountID: accountID, After: after, Desc: !asc, Limit: limit + 1})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	more := len(vs) > limit
	if more {
		vs = vs[:limit]
	}
	return vs, more, nil
}

// Delete deletes a video: a finished one's content is removed (the job
// stays on the books, out of lists); a queued one is cancelled and its
// hold released; a running one is cancelled where its provider can, else
// cannot_cancel.
func (s *Service) Delete(ctx context.Context, id, accountID string) (tollgate.Video, error) {
	for try := 0; try < 20; try++ {
		v, err := s.Get(ctx, id, accountID)
		if err != nil {
			return v, err
		}
		if n := len(v.Attempts); n > 0 && v.Attempts[n-1].Outcome == outcomeSubmitting && v.ProviderJob == "" && try < 19 {
			time.Sleep(100 * time.Millisecond) // a submit takes a moment: wait for its answer, then cancel what it started
			continue
		}
		now := s.c.Clock.Now()
		if v.Status.Final() {
			v.DeletedAt, v.NextAt, v.Step = &now, nil, tollgate.StepDone
			err = s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error { return tx.VideoUpdate(ctx, v) })
		} else {
			if err = s.cancelUpstream(ctx, v); err != nil {
				return v, err
			}
			v.DeletedAt = &now
			s.fail(&v, "cancelled", "the video was deleted before it finished", now)
			v, err = s.c.Ledger.SettleVideo(ctx, v, nil)
		}
		if errors.Is(err, tollgate.ErrConflict) {
			continue // the runner wrote it meanwhile: look again
		}
		if err != nil {
			return v, err
		}
		_ = os.RemoveAll(filepath.Join(s.c.Dir, v.ID))
		return v, nil
	}
	return tollgate.Video{}, tollgate.Errorf(tollgate.CodeUnavailable, "video %s kept changing while it was being deleted: retry", id)
}

// cancelUpstream stops v's attempt at its provider, if one runs.
func (s *Service) cancelUpstream(ctx context.Context, v tollgate.Video) error {
	if v.ProviderJob == "" {
		if n := len(v.Attempts); n > 0 && v.Attempts[n-1].Outcome == outcomeSubmitting {
			return tollgate.Errorf(tollgate.CodeCannotCancel, "video %s is being submitted to %s: delete it again in a few seconds", v.ID, v.Attempts[n-1].Provider)
		}
		return nil
	}
	p := s.provider(v.Provider)
	if p == nil {
		return tollgate.Errorf(tollgate.CodeCannotCancel, "video %s runs at %s, which is no longer configured: it cannot be cancelled", v.ID, v.Provider)
	}
	err := p.Cancel(ctx, v.ProviderJob)
	if errors.Is(err, router.ErrCannotCancel) {
		return tollgate.Errorf(tollgate.CodeCannotCancel, "video %s is %s at %s, which cannot cancel a job: wait for it to finish, then delete it", v.ID, v.Status, v.Provider)
	}
	if err != nil {
		return tollgate.Errorf(tollgate.CodeUnavailable, "cancel video %s at %s: %v; retry", v.ID, v.Provider, err)
	}
	return nil
}

// Variants of a video's content.
const (
	VariantVideo       = "video"
	VariantThumbnail   = "thumbnail"
	VariantSpritesheet = "spritesheet"
)

// Content returns the path of a completed video's content and its media
// type; video_not_ready before completion and after it expires.
func (s *Service) Content(ctx context.Context, id, accountID, variant string) (string, string, error) {
	v, _, err := s.Shared(ctx, id, accountID)
	if err != nil {
		return "", "", err
	}
	if v.Status != tollgate.VideoCompleted {
		return "", "", tollgate.Errorf(tollgate.CodeVideoNotReady, "video %s is %s: its content is there once it is completed", v.ID, v.Status)
	}
	if v.ExpiresAt != nil && !s.c.Clock.Now().Before(*v.ExpiresAt) {
		return "", "", tollgate.Errorf(tollgate.CodeVideoNotReady, "video %s expired at %s: its content was deleted", v.ID, v.ExpiresAt.Format(time.RFC3339))
	}
	name, ct := fileVideo, "video/mp4"
	switch variant {
	case "", VariantVideo:
	case VariantThumbnail:
		name, ct = fileThumbnail, "image/webp"
	case VariantSpritesheet:
		name, ct = fileSpritesheet, "image/jpeg"
	default:
		return "", "", tollgate.FieldError("variant", "unknown variant %q; known: video, thumbnail, spritesheet", variant)
	}
	path := filepath.Join(s.c.Dir, v.ID, name)
	if _, err := os.Stat(path); err != nil {
		return "", "", tollgate.Errorf(tollgate.CodeVideoNotReady, "video %s has no %s stored (it was lost from the data directory)", v.ID, variant)
	}
	return path, ct, nil
}

// Files a job stores in its directory.
const (
	fileVideo       = "video.mp4"
	fileThumbnail   = "thumbnail.webp"
	fileSpritesheet = "spritesheet.jpg"
)

func (s *Service) writeFile(id, name string, b []byte) error {
	dir := filepath.Join(s.c.Dir, id)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("store video files: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, name), b, 0o640)
}

func (s *Service) provider(name string) router.Provider {
	if p, ok := s.c.Router.Providers[name]; ok {
		return p
	}
	if name == "local" && s.c.Router.Local != nil {
		return s.c.Router.Local
	}
	return nil
}

// PollAfter is how long a client should wait before asking about a
// running video again.
func (s *Service) PollAfter() time.Duration { return max(s.c.PollEvery, 500*time.Millisecond) }
