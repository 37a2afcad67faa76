package httpapi

import (
	"net/http"
	"strings"
	"time"

	"tollgate"
	"tollgate/cameo"
)

type payoutRequest struct {
	AccountID string `json:"account_id" doc:"Required with an admin key. With an account key, its own."`
	Credits   amount `json:"credits" doc:"The earnings to pay out; default all of them. At least the rate's minimum."`
	Currency  string `json:"currency" doc:"The currency to be paid in; default the only one the operator set a rate for."`
}

func (payoutRequest) schemaName() string { return "CreatePayoutRequest" }

type payoutView struct {
	ID          string           `json:"id"`
	Object      string           `json:"object" const:"payout"`
	AccountID   string           `json:"account_id"`
	Credits     tollgate.Credits `json:"credits" doc:"The earnings paid out: they left the royalty grants when it was asked for."`
	Amount      tollgate.Money   `json:"amount" doc:"Their money at the payout rate then in force, rounded down."`
	RateVersion int              `json:"rate_version"`
	Status      string           `json:"status" enum:"pending,paid,failed" doc:"pending: on its way (a Stripe transfer) or waiting for the operator; failed: the credits came back."`
	Destination string           `json:"destination,omitempty" doc:"The Stripe connected account it goes to."`
	TransferID  string           `json:"transfer_id,omitempty"`
	Reference   string           `json:"reference,omitempty"`
	Failure     string           `json:"failure,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	SettledAt   *time.Time       `json:"settled_at,omitempty"`
}

func (payoutView) schemaName() string { return "Payout" }

func viewPayout(p tollgate.Payout) payoutView {
	return payoutView{ID: p.ID, Object: "payout", AccountID: p.AccountID, Credits: p.Credits, Amount: p.Amount, RateVersion: p.RateVersion,
		Status: string(p.Status), Destination: p.Destination, TransferID: p.TransferID, Reference: p.Reference, Failure: p.Failure,
		CreatedAt: p.CreatedAt, SettledAt: p.SettledAt}
}

type payoutPath struct {
	ID string `path:"payout_id" doc:"Payout id (po_...). Another account's is 404."`
}

func (s *Server) createPayout(r *http.Request, c *call, in *struct{ Body payoutRequest }) (payoutView, error) {
	if err := s.cameosOn(); err != nil {
		return payoutView{}, err
	}
	acct, err := c.bodyAccount(in.Body.AccountID)
	if err != nil {
		return payoutView{}, err
	}
	if _, err := s.l.Account(r.Context(), acct); err != nil {
		return payoutView{}, err
	}
	p := cameo.PayoutRequest{AccountID: acct, Currency: in.Body.Currency,
		Idempotency: c.idempotency(r, func(v any) any { return viewPayout(v.(tollgate.Payout)) })}
	if in.Body.Credits.set {
		if p.Credits, err = credits("credits", in.Body.Credits); err != nil {
			return payoutView{}, err
		}
	}
	po, err := s.Cameos.RequestPayout(r.Context(), p)
	if err != nil {
		return payoutView{}, err
	}
	return viewPayout(po), nil
}

func (s *Server) listPayouts(r *http.Request, c *call, in *struct {
	pageQuery
	AccountID string `query:"account_id" doc:"Required with an admin key. With an account key, its own."`
}) (listView[payoutView], error) {
	out := listView[payoutView]{Object: "list", Data: []payoutView{}}
	if err := s.cameosOn(); err != nil {
		return out, err
	}
	acct, err := c.bodyAccount(in.AccountID)
	if err != nil {
		return out, err
	}
	ps, err := s.Cameos.Payouts(r.Context(), acct, in.Cursor, in.Limit+1)
	if err != nil {
		return out, err
	}
	for i, p := range ps {
		if i == in.Limit {
			out.HasMore, out.NextCursor = true, ps[i-1].ID
			break
		}
		out.Data = append(out.Data, viewPayout(p))
	}
	return out, nil
}

func (s *Server) getPayout(r *http.Request, c *call, in *struct{ payoutPath }) (payoutView, error) {
	if err := s.cameosOn(); err != nil {
		return payoutView{}, err
	}
	po, err := s.Cameos.Payout(r.Context(), in.ID, owner(c))
	if err != nil {
		return payoutView{}, err
	}
	return viewPayout(po), nil
}

func (s *Server) executePayout(r *http.Request, c *call, in *struct {
	payoutPath
	Body emptyRequest `body:"optional"`
}) (payoutView, error) {
	if err := s.cameosOn(); err != nil {
		return payoutView{}, err
	}
	po, err := s.Cameos.ExecutePayout(r.Context(), in.ID, owner(c))
	if err != nil {
		return payoutView{}, err
	}
	return viewPayout(po), nil
}

type markPayoutRequest struct {
	Status    string `json:"status" required:"true" enum:"paid,failed"`
	Reference string `json:"reference" doc:"paid: the operator's reference of the payment made by hand."`
	Failure   string `json:"failure" doc:"failed: why; the credits return to the account's earnings."`
}

func (markPayoutRequest) schemaName() string { return "MarkPayoutRequest" }

func (s *Server) markPayout(r *http.Request, c *call, in *struct {
	payoutPath
	Body markPayoutRequest
}) (payoutView, error) {
	if err := s.cameosOn(); err != nil {
		return payoutView{}, err
	}
	po, err := s.Cameos.MarkPayout(r.Context(), in.ID, tollgate.PayoutStatus(in.Body.Status), in.Body.Reference, in.Body.Failure)
	if err != nil {
		return payoutView{}, err
	}
	return viewPayout(po), nil
}

type payoutRateRequest struct {
	Currency       string `json:"currency" required:"true" doc:"ISO 4217, lowercase: usd, eur, idr..."`
	MinorPerCredit int64  `json:"minor_per_credit" required:"true" minimum:"1" doc:"Minor units of the currency paid per credit of earnings (30: $0.30 a credit)."`
	Minimum        amount `json:"minimum" doc:"The least a payout may be, in credits; default 0."`
	EffectiveAt    string `json:"effective_at" format:"date-time" doc:"Default: now."`
}

func (payoutRateRequest) schemaName() string { return "PayoutRateRequest" }

type payoutRateView struct {
	Object         string           `json:"object" const:"payout_rate"`
	Currency       string           `json:"currency"`
	Version        int              `json:"version"`
	MinorPerCredit int64            `json:"minor_per_credit"`
	Minimum        tollgate.Credits `json:"minimum"`
	EffectiveAt    time.Time        `json:"effective_at"`
	CreatedAt      time.Time        `json:"created_at"`
}

func (payoutRateView) schemaName() string { return "PayoutRate" }

func viewRate(r tollgate.PayoutRate) payoutRateView {
	return payoutRateView{Object: "payout_rate", Currency: r.Currency, Version: r.Version, MinorPerCredit: r.MinorPerCredit, Minimum: r.Minimum,
		EffectiveAt: r.EffectiveAt, CreatedAt: r.CreatedAt}
}

func (s *Server) addPayoutRate(r *http.Request, c *call, in *struct{ Body payoutRateRequest }) (payoutRateView, error) {
	if err := s.cameosOn(); err != nil {
		return payoutRateView{}, err
	}
	b := in.Body
	rate := tollgate.PayoutRate{Currency: b.Currency, MinorPerCredit: b.MinorPerCredit}
	if b.Minimum.set {
		var err error
		if rate.Minimum, err = credits("minimum", b.Minimum); err != nil {
			return payoutRateView{}, err
		}
	}
	if t, err := parseTime("effective_at", b.EffectiveAt); err != nil {
		return payoutRateView{}, err
	} else if t != nil {
		rate.EffectiveAt = *t
	}
	got, err := s.Cameos.AddPayoutRate(r.Context(), rate)
	if err != nil {
		return payoutRateView{}, err
	}
	return viewRate(got), nil
}

func (s *Server) listPayoutRates(r *http.Request, c *call, in *struct{}) (listView[payoutRateView], error) {
	out := listView[payoutRateView]{Object: "list", Data: []payoutRateView{}}
	if err := s.cameosOn(); err != nil {
		return out, err
	}
	rs, err := s.Cameos.PayoutRates(r.Context())
	if err != nil {
		return out, err
	}
	for _, x := range rs {
		out.Data = append(out.Data, viewRate(x))
	}
	return out, nil
}

type destinationRequest struct {
	AccountID     string `json:"account_id" required:"true"`
	StripeAccount string `json:"stripe_account" required:"true" doc:"The Stripe connected account (acct_...) its payouts go to."`
}

func (destinationRequest) schemaName() string { return "PayoutDestinationRequest" }

type destinationView struct {
	Object        string `json:"object" const:"payout_destination"`
	AccountID     string `json:"account_id"`
	StripeAccount string `json:"stripe_account,omitempty"`
	OnboardingURL string `json:"onboarding_url,omitempty" doc:"Where the account's owner finishes onboarding with Stripe."`
}

func (destinationView) schemaName() string { return "PayoutDestination" }

func (s *Server) setDestination(r *http.Request, c *call, in *struct{ Body destinationRequest }) (destinationView, error) {
	if err := s.cameosOn(); err != nil {
		return destinationView{}, err
	}
	if _, err := s.l.Account(r.Context(), in.Body.AccountID); err != nil {
		return destinationView{}, err
	}
	if err := s.Cameos.SetDestination(r.Context(), in.Body.AccountID, in.Body.StripeAccount); err != nil {
		return destinationView{}, err
	}
	return destinationView{Object: "payout_destination", AccountID: in.Body.AccountID, StripeAccount: in.Body.StripeAccount}, nil
}

func (s *Server) onboard(r *http.Request, c *call, in *struct {
	Body struct {
		AccountID string `json:"account_id" doc:"Required with an admin key."`
	} `body:"optional"`
}) (destinationView, error) {
	if err := s.cameosOn(); err != nil {
		return destinationView{}, err
	}
	acct, err := c.bodyAccount(in.Body.AccountID)
	if err != nil {
		return destinationView{}, err
	}
	back := strings.TrimSuffix(s.baseURL(r), "/") + "/"
	stripeAcct, url, err := s.Cameos.Onboard(r.Context(), acct, back)
	if err != nil {
		return destinationView{}, err
	}
	return destinationView{Object: "payout_destination", AccountID: acct, StripeAccount: stripeAcct, OnboardingURL: url}, nil
}

func (s *Server) registerPayouts() {
	const tag = "cameos"
	handle(s, op{pattern: "POST /v1/payouts", id: "createPayout", tag: tag, status: http.StatusCreated, errors: []tollgate.Code{tollgate.CodeNotFound},
		summary: "Pay out earnings", description: "Earnings (royalty credits: fees of cameos and published videos) leave the account's grants " +
			"for the payouts book at the operator's rate in force, in one transaction with the payout. Where the account has a Stripe " +
			"connected account, the money is sent at once (once: the payout id is the transfer's idempotency key); a refusal fails the " +
			"payout and returns the credits; an unknown outcome leaves it pending (POST .../execute tries again). Otherwise it waits " +
			"for the operator. Send an Idempotency-Key to make a retry safe.",
		answer: "The payout."}, s.createPayout)
	handle(s, op{pattern: "GET /v1/payouts", id: "listPayouts", tag: tag, summary: "List payouts", answer: "A page."}, s.listPayouts)
	handle(s, op{pattern: "GET /v1/payouts/{payout_id}", id: "getPayout", tag: tag, summary: "Get a payout", answer: "The payout."}, s.getPayout)
	handle(s, op{pattern: "POST /v1/payouts/{payout_id}/execute", id: "executePayout", tag: tag, summary: "Send a pending payout again",
		description: "For a payout whose Stripe transfer's outcome was unknown: the same idempotency key, so Stripe sends it at most once.",
		answer:      "The payout."}, s.executePayout)
	handle(s, op{pattern: "POST /v1/payouts/{payout_id}/mark", id: "markPayout", tag: tag, who: adminOnly, errors: []tollgate.Code{tollgate.CodeConflict},
		summary: "Mark a payout paid or failed", description: "Admin key only: a payout made by hand was paid (with its reference) or failed " +
			"(its credits return to the account's earnings).", answer: "The payout."}, s.markPayout)
	handle(s, op{pattern: "POST /v1/payout_rates", id: "addPayoutRate", tag: tag, who: adminOnly, status: http.StatusCreated,
		summary: "Set a payout rate", description: "Admin key only: a new version of a currency's rate (minor units per credit, minimum), " +
			"in force from effective_at. A payout uses the version in force when it is asked for.", answer: "The rate version."}, s.addPayoutRate)
	handle(s, op{pattern: "GET /v1/payout_rates", id: "listPayoutRates", tag: tag, summary: "Payout rates", answer: "Every version."}, s.listPayoutRates)
	handle(s, op{pattern: "POST /v1/payouts/destination", id: "setPayoutDestination", tag: tag, who: adminOnly, errors: []tollgate.Code{tollgate.CodeNotFound},
		summary: "Set where an account's payouts go", description: "Admin key only: the Stripe connected account its payouts are sent to.",
		answer: "The destination."}, s.setDestination)
	handle(s, op{pattern: "POST /v1/payouts/onboarding", id: "startPayoutOnboarding", tag: tag, errors: []tollgate.Code{tollgate.CodeUnavailable},
		summary: "Onboard for payouts with Stripe", description: "Makes the account a Stripe Express connected account (once) and answers the " +
			"Account Link where its owner finishes onboarding; its payouts then go there.", answer: "The destination and its onboarding URL."}, s.onboard)
}
