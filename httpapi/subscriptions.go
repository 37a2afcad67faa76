package httpapi

import (
	"net/http"
	"strings"
	"time"

	"tollgate"
	"tollgate/payment"
)

type planPriceView struct {
	Object      string           `json:"object" const:"plan_price"`
	Plan        string           `json:"plan"`
	Interval    string           `json:"interval" enum:"month,year"`
	Prices      []tollgate.Money `json:"prices" doc:"Its price in each currency it is sold in, minor units as Stripe counts them; the first is its default."`
	StripePrice string           `json:"stripe_price,omitempty" doc:"The Stripe Price a checkout uses, when the operator made one."`
	Active      bool             `json:"active" doc:"Sold to new subscribers; subscribers keep theirs either way."`
	CreatedAt   time.Time        `json:"created_at"`
}

func viewPlanPrice(p tollgate.PlanPrice) planPriceView {
	prices := p.Prices
	if prices == nil {
		prices = []tollgate.Money{}
	}
	return planPriceView{"plan_price", p.Plan, p.Interval, prices, p.StripePrice, p.Active, p.CreatedAt}
}

type planPriceRequest struct {
	Interval    string           `json:"interval" enum:"month,year" required:"true"`
	Prices      []tollgate.Money `json:"prices" required:"true" doc:"1 to 20 prices, one per currency, minor units as Stripe counts them (idr: hundredths, Rp 65,000 is 6500000); the first is the default."`
	StripePrice string           `json:"stripe_price" doc:"A Stripe Price (price_...) to sell through instead of Tollgate's amounts, e.g. one with currency_options; plan changes in the customer portal are matched to plans by it."`
	Active      *bool            `json:"active" doc:"Default true."`
}

func (s *Server) putPlanPrice(r *http.Request, c *call, in *struct {
	Plan string `path:"plan" doc:"The plan's name, such as pro."`
	Body planPriceRequest
}) (planPriceView, error) {
	active := in.Body.Active == nil || *in.Body.Active
	p := tollgate.PlanPrice{Plan: in.Plan, Interval: in.Body.Interval, Prices: in.Body.Prices, StripePrice: in.Body.StripePrice, Active: active}
	view := func(v any) any { return viewPlanPrice(v.(tollgate.PlanPrice)) }
	out, err := s.Payments.PutPlanPrice(r.Context(), p, c.idempotency(r, view))
	if err != nil {
		return planPriceView{}, err
	}
	return viewPlanPrice(out), nil
}

type subscriptionView struct {
	ID                string        `json:"id"`
	Object            string        `json:"object" const:"subscription"`
	AccountID         string        `json:"account_id"`
	Plan              string        `json:"plan"`
	Interval          string        `json:"interval" enum:"month,year"`
	Currency          string        `json:"currency"`
	Status            string        `json:"status" enum:"incomplete,incomplete_expired,trialing,active,past_due,canceled,unpaid,paused" doc:"As Stripe has it."`
	Entitled          bool          `json:"entitled" doc:"The account is on plan through this subscription."`
	CancelAtPeriodEnd bool          `json:"cancel_at_period_end" doc:"Cancelled by the buyer: the plan stays until current_period_end."`
	CurrentPeriodEnd  time.Time     `json:"current_period_end"`
	PaidThrough       *time.Time    `json:"paid_through" doc:"The end of the last period a paid invoice covered."`
	DowngradeAt       *time.Time    `json:"downgrade_at" doc:"While a renewal is unpaid (past_due): when the account goes back to fallback_plan unless it is paid."`
	FallbackPlan      string        `json:"fallback_plan" doc:"The plan the account returns to when the subscription ends."`
	EndedAt           *time.Time    `json:"ended_at"`
	CreatedAt         time.Time     `json:"created_at"`
	Invoices          []invoiceView `json:"invoices,omitempty" doc:"Its invoices, oldest first (on GET of one subscription)."`
}

type invoiceView struct {
	ID          string    `json:"id"`
	Object      string    `json:"object" const:"invoice"`
	Reason      string    `json:"reason" doc:"Stripe's billing_reason: subscription_create (the first payment), subscription_cycle (a renewal), subscription_update (a proration)..."`
	Status      string    `json:"status" doc:"paid, open (a payment attempt failed), void or uncollectible."`
	Paid        paidView  `json:"amounts"`
	PDFURL      string    `json:"invoice_pdf"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	CreatedAt   time.Time `json:"created_at"`
}

func viewSubscription(sub tollgate.Subscription, invs []tollgate.Invoice) subscriptionView {
	v := subscriptionView{sub.ID, "subscription", sub.AccountID, sub.Plan, sub.Interval, sub.Currency, string(sub.Status), sub.Entitled,
		sub.CancelAtPeriodEnd, sub.PeriodEnd, sub.PaidThrough, nil, sub.FallbackPlan, sub.EndedAt, sub.CreatedAt, nil}
	if sub.Status == tollgate.SubscriptionPastDue && sub.Entitled {
		v.DowngradeAt = sub.GraceUntil
	}
	for _, inv := range invs {
		v.Invoices = append(v.Invoices, invoiceView{inv.ID, "invoice", inv.Reason, inv.Status, *viewPaid(&inv.Paid), inv.PDFURL,
			inv.PeriodStart, inv.PeriodEnd, inv.CreatedAt})
	}
	return v
}

type subscribeRequest struct {
	AccountID string `json:"account_id" doc:"Required with an admin key; with an account key, absent or the key's own account."`
	Plan      string `json:"plan" required:"true" doc:"A plan GET /v1/plans lists with a price."`
	Interval  string `json:"interval" enum:"month,year" doc:"Default month."`
	Currency  string `json:"currency" doc:"One the plan is sold in; default the account's currency where the plan is sold in it, else the plan's first."`
}

type subscribeView struct {
	Object      string         `json:"object" const:"subscription_checkout"`
	AccountID   string         `json:"account_id"`
	Plan        string         `json:"plan"`
	Interval    string         `json:"interval"`
	Price       tollgate.Money `json:"price"`
	TaxBehavior string         `json:"tax_behavior" enum:"inclusive,exclusive,none"`
	CheckoutURL string         `json:"checkout_url" doc:"Send the buyer here to pay. The account is on the plan as soon as Stripe reports the subscription paid. In demo mode the subscription has started already (no money moves) and this page says so."`
}

func (s *Server) createSubscription(r *http.Request, c *call, in *struct{ Body subscribeRequest }) (subscribeView, error) {
	acct, err := c.bodyAccount(in.Body.AccountID)
	if err != nil {
		return subscribeView{}, err
	}
	if in.Body.Plan == "" {
		return subscribeView{}, tollgate.FieldError("plan", "is required; see GET /v1/plans")
	}
	if in.Body.Currency != "" && !tollgate.ValidCurrency(in.Body.Currency) {
		return subscribeView{}, tollgate.FieldError("currency", "must be a lowercase ISO 4217 code such as eur")
	}
	view := func(v any) any {
		st := v.(payment.SubscribeStarted)
		return subscribeView{"subscription_checkout", acct, st.Plan, st.Interval, st.Price, taxBehavior(st.TaxBehavior), s.absolute(r, st.URL)}
	}
	st, err := s.Payments.Subscribe(r.Context(), payment.SubscribeParams{AccountID: acct, Plan: in.Body.Plan, Interval: in.Body.Interval,
		Currency: in.Body.Currency}, c.idempotency(r, view))
	if err != nil {
		return subscribeView{}, err
	}
	return view(st).(subscribeView), nil
}

func (s *Server) listSubscriptions(r *http.Request, c *call, in *struct {
	pageQuery
	AccountID string `query:"account_id" doc:"With an admin key, one account's (default every account's). With an account key, its own."`
}) (listView[subscriptionView], error) {
	out := listView[subscriptionView]{Object: "list", Data: []subscriptionView{}}
	acct := in.AccountID
	if !c.key.Admin() {
		if acct != "" && acct != c.key.AccountID {
			return out, tollgate.Errorf(tollgate.CodeNotFound, "account %s not found", acct)
		}
		acct = c.key.AccountID
	}
	if len(acct) > 200 || !tollgate.CleanText(acct) {
		return out, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", acct)
	}
	subs, err := s.Payments.Subscriptions(r.Context(), acct, in.Cursor, in.Limit+1)
	if err != nil {
		return out, err
	}
	for i, sub := range subs {
		if i == in.Limit {
			out.HasMore, out.NextCursor = true, subs[i-1].ID
			break
		}
		out.Data = append(out.Data, viewSubscription(sub, nil))
	}
	return out, nil
}

func (s *Server) getSubscription(r *http.Request, c *call, in *struct {
	ID string `path:"id" doc:"Subscription id (Stripe's sub_...). With an account key, only its own."`
}) (subscriptionView, error) {
	sub, invs, err := s.Payments.Subscription(r.Context(), in.ID, owner(c))
	if err != nil {
		return subscriptionView{}, err
	}
	v := viewSubscription(sub, invs)
	if v.Invoices == nil {
		v.Invoices = []invoiceView{}
	}
	return v, nil
}

func (s *Server) cancelSubscription(r *http.Request, c *call, in *struct {
	ID   string       `path:"id" doc:"Subscription id. With an account key, only its own."`
	Body emptyRequest `body:"optional"`
}) (subscriptionView, error) {
	sub, err := s.Payments.CancelSubscription(r.Context(), in.ID, owner(c))
	if err != nil {
		return subscriptionView{}, err
	}
	return viewSubscription(sub, nil), nil
}

type portalView struct {
	Object    string `json:"object" const:"billing_portal"`
	AccountID string `json:"account_id"`
	URL       string `json:"url" doc:"Stripe's customer portal: the buyer changes plan or payment method, or cancels (the plan stays until the period ends)."`
}

func (s *Server) createPortal(r *http.Request, c *call, in *struct {
	Body struct {
		AccountID string `json:"account_id" doc:"Required with an admin key."`
		ReturnURL string `json:"return_url" doc:"Where the portal sends the buyer back; default this server's home page."`
	} `body:"optional"`
}) (portalView, error) {
	acct, err := c.bodyAccount(in.Body.AccountID)
	if err != nil {
		return portalView{}, err
	}
	back := in.Body.ReturnURL
	if back == "" {
		back = strings.TrimSuffix(s.baseURL(r), "/") + "/"
	} else if !strings.HasPrefix(back, "https://") && !strings.HasPrefix(back, "http://") || len(back) > 2000 || !tollgate.CleanText(back) {
		return portalView{}, tollgate.FieldError("return_url", "must be an absolute http(s) URL of at most 2,000 characters")
	}
	u, err := s.Payments.Portal(r.Context(), acct, back)
	if err != nil {
		return portalView{}, err
	}
	return portalView{"billing_portal", acct, u}, nil
}

func (s *Server) registerSubscriptions() {
	const tag = "plans"
	handle(s, op{pattern: "POST /v1/plans/{plan}/prices", id: "putPlanPrice", tag: tag, who: adminOnly, errors: []tollgate.Code{tollgate.CodeNotFound},
		summary: "Set a plan's price", description: "Admin. What a plan costs a subscriber by the month or the year, in each currency, or as a " +
			"Stripe Price the operator made. Subscribers keep what they pay until they change plan.", answer: "The plan's price."}, s.putPlanPrice)
	handle(s, op{pattern: "POST /v1/subscriptions", id: "createSubscription", tag: tag, status: http.StatusCreated,
		errors:  []tollgate.Code{tollgate.CodeAccountSuspended, tollgate.CodeNotFound, tollgate.CodeConflict, tollgate.CodeUnavailable},
		summary: "Subscribe to a plan", description: "Starts Stripe Checkout in subscription mode (in demo mode, a subscription at once, renewed each period without payment). The account is on the plan as soon as Stripe " +
			"reports the subscription paid (an upgrade applies at once, a downgrade from the next local day); renewals keep it there; a " +
			"cancellation takes effect at the period's end; an unpaid renewal keeps the plan through the grace period, announced by a " +
			"subscription.payment_failed event, then the account returns to its fallback plan. An account that subscribes already " +
			"changes or cancels in the customer portal (409). Send an Idempotency-Key to make a retry give the same checkout. Needs Stripe, or demo mode.",
		answer: "Where to pay."}, s.createSubscription)
	handle(s, op{pattern: "GET /v1/subscriptions", id: "listSubscriptions", tag: tag, summary: "List subscriptions",
		description: "With an admin key, every account's or one's; with an account key, its own. By id, a page at a time.", answer: "A page."}, s.listSubscriptions)
	handle(s, op{pattern: "GET /v1/subscriptions/{id}", id: "getSubscription", tag: tag, summary: "Get a subscription",
		description: "With its invoices: net, tax, gross, the receipt and the invoice's page and PDF.", answer: "The subscription."}, s.getSubscription)
	handle(s, op{pattern: "POST /v1/subscriptions/{id}/cancel", id: "cancelSubscription", tag: tag, errors: []tollgate.Code{tollgate.CodeConflict, tollgate.CodeUnavailable},
		summary: "Cancel a subscription", description: "At the end of its period: the account keeps the plan until then " +
			"(cancel_at_period_end, and the event subscription.cancel_scheduled with ends_at), then returns to its fallback plan. " +
			"Through Stripe, Stripe is asked and its answer applied at once. Cancelling again changes nothing; an ended subscription is 409.",
		answer: "The subscription."}, s.cancelSubscription)
	handle(s, op{pattern: "POST /v1/subscriptions/portal", id: "createBillingPortal", tag: tag, errors: []tollgate.Code{tollgate.CodeNotFound, tollgate.CodeUnavailable},
		summary: "Open the customer portal", description: "A Stripe customer portal link for the account's buyer: change plan or payment method, " +
			"see invoices, cancel. Needs an account that subscribed.", answer: "The portal's link."}, s.createPortal)
}
