// Package router chooses which provider makes a video: the candidates the
// catalog lists for a model (or, for auto, for every model that fits),
// those of healthy providers that deliver at least what was asked, ranked
// by policy. It owns the Provider interface the adapters under provider/
// implement, and the circuit breakers and speed estimates it ranks with.
package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"tollgate"
	"tollgate/pricing"
)

// Provider is an API that makes videos, or the local renderer. Its
// methods are safe for concurrent use. Errors it returns are *Error where
// it knows what the failure means; any other error counts as retryable.
type Provider interface {
	// Name is the provider's name in the catalog.
	Name() string
	// Submit starts a job and returns the provider's id for it. An *Error
	// of kind Unknown means the provider may have started it anyway.
	Submit(ctx context.Context, j Job) (string, error)
	// Status says how a job goes.
	Status(ctx context.Context, id string) (Status, error)
	// Fetch writes a completed job's video (MP4) to w.
	Fetch(ctx context.Context, id string, w io.Writer) error
	// Cancel stops a job; ErrCannotCancel when the provider cannot.
	Cancel(ctx context.Context, id string) error
}

// ErrCannotCancel is returned by a provider that has no way to stop a job.
var ErrCannotCancel = errors.New("the provider cannot cancel a job")

// CharacterMaker is a provider that keeps characters: a likeness made
// from a clip, that its videos can show.
type CharacterMaker interface {
	// NewCharacter makes a character named name from the clip video (an
	// MP4) and returns the provider's id of it.
	NewCharacter(ctx context.Context, name string, video []byte) (string, error)
}

// Notifier is a provider that sends notifications (webhooks) when a job it
// runs ends. A notification only says where to look: the job is polled
// before anything is done with it, so a forged or stale one costs a poll.
type Notifier interface {
	// Notification checks a notification's signature and returns the
	// provider's id of the job it is about. An error wrapping
	// ErrBadNotification means it does not verify; ok false means it
	// verifies but is about nothing a job waits for.
	Notification(cb Callback) (jobID string, ok bool, err error)
}

// Callback is a notification as it arrived.
type Callback struct {
	Header http.Header
	// Query is the query of the URL it was sent to: what the adapter put
	// in the callback URL it gave the provider (an attempt's reference).
	Query url.Values
	Body  []byte
	Now   time.Time
}

// ErrBadNotification is wrapped by Notification for a notification that
// does not verify (signature, age) or a provider with no secret to check it.
var ErrBadNotification = errors.New("the notification does not verify")

// Job is what a provider is asked to make.
type Job struct {
	VideoID string // Tollgate's id: a reference the provider may echo
	Kind    tollgate.VideoKind
	Model   string // the provider's model name
	Prompt  string
	Seconds int // as the offer makes it: at least what was asked
	Size    string
	// Input is the path of a reference image, "" for none.
	Input string
	// SourceJob is the provider's id of the video remixed, edited or
	// extended, for a provider that made it.
	SourceJob string
	// Characters are the provider's ids of the characters it shows.
	Characters []string
	// SubmittedAt is when the attempt was recorded, before Submit was
	// called: what a reconciliation matches on.
	SubmittedAt time.Time
}

// Reconciler is a provider that can find a job whose submit's answer was
// lost, so that it is never submitted twice. Reconcile returns the
// provider's id of the job submitted for j (same VideoID and SubmittedAt),
// or found false when the provider has none: then it was not started.
// A provider that cannot tell for sure answers an *Error of kind Unknown.
type Reconciler interface {
	// Reconcile returns the provider's id of the job submitted for j, or
	// found false when the provider can tell none was started.
	Reconcile(ctx context.Context, j Job) (id string, found bool, err error)
}

// State is where a provider's job stands.
type State string

// States of a provider's job.
const (
	Running   State = "running"
	Completed State = "completed"
	Failed    State = "failed"
)

// Status is a provider's answer about a job.
type Status struct {
	State    State
	Progress int    // 0 to 100, when the provider says; -1 when it does not
	Err      *Error // why it failed
}

// Kind says what a failure means for the job.
type Kind int

// Kinds of failure.
const (
	// Retryable: nothing was started (a 429, a 503, a refused
	// connection, or any failure of a call that starts nothing); the same
	// call may be tried again after RetryAfter. A submit answered 500,
	// 502 or 504 is Unknown instead: the work may have begun.
	Retryable Kind = iota
	// Terminal: the provider will not make this job (a bad request, an
	// unsupported option, no credit with the provider); another provider
	// may.
	Terminal
	// Refused: a content-policy refusal; another provider is not tried
	// unless the operator allows it.
	Refused
	// Unknown: the submit's answer was lost (a timeout, a dropped
	// connection, a malformed answer): the provider may have started the
	// job. Reconcile before anything else.
	Unknown
)

func (k Kind) String() string {
	return [...]string{"retryable", "terminal", "refused", "unknown"}[k]
}

// Error is a provider's failure, classified.
type Error struct {
	Kind       Kind
	Code       string // the provider's code, or Tollgate's
	Message    string
	RetryAfter time.Duration // from Retry-After, when given
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%s): %s", e.Code, e.Kind, e.Message)
}

// Classify returns err as an *Error, a plain error counting as retryable.
func Classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: Retryable, Code: "timeout", Message: err.Error()}
	}
	return &Error{Kind: Retryable, Code: "provider_error", Message: err.Error()}
}

// Policies a request may rank candidates by.
const (
	Cheapest = "cheapest"
	Fastest  = "fastest"
	Balanced = "balanced"
)

// Request is what the router chooses for.
type Request struct {
	Model    string // a model, an alias, auto, auto:cheapest or auto:fastest
	Policy   string // overrides the one auto:... names; default cheapest
	Seconds  int
	Size     string
	Features []string // features every candidate must have
	// MaxCredits: candidates whose credit price is above it are left out
	// (a fallback never costs the user more than the quote); 0 no limit.
	MaxCredits       tollgate.Credits
	Providers        []string // only these, when set
	ExcludeProviders []string
	// Only, when set, is the one provider that may run it (a remix where
	// only the source's provider can).
	Only string
	// AnyHealth keeps candidates whose provider's breaker is open: to
	// tell "none for now" from "none at all".
	AnyHealth bool
	// Extension: Seconds are added to a video, by a provider that extends
	// (any of 4, 8, 12, 16, 20) or made as a clip of its own.
	Extension bool
}

// Candidate is one way to make a request.
type Candidate struct {
	Offer    pricing.Offer
	Provider Provider
	Seconds  int              // the duration asked of the provider
	Cost     tollgate.Money   // what the provider charges for it
	Credits  tollgate.Credits // what the user pays for its model
	Expected time.Duration    // expected time to make it
	Demo     bool             // the local renderer standing in for the model
}

// Pricer prices a request for the user in credits.
type Pricer func(ctx context.Context, r pricing.Request) (tollgate.Credits, error)

// Router ranks candidates. It is safe for concurrent use.
type Router struct {
	// Catalog returns the catalog in force (it may be reloaded).
	Catalog func() *pricing.Catalog
	// Providers are the providers configured, by name.
	Providers map[string]Provider
	// Local, when set, stands in for every model no configured provider
	// offers (demo mode), and runs the local provider's own offers.
	Local Provider
	Price Pricer
	Clock tollgate.Clock
	// BreakerFailures and BreakerOpen tune the circuit breakers (default
	// DefaultBreakerFailures and DefaultBreakerOpen).
	BreakerFailures int
	BreakerOpen     time.Duration

	mu       sync.Mutex
	breakers map[string]*breaker
	speed    map[string]time.Duration // provider/model → moving estimate
}

// CharacterProvider returns the provider a new character is made at:
// name when set, else the first by name of the configured providers that
// keep characters and offer a model that shows them (the local renderer in
// demo mode). ok is false when there is none.
func (r *Router) CharacterProvider(name string) (p CharacterMaker, provider string, demo, ok bool) {
	if r.Demo() && (name == "" || name == "local") {
		cm, ok := r.Local.(CharacterMaker)
		return cm, "local", true, ok
	}
	cat := r.Catalog()
	now := r.Clock.Now()
	keeps := map[string]bool{}
	for _, o := range cat.OfferList {
		if o.Has(pricing.FeatureCharacter) && !o.Retired(now) {
			keeps[o.Provider] = true
		}
	}
	names := slices.Sorted(maps.Keys(r.Providers))
	for _, n := range names {
		cm, isMaker := r.Providers[n].(CharacterMaker)
		if isMaker && keeps[n] && (name == "" || name == n) {
			return cm, n, false, true
		}
	}
	return nil, "", false, false
}

// Demo reports whether the local renderer stands in for models.
func (r *Router) Demo() bool { return r.Local != nil && len(r.Providers) == 0 }

// Candidates returns the ways to make q, best first by policy, and a
// reason when there are none. An error is a bad request (an unknown
// model) or a pricing failure.
func (r *Router) Candidates(ctx context.Context, q Request) ([]Candidate, error) {
	cat := r.Catalog()
	now := r.Clock.Now()
	policy := q.Policy
	models := []string{cat.Canonical(q.Model)}
	switch q.Model {
	case "", "auto", "auto:cheapest", "auto:fastest":
		if policy == "" && q.Model == "auto:fastest" {
			policy = Fastest
		}
		models = models[:0]
		for _, m := range cat.Models {
			if m.Product == tollgate.ProductVideo {
				models = append(models, m.ID)
			}
		}
	default:
		if m, ok := cat.Model(models[0]); !ok || m.Product != tollgate.ProductVideo {
			return nil, tollgate.FieldError("model", "unknown model %q", q.Model)
		}
	}
	if policy == "" {
		policy = Cheapest
	}
	var out []Candidate
	for _, model := range models {
		offers := r.offers(cat, model, now)
		if len(offers) == 0 {
			continue
		}
		credits, err := r.Price(ctx, pricing.Request{Product: tollgate.ProductVideo, Model: model, Seconds: q.Seconds, Size: q.Size, Extension: q.Extension})
		if err != nil {
			if tollgate.ErrorCode(err) == tollgate.CodeInvalidField {
				continue // this model cannot make it
			}
			return nil, err
		}
		if q.MaxCredits > 0 && credits > q.MaxCredits {
			continue
		}
		for _, o := range offers {
			c, ok := r.candidate(o, q, credits)
			if ok {
				out = append(out, c)
			}
		}
	}
	r.rank(out, policy)
	return out, nil
}

// offers returns the offers that may run model: the configured providers'
// and, in demo mode, the local renderer standing in.
func (r *Router) offers(cat *pricing.Catalog, model string, now time.Time) []pricing.Offer {
	var out []pricing.Offer
	for _, o := range cat.Offers(model, now) {
		if _, ok := r.Providers[o.Provider]; ok || (o.Provider == "local" && r.Local != nil) {
			out = append(out, o)
		}
	}
	if len(out) == 0 && r.Demo() {
		if m, ok := cat.Model(model); ok {
			out = append(out, pricing.Offer{Provider: "local", Model: m.ID, UpstreamModel: m.ID, Durations: m.Durations, Sizes: m.Sizes,
				Features: []string{pricing.FeatureRemix, pricing.FeatureEdit, pricing.FeatureExtend, pricing.FeatureImage, pricing.FeatureCharacter},
				Cost:     []pricing.Cost{{Amount: 0, Currency: "usd", PerSeconds: 1}}, ExpectedSeconds: 1})
		}
	}
	return out
}

func (r *Router) candidate(o pricing.Offer, q Request, credits tollgate.Credits) (Candidate, bool) {
	p := r.Providers[o.Provider]
	demo := false
	if p == nil && o.Provider == "local" {
		p, demo = r.Local, r.Demo()
	}
	switch {
	case p == nil,
		q.Only != "" && o.Provider != q.Only,
		len(q.Providers) > 0 && !slices.Contains(q.Providers, o.Provider),
		slices.Contains(q.ExcludeProviders, o.Provider),
		slices.ContainsFunc(q.Features, func(f string) bool { return !o.Has(f) }),
		o.ImageOnly && !slices.Contains(q.Features, pricing.FeatureImage),
		!slices.Contains(o.Sizes, q.Size),
		!q.AnyHealth && !r.healthy(o.Provider):
		return Candidate{}, false
	}
	secs, ok := o.Duration(q.Seconds)
	if q.Extension && o.Has(pricing.FeatureExtend) {
		secs, ok = q.Seconds, true // the provider extends by what is asked
	}
	if !ok {
		return Candidate{}, false
	}
	cost, ok := o.CostFor(secs, q.Size)
	if !ok {
		return Candidate{}, false
	}
	return Candidate{Offer: o, Provider: p, Seconds: secs, Cost: cost, Credits: credits, Expected: r.expected(o), Demo: demo}, true
}

// rank sorts cs by policy; ties keep catalog order.
func (r *Router) rank(cs []Candidate, policy string) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		switch policy {
		case Fastest:
			if a.Expected != b.Expected {
				return a.Expected < b.Expected
			}
			return a.Cost.Amount < b.Cost.Amount
		case Balanced: // cost times time: either halved is as good
			x, y := float64(a.Cost.Amount+1)*a.Expected.Seconds(), float64(b.Cost.Amount+1)*b.Expected.Seconds()
			if x != y {
				return x < y
			}
		}
		if a.Cost.Amount != b.Cost.Amount {
			return a.Cost.Amount < b.Cost.Amount
		}
		if a.Credits != b.Credits {
			return a.Credits < b.Credits
		}
		return a.Expected < b.Expected
	})
}

// Why says in a sentence why the first of cs was chosen.
func Why(cs []Candidate, policy string) string {
	if len(cs) == 0 {
		return "no provider can make this"
	}
	c := cs[0]
	var why string
	switch policy {
	case Fastest:
		why = fmt.Sprintf("fastest: about %s expected", c.Expected.Round(time.Second))
	case Balanced:
		why = "best cost times expected time"
	default:
		why = fmt.Sprintf("cheapest: %d %s for %d s", c.Cost.Amount, strings.ToUpper(c.Cost.Currency), c.Seconds)
	}
	if c.Demo {
		why += "; the local renderer stands in (no provider configured)"
	}
	return fmt.Sprintf("%s/%s: %s, of %d candidates", c.Offer.Provider, c.Offer.UpstreamModel, why, len(cs))
}
