package payment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"tollgate"
	"tollgate/ledger"
	"tollgate/pricing"
	"tollgate/store/record"
)

// DefaultGrace is how long a subscription whose renewal is unpaid keeps
// its plan when the operator sets no other grace period.
const DefaultGrace = 7 * 24 * time.Hour

// ErrSubscriptionsUnavailable is returned where a subscription needs Stripe
// and the server has none.
var ErrSubscriptionsUnavailable = tollgate.Errorf(tollgate.CodeForbidden,
	"plans are sold as Stripe subscriptions and this server has no Stripe (TOLLGATE_STRIPE_SECRET_KEY); an admin can set an account's plan with POST /v1/accounts/{id}")

func (s *Service) stripe() (*Stripe, error) {
	st, ok := s.Provider.(*Stripe)
	if !ok || st == nil {
		return nil, ErrSubscriptionsUnavailable
	}
	return st, nil
}

// PlanPrices lists what every plan costs per interval.
func (s *Service) PlanPrices(ctx context.Context) ([]tollgate.PlanPrice, error) {
	var ps []tollgate.PlanPrice
	err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		ps, err = tx.PlanPrices(ctx)
		return err
	})
	return ps, err
}

// PutPlanPrice sets what a plan costs per interval: in each currency, and
// optionally as a Stripe Price the operator made. Subscribers keep what
// they pay until they change plan. It fails with invalid_field naming the
// field.
func (s *Service) PutPlanPrice(ctx context.Context, p tollgate.PlanPrice, k *ledger.Idempotency) (tollgate.PlanPrice, error) {
	if p.Interval != tollgate.IntervalMonth && p.Interval != tollgate.IntervalYear {
		return p, tollgate.FieldError("interval", "must be month or year, not %q", p.Interval)
	}
	if len(p.Prices) == 0 {
		return p, tollgate.FieldError("prices", "must list 1 to 20 prices, e.g. [{\"currency\": \"usd\", \"amount\": 1000}]")
	}
	if err := pricing.CheckPrices(p.Prices); err != nil {
		return p, err
	}
	if p.StripePrice != "" && (!strings.HasPrefix(p.StripePrice, "price_") || len(p.StripePrice) > 200 || !tollgate.CleanText(p.StripePrice)) {
		return p, tollgate.FieldError("stripe_price", "must be a Stripe Price id (price_...) or empty")
	}
	p.CreatedAt = s.Clock.Now()
	vs, err := s.Ledger.Plans(ctx)
	if err != nil {
		return p, err
	}
	known := false
	for _, v := range vs {
		known = known || v.Plan == p.Plan
	}
	if !known { // plans are never deleted
		return p, tollgate.Errorf(tollgate.CodeNotFound, "plan %q not found; create it first with POST /v1/plans/%s/versions", p.Plan, p.Plan)
	}
	res, err := s.Ledger.WriteIdempotent(ctx, k, func(tx record.Tx) (any, error) {
		ps, err := tx.PlanPrices(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range ps {
			if o.StripePrice != "" && o.StripePrice == p.StripePrice && (o.Plan != p.Plan || o.Interval != p.Interval) {
				return nil, tollgate.FieldError("stripe_price", "%s is already the price of plan %s (%s)", p.StripePrice, o.Plan, o.Interval)
			}
			if o.Plan == p.Plan && o.Interval == p.Interval {
				p.CreatedAt = o.CreatedAt
			}
		}
		if err := tx.PlanPricePut(ctx, p); err != nil {
			return nil, err
		}
		return p, s.Ledger.Audit(ctx, tx, "plan_price.put", "", p.Plan, map[string]any{"interval": p.Interval, "prices": p.Prices,
			"stripe_price": p.StripePrice, "active": p.Active})
	})
	if err != nil {
		return tollgate.PlanPrice{}, err
	}
	s.mu.Lock()
	s.soldAt = time.Time{}
	s.mu.Unlock()
	return res.(tollgate.PlanPrice), nil
}

// SubscribeParams are the arguments of Subscribe.
type SubscribeParams struct {
	AccountID, Plan string
	Interval        string // default month
	// Currency is the currency to pay in; "" for the account's when the
	// plan is sold in it, else the plan's default.
	Currency string
}

// SubscribeStarted is a subscription checkout: where the buyer pays, and
// what.
type SubscribeStarted struct {
	URL, SessionID string
	Plan, Interval string
	Price          tollgate.Money
	TaxBehavior    tollgate.TaxBehavior
}

// Subscribe starts a Stripe Checkout in subscription mode for a plan: the
// account is put on the plan when Stripe reports the subscription paid
// (its events, or the reconciliation). An account with a subscription
// that has not ended changes or cancels it in the customer portal
// instead (conflict). With k, a retry gives the same checkout.
func (s *Service) Subscribe(ctx context.Context, p SubscribeParams, k *ledger.Idempotency) (SubscribeStarted, error) {
	st, _ := s.Provider.(*Stripe)
	_, demo := s.Provider.(Dev)
	if st == nil && !demo {
		return SubscribeStarted{}, ErrSubscriptionsUnavailable
	}
	p.Interval = cmp.Or(p.Interval, tollgate.IntervalMonth)
	acct, err := s.Ledger.Account(ctx, p.AccountID)
	if err != nil {
		return SubscribeStarted{}, err
	}
	if acct.Status != tollgate.AccountActive {
		return SubscribeStarted{}, tollgate.Errorf(tollgate.CodeAccountSuspended, "account %s is %s and may not subscribe", acct.ID, acct.Status)
	}
	prices, err := s.PlanPrices(ctx)
	if err != nil {
		return SubscribeStarted{}, err
	}
	var pp *tollgate.PlanPrice
	for i := range prices {
		if prices[i].Plan == p.Plan && prices[i].Interval == p.Interval && prices[i].Active {
			pp = &prices[i]
		}
	}
	if pp == nil {
		return SubscribeStarted{}, tollgate.FieldError("plan", "plan %q is not sold by the %s; see GET /v1/plans for the plans and intervals sold", p.Plan, p.Interval)
	}
	currency := p.Currency
	if currency == "" {
		if _, ok := pp.PriceIn(acct.Currency); ok && acct.Currency != "" {
			currency = acct.Currency
		}
	}
	price, ok := pp.PriceIn(currency)
	if !ok {
		return SubscribeStarted{}, tollgate.FieldError("currency", "plan %s is sold in %s, not %q", p.Plan, strings.Join(pp.Currencies(), ", "), currency)
	}
	subs, err := s.Subscriptions(ctx, acct.ID, "", 0)
	if err != nil {
		return SubscribeStarted{}, err
	}
	customer := ""
	for _, sub := range subs {
		customer = cmp.Or(sub.Customer, customer)
		if demo && k != nil && sub.ID == demoID(k) { // made by an earlier attempt with the same key
			return SubscribeStarted{URL: "/checkout/subscribed", Plan: sub.Plan, Interval: sub.Interval, Price: price, TaxBehavior: tollgate.TaxNone}, nil
		}
		if sub.EndedAt == nil && sub.Status != tollgate.SubscriptionIncomplete {
			return SubscribeStarted{}, tollgate.Errorf(tollgate.CodeConflict,
				"account %s already subscribes to %s (%s, %s); change or cancel it in the customer portal: POST /v1/subscriptions/portal", acct.ID, sub.Plan, sub.ID, sub.Status)
		}
	}
	if demo {
		return s.demoSubscribe(ctx, acct.ID, pp, price, k)
	}
	tax := st.Tax.Behavior(price.Currency)
	base := strings.TrimSuffix(st.BaseURL, "/")
	meta := map[string]string{"account_id": acct.ID, "plan": pp.Plan, "interval": pp.Interval}
	cp := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		ClientReferenceID: stripe.String(acct.ID),
		SuccessURL:        stripe.String(base + "/checkout/subscribed"),
		CancelURL:         stripe.String(base + "/checkout/subscribe-cancelled"),
		Currency:          stripe.String(price.Currency),
		Metadata:          meta,
		SubscriptionData:  &stripe.CheckoutSessionCreateSubscriptionDataParams{Metadata: meta},
	}
	item := &stripe.CheckoutSessionCreateLineItemParams{Quantity: stripe.Int64(1)}
	if pp.StripePrice != "" {
		item.Price = stripe.String(pp.StripePrice)
	} else {
		item.PriceData = &stripe.CheckoutSessionCreateLineItemPriceDataParams{
			Currency:    stripe.String(price.Currency),
			UnitAmount:  stripe.Int64(price.Amount),
			Recurring:   &stripe.CheckoutSessionCreateLineItemPriceDataRecurringParams{Interval: stripe.String(pp.Interval)},
			ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String("Plan " + pp.Plan)},
		}
		if tax != tollgate.TaxNone {
			item.PriceData.TaxBehavior = stripe.String(string(tax))
		}
	}
	cp.LineItems = []*stripe.CheckoutSessionCreateLineItemParams{item}
	if tax != tollgate.TaxNone {
		cp.AutomaticTax = &stripe.CheckoutSessionCreateAutomaticTaxParams{Enabled: stripe.Bool(true)}
	}
	if customer != "" {
		cp.Customer = stripe.String(customer)
	}
	key := "subscribe-" + tollgate.NewID("s")
	if k != nil {
		key = "subscribe-" + orderIDFor(k)
	}
	cp.SetIdempotencyKey(key)
	cctx, cancel := context.WithTimeout(ctx, StripeCallTimeout)
	defer cancel()
	sess, err := st.api.CreateCheckoutSession(cctx, cp)
	if err != nil {
		return SubscribeStarted{}, tollgate.Errorf(tollgate.CodeUnavailable, "Stripe could not start the subscription's checkout (%v); nothing was charged, retry shortly", err)
	}
	out := SubscribeStarted{URL: sess.URL, SessionID: sess.ID, Plan: pp.Plan, Interval: pp.Interval, Price: price, TaxBehavior: tax}
	if k == nil {
		return out, nil
	}
	res, err := s.Ledger.WriteIdempotent(ctx, k, func(record.Tx) (any, error) { return out, nil })
	if err != nil {
		return SubscribeStarted{}, err
	}
	return res.(SubscribeStarted), nil
}

// demoSubscribe is Subscribe on the development provider (demo mode): no
// money moves and no page is needed, so the subscription starts at once,
// paid through its first period; the sweep renews it at each period's end
// until it is cancelled (CancelSubscription). With k, a retry finds the
// subscription the first attempt made.
func (s *Service) demoSubscribe(ctx context.Context, accountID string, pp *tollgate.PlanPrice, price tollgate.Money, k *ledger.Idempotency) (SubscribeStarted, error) {
	id := tollgate.NewID("sub_dev")
	if k != nil {
		id = demoID(k)
	}
	out := SubscribeStarted{URL: "/checkout/subscribed", Plan: pp.Plan, Interval: pp.Interval, Price: price, TaxBehavior: tollgate.TaxNone}
	now := s.Clock.Now()
	end := nextPeriod(now, pp.Interval)
	sub := tollgate.Subscription{ID: id, AccountID: accountID, Provider: "dev", Plan: pp.Plan, Interval: pp.Interval, Currency: price.Currency,
		Status: tollgate.SubscriptionActive, PeriodStart: now, PeriodEnd: end, PaidThrough: &end, StateAt: now}
	if _, err := s.Ledger.ApplySubscription(ctx, ledger.SubscriptionParams{Sub: sub, Grace: DefaultGrace}); err != nil {
		return SubscribeStarted{}, err
	}
	return out, nil
}

// demoID is the id of the demo subscription a Subscribe with
// Idempotency-Key k makes.
func demoID(k *ledger.Idempotency) string {
	return "sub_dev_" + strings.TrimPrefix(orderIDFor(k), "order_k")
}

// nextPeriod is when a period of interval that starts at from ends.
func nextPeriod(from time.Time, interval string) time.Time {
	if interval == tollgate.IntervalYear {
		return from.AddDate(1, 0, 0)
	}
	return from.AddDate(0, 1, 0)
}

// CancelSubscription cancels a subscription at the end of its period: the
// account keeps its plan until then (subscription.cancel_scheduled says
// when). Through Stripe it asks Stripe and applies Stripe's answer at once
// (the event that follows changes nothing more); a demo subscription is
// cancelled here. Cancelling again changes nothing. It fails with
// not_found (another account's, with accountID set) and conflict for one
// that ended.
func (s *Service) CancelSubscription(ctx context.Context, id, accountID string) (tollgate.Subscription, error) {
	sub, _, err := s.Subscription(ctx, id, accountID)
	if err != nil {
		return sub, err
	}
	switch {
	case sub.EndedAt != nil || sub.Status.Ended():
		return sub, tollgate.Errorf(tollgate.CodeConflict, "subscription %s has ended (%s); start a new one with POST /v1/subscriptions", sub.ID, sub.Status)
	case sub.CancelAtPeriodEnd:
		return sub, nil
	case sub.Provider == "dev":
		sub.CancelAtPeriodEnd, sub.StateAt = true, s.Clock.Now()
		if _, err := s.Ledger.ApplySubscription(ctx, ledger.SubscriptionParams{Sub: sub, Grace: DefaultGrace}); err != nil {
			return sub, err
		}
	default:
		st, ok := s.Provider.(*Stripe)
		if !ok || st == nil || sub.Provider != "stripe" {
			return sub, tollgate.Errorf(tollgate.CodeConflict, "subscription %s was sold through %s, which this server is not configured for", sub.ID, sub.Provider)
		}
		cctx, cancel := context.WithTimeout(ctx, StripeCallTimeout)
		_, err := st.api.CancelAtPeriodEnd(cctx, sub.ID)
		cancel()
		if err != nil {
			return sub, tollgate.Errorf(tollgate.CodeUnavailable, "Stripe could not cancel subscription %s (%v); nothing changed, try again", sub.ID, err)
		}
		var about eventAbout
		if _, err := s.syncSubscription(ctx, st, sub.ID, "", &about); err != nil {
			// Cancelled at Stripe: its event applies it shortly.
			return sub, tollgate.Errorf(tollgate.CodeUnavailable, "Stripe cancelled subscription %s, but its state could not be read back (%v); Stripe's event applies it shortly", sub.ID, err)
		}
	}
	sub, _, err = s.Subscription(ctx, id, accountID)
	return sub, err
}

// Portal returns a Stripe customer portal link where the account's buyer
// changes plan, payment method or cancels; returnURL is where the portal
// sends them back. It fails with not_found for an account that never
// subscribed.
func (s *Service) Portal(ctx context.Context, accountID, returnURL string) (string, error) {
	if _, demo := s.Provider.(Dev); demo {
		return "", tollgate.Errorf(tollgate.CodeForbidden, "the customer portal is Stripe's and this server is in demo mode: cancel with POST /v1/subscriptions/{id}/cancel")
	}
	st, err := s.stripe()
	if err != nil {
		return "", err
	}
	if _, err := s.Ledger.Account(ctx, accountID); err != nil {
		return "", err
	}
	subs, err := s.Subscriptions(ctx, accountID, "", 0)
	if err != nil {
		return "", err
	}
	customer := ""
	for _, sub := range subs {
		customer = cmp.Or(sub.Customer, customer)
	}
	if customer == "" {
		return "", tollgate.Errorf(tollgate.CodeNotFound, "account %s has no subscription; start one with POST /v1/subscriptions", accountID)
	}
	ctx, cancel := context.WithTimeout(ctx, StripeCallTimeout)
	defer cancel()
	ps, err := st.api.CreatePortalSession(ctx, &stripe.BillingPortalSessionCreateParams{Customer: stripe.String(customer), ReturnURL: stripe.String(returnURL)})
	if err != nil {
		return "", tollgate.Errorf(tollgate.CodeUnavailable, "Stripe could not open the customer portal (%v); retry shortly", err)
	}
	return ps.URL, nil
}

// Subscriptions pages through subscriptions by id: one account's, or all
// (accountID "").
func (s *Service) Subscriptions(ctx context.Context, accountID, after string, limit int) ([]tollgate.Subscription, error) {
	var subs []tollgate.Subscription
	err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		subs, err = tx.SubscriptionList(ctx, record.SubscriptionListParams{AccountID: accountID, After: after, Limit: limit})
		return err
	})
	return subs, err
}

// OpenSubscriptions lists an account's subscriptions that have not ended;
// plan is the account's plan: one no subscription sells (the plans of
// most accounts) has none to read, which a balance, read often, skips.
func (s *Service) OpenSubscriptions(ctx context.Context, accountID, plan string) ([]tollgate.Subscription, error) {
	sold, err := s.soldPlans(ctx)
	if err != nil || !sold[plan] {
		return nil, err
	}
	var subs []tollgate.Subscription
	err = s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		subs, err = tx.SubscriptionList(ctx, record.SubscriptionListParams{AccountID: accountID, Open: true, Limit: 10})
		return err
	})
	return subs, err
}

// soldPlans are the plans with a price (active or not: subscribers keep
// theirs), cached as packs are.
func (s *Service) soldPlans(ctx context.Context) (map[string]bool, error) {
	s.mu.Lock()
	if time.Since(s.soldAt) < packCacheTTL {
		sold := s.sold
		s.mu.Unlock()
		return sold, nil
	}
	s.mu.Unlock()
	ps, err := s.PlanPrices(ctx)
	if err != nil {
		return nil, err
	}
	sold := map[string]bool{}
	for _, p := range ps {
		sold[p.Plan] = true
	}
	s.mu.Lock()
	s.sold, s.soldAt = sold, time.Now()
	s.mu.Unlock()
	return sold, nil
}

// Subscription returns a subscription and its invoices; with accountID
// set, another account's is not found.
func (s *Service) Subscription(ctx context.Context, id, accountID string) (tollgate.Subscription, []tollgate.Invoice, error) {
	var sub tollgate.Subscription
	var invs []tollgate.Invoice
	if !tollgate.CleanText(id) || len(id) > 200 {
		return sub, nil, tollgate.Errorf(tollgate.CodeNotFound, "subscription %q not found", id)
	}
	err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		if sub, err = tx.SubscriptionByID(ctx, id); err != nil {
			return err
		}
		invs, err = tx.InvoiceList(ctx, id)
		return err
	})
	if errors.Is(err, tollgate.ErrNotFound) || (err == nil && accountID != "" && sub.AccountID != accountID) {
		return tollgate.Subscription{}, nil, tollgate.Errorf(tollgate.CodeNotFound, "subscription %s not found", id)
	}
	return sub, invs, err
}

// syncSubscription fetches a subscription from Stripe (and the invoice
// invoiceID of it, when set) and applies its state: whatever event
// announced it, in whatever order events came, what is applied is Stripe's
// state when fetched, and applying it again changes nothing. Within this
// process one subscription is fetched and applied at a time; across
// processes a state fetched earlier than the one stored is not applied
// over it (tollgate.Subscription.StateAt).
func (s *Service) syncSubscription(ctx context.Context, st *Stripe, id, invoiceID string, about *eventAbout) (string, error) {
	about.object = cmp.Or(invoiceID, id)
	done, err := s.subs.Enter(ctx, id)
	if err != nil {
		return "", err
	}
	defer done()
	var inv *tollgate.Invoice
	if invoiceID != "" {
		cctx, cancel := context.WithTimeout(ctx, StripeCallTimeout)
		full, err := st.api.Invoice(cctx, invoiceID)
		cancel()
		if permanent(err) {
			return fmt.Sprintf("UNMATCHED: Stripe refuses invoice %s (%v); nothing changed", invoiceID, err), nil
		}
		if err != nil {
			return "", tollgate.Errorf(tollgate.CodeUnavailable, "Stripe could not be asked for invoice %s (%v); retry later", invoiceID, err)
		}
		rec, subID := invoiceOf(full)
		if subID != id {
			return fmt.Sprintf("UNMATCHED: invoice %s bills subscription %q, not %s; nothing changed", invoiceID, subID, id), nil
		}
		inv = &rec
	}
	stateAt := s.Clock.Now()
	cctx, cancel := context.WithTimeout(ctx, StripeCallTimeout)
	sub, err := st.api.Subscription(cctx, id)
	cancel()
	if permanent(err) {
		return fmt.Sprintf("UNMATCHED: Stripe refuses subscription %s (%v); nothing changed", id, err), nil
	}
	if err != nil {
		return "", tollgate.Errorf(tollgate.CodeUnavailable, "Stripe could not be asked for subscription %s (%v); retry later", id, err)
	}
	state, problem, err := s.subscriptionState(ctx, sub)
	if err != nil {
		return "", err
	}
	if problem != "" {
		return "UNMATCHED: subscription " + id + ": " + problem + "; nothing changed", nil
	}
	state.StateAt = stateAt
	return s.applySubscription(ctx, st, state, inv, about)
}

func (s *Service) applySubscription(ctx context.Context, st *Stripe, state tollgate.Subscription, inv *tollgate.Invoice, about *eventAbout) (string, error) {
	res, err := s.Ledger.ApplySubscription(ctx, ledger.SubscriptionParams{Sub: state, Invoice: inv, Grace: cmp.Or(st.Grace, DefaultGrace)})
	switch tollgate.ErrorCode(err) {
	case tollgate.CodeNotFound, tollgate.CodeInvalidField, tollgate.CodeConflict: // the same however often it is asked
		return fmt.Sprintf("UNMATCHED: subscription %s of account %s: %v; nothing changed", state.ID, state.AccountID, err), nil
	}
	if err != nil {
		return "", err
	}
	sub := res.Sub
	did := fmt.Sprintf("subscription %s (%s, %s): ", sub.ID, sub.Plan, sub.Status)
	switch {
	case res.PlanFrom != res.PlanTo:
		did += fmt.Sprintf("account %s moved from plan %s to %s", sub.AccountID, res.PlanFrom, res.PlanTo)
	case res.Stale:
		did += "Stripe's state as read then is older than the one recorded: kept the recorded one"
	case res.Changed:
		did += "state recorded, the account's plan unchanged"
	default:
		did += "already applied: nothing changed"
	}
	if inv != nil {
		did += fmt.Sprintf("; invoice %s %s: %s net, %s tax, %s gross", inv.ID, inv.Status,
			tollgate.Money{Amount: inv.Paid.Net, Currency: inv.Paid.Currency}.Format(), tollgate.Money{Amount: inv.Paid.Tax, Currency: inv.Paid.Currency}.Format(),
			tollgate.Money{Amount: inv.Paid.Gross, Currency: inv.Paid.Currency}.Format())
	}
	if len(res.Events) > 0 {
		did += "; sent " + strings.Join(res.Events, ", ")
	}
	if res.Also != "" {
		// Listed with the unmatched events, for the operator to act on.
		return fmt.Sprintf("TWO SUBSCRIPTIONS: account %s pays for %s and %s at once; cancel and refund one in Stripe. %s",
			sub.AccountID, res.Also, sub.ID, did), nil
	}
	about.subscription = state.ID
	return did, nil
}

// subscriptionState turns a Stripe subscription into Tollgate's, or says
// why it does not pay for any plan (problem): no account named, an
// unknown price or plan, or an amount that is not the plan's price (the
// subtotal before tax). A subscription recorded already keeps its plan
// unless its price is now another plan's Stripe Price (a change in the
// customer portal): a later change of the plan's price does not unmatch
// those who pay the old one.
func (s *Service) subscriptionState(ctx context.Context, sub *stripe.Subscription) (tollgate.Subscription, string, error) {
	out := tollgate.Subscription{ID: sub.ID, Provider: "stripe", Status: tollgate.SubscriptionStatus(sub.Status), Currency: string(sub.Currency),
		CancelAtPeriodEnd: sub.CancelAtPeriodEnd || sub.CancelAt > 0}
	if sub.Customer != nil {
		out.Customer = sub.Customer.ID
	}
	var prev *tollgate.Subscription
	err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		p, err := tx.SubscriptionByID(ctx, sub.ID)
		if err == nil {
			prev = &p
		}
		if errors.Is(err, tollgate.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return out, "", err
	}
	out.AccountID = sub.Metadata["account_id"]
	if prev != nil {
		out.AccountID = prev.AccountID
	}
	if out.AccountID == "" {
		return out, "it names no account (metadata account_id) and Tollgate did not start it", nil
	}
	if sub.Items == nil || len(sub.Items.Data) != 1 || sub.Items.Data[0].Price == nil {
		return out, "it does not have exactly one priced item", nil
	}
	it := sub.Items.Data[0]
	out.PeriodStart, out.PeriodEnd = time.Unix(it.CurrentPeriodStart, 0).UTC(), time.Unix(it.CurrentPeriodEnd, 0).UTC()
	prices, err := s.PlanPrices(ctx)
	if err != nil {
		return out, "", err
	}
	var pp *tollgate.PlanPrice
	for i := range prices {
		if it.Price.ID != "" && prices[i].StripePrice == it.Price.ID {
			pp = &prices[i]
		}
	}
	switch {
	case pp != nil:
		out.Plan, out.Interval = pp.Plan, pp.Interval
	case prev != nil:
		out.Plan, out.Interval = prev.Plan, prev.Interval
	default:
		plan := cmp.Or(it.Price.Metadata["tollgate_plan"], sub.Metadata["plan"])
		interval := ""
		if it.Price.Recurring != nil {
			interval = string(it.Price.Recurring.Interval)
		}
		for i := range prices {
			if prices[i].Plan == plan && prices[i].Interval == interval {
				pp = &prices[i]
			}
		}
		if pp == nil {
			return out, fmt.Sprintf("its price %s (plan %q, every %s) is no plan's price here", it.Price.ID, plan, interval), nil
		}
		want, ok := pp.PriceIn(out.Currency)
		if got := it.Price.UnitAmount * max(it.Quantity, 1); !ok || got != want.Amount {
			return out, fmt.Sprintf("it costs %s before tax, plan %s costs %s by the %s", tollgate.Money{Amount: got, Currency: out.Currency}.Format(),
				pp.Plan, want.Format(), pp.Interval), nil
		}
		out.Plan, out.Interval = pp.Plan, pp.Interval
	}
	return out, "", nil
}

// invoiceOf is Tollgate's record of a Stripe invoice and the subscription
// it bills ("" when it bills none).
func invoiceOf(inv *stripe.Invoice) (tollgate.Invoice, string) {
	subID := ""
	if inv.Parent != nil && inv.Parent.SubscriptionDetails != nil && inv.Parent.SubscriptionDetails.Subscription != nil {
		subID = inv.Parent.SubscriptionDetails.Subscription.ID
	}
	var tax int64
	for _, t := range inv.TotalTaxes {
		if t != nil {
			tax += t.Amount
		}
	}
	out := tollgate.Invoice{ID: inv.ID, SubscriptionID: subID, Reason: string(inv.BillingReason), Status: string(inv.Status),
		Paid: tollgate.Paid{Currency: string(inv.Currency), Net: inv.Total - tax, Tax: tax, Gross: inv.Total, InvoiceURL: inv.HostedInvoiceURL,
			ReceiptURL: receiptOfInvoice(inv)},
		PeriodStart: time.Unix(inv.PeriodStart, 0).UTC(), PeriodEnd: time.Unix(inv.PeriodEnd, 0).UTC(), PDFURL: inv.InvoicePDF,
		CreatedAt: time.Unix(inv.Created, 0).UTC()}
	// A subscription's invoice bills the period of its line, not the
	// invoice's own (which, for a renewal, is the period before).
	if inv.Lines != nil {
		for _, l := range inv.Lines.Data {
			if l != nil && l.Period != nil && l.Period.End > 0 {
				out.PeriodStart, out.PeriodEnd = time.Unix(l.Period.Start, 0).UTC(), time.Unix(l.Period.End, 0).UTC()
				break
			}
		}
	}
	return out, subID
}

// receiptOfInvoice is the receipt of an invoice's payment, when its
// payments were fetched with the charge.
func receiptOfInvoice(inv *stripe.Invoice) string {
	if inv.Payments == nil {
		return ""
	}
	for _, p := range inv.Payments.Data {
		if p == nil || p.Payment == nil {
			continue
		}
		if pi := p.Payment.PaymentIntent; pi != nil && pi.LatestCharge != nil && pi.LatestCharge.ReceiptURL != "" {
			return pi.LatestCharge.ReceiptURL
		}
		if ch := p.Payment.Charge; ch != nil && ch.ReceiptURL != "" {
			return ch.ReceiptURL
		}
	}
	return ""
}

// applyInvoiceEvent records a subscription's invoice, fetched again with
// its receipt, and applies its subscription's state with it.
func (s *Service) applyInvoiceEvent(ctx context.Context, st *Stripe, inv *stripe.Invoice, about *eventAbout) (string, error) {
	about.object = inv.ID
	_, subID := invoiceOf(inv)
	if subID == "" {
		return fmt.Sprintf("invoice %s bills no subscription: nothing to do (a pack's invoice is kept with its order)", inv.ID), nil
	}
	return s.syncSubscription(ctx, st, subID, inv.ID, about)
}

// SweepSubscriptions looks again at every subscription that entitles its
// account past the point it should: unpaid past its grace period, or past
// its period's end with no renewal seen. It asks Stripe for each; when
// Stripe cannot be reached, one past its grace period is ended on what is
// stored (the downgrade was announced), the others wait. It returns how
// many it looked at and how many accounts changed plan.
func (s *Service) SweepSubscriptions(ctx context.Context) (looked, changed int, err error) {
	st, _ := s.Provider.(*Stripe)
	now := s.Clock.Now()
	after := ""
	for {
		var subs []tollgate.Subscription
		err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			subs, err = tx.SubscriptionList(ctx, record.SubscriptionListParams{Open: true, After: after, Limit: 100})
			return err
		})
		if err != nil {
			return looked, changed, err
		}
		for _, sub := range subs {
			if sub.Provider == "dev" {
				if sub.Entitled && !now.Before(sub.PeriodEnd) {
					looked++
					_, demo := s.Provider.(Dev)
					moved, err := s.renewDemo(ctx, sub, now, demo)
					if err != nil && ctx.Err() != nil {
						return looked, changed, err
					}
					if moved {
						changed++
					}
				}
				continue
			}
			graceOver := sub.Status == tollgate.SubscriptionPastDue && sub.GraceUntil != nil && !now.Before(*sub.GraceUntil)
			if st == nil || !sub.Entitled || (!graceOver && now.Before(sub.PeriodEnd.Add(time.Hour))) {
				continue
			}
			looked++
			var about eventAbout
			did, err := s.syncSubscription(ctx, st, sub.ID, "", &about)
			if err != nil && graceOver {
				did, err = s.applySubscription(ctx, st, sub, nil, &about)
			}
			if err != nil {
				if ctx.Err() != nil {
					return looked, changed, err
				}
				continue // asked again on the next sweep
			}
			if strings.Contains(did, "moved from plan") {
				changed++
			}
		}
		if len(subs) < 100 {
			return looked, changed, nil
		}
		after = subs[len(subs)-1].ID
	}
}

// renewDemo moves a demo subscription past its period's end: cancelled,
// or on a server no longer in demo mode (renew false: nobody would pay),
// it ends; otherwise it renews, paid, for as many periods as have passed.
// It reports whether the account changed plan.
func (s *Service) renewDemo(ctx context.Context, sub tollgate.Subscription, now time.Time, renew bool) (bool, error) {
	if sub.CancelAtPeriodEnd || !renew {
		sub.Status = tollgate.SubscriptionCanceled
	} else {
		for !now.Before(sub.PeriodEnd) {
			sub.PeriodStart, sub.PeriodEnd = sub.PeriodEnd, nextPeriod(sub.PeriodEnd, sub.Interval)
		}
		end := sub.PeriodEnd
		sub.PaidThrough = &end
	}
	sub.StateAt = now
	res, err := s.Ledger.ApplySubscription(ctx, ledger.SubscriptionParams{Sub: sub, Grace: DefaultGrace})
	return err == nil && res.PlanFrom != res.PlanTo, err
}
