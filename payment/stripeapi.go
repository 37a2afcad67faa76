package payment

import (
	"context"

	"github.com/stripe/stripe-go/v85"
)

// StripeAPI is the part of Stripe's API Tollgate calls. NewStripe puts
// Stripe's own client behind it; tests put a fake that keeps state
// (subscriptions that renew, fail and end) and sends its events.
type StripeAPI interface {
	// CreateCheckoutSession starts a Checkout (payment or subscription
	// mode), once per the params' idempotency key.
	CreateCheckoutSession(ctx context.Context, p *stripe.CheckoutSessionCreateParams) (*stripe.CheckoutSession, error)
	// CheckoutSession fetches a Checkout Session.
	CheckoutSession(ctx context.Context, id string) (*stripe.CheckoutSession, error)
	// PaymentIntent returns a payment intent with its latest charge
	// expanded (its receipt_url).
	PaymentIntent(ctx context.Context, id string) (*stripe.PaymentIntent, error)
	// Subscription fetches a subscription as Stripe has it now.
	Subscription(ctx context.Context, id string) (*stripe.Subscription, error)
	// Invoice returns an invoice with its payments' payment intents and
	// their latest charge expanded (the receipt).
	Invoice(ctx context.Context, id string) (*stripe.Invoice, error)
	// CancelAtPeriodEnd cancels a subscription at the end of its period.
	CancelAtPeriodEnd(ctx context.Context, id string) (*stripe.Subscription, error)
	// CreatePortalSession opens the customer portal for a customer.
	CreatePortalSession(ctx context.Context, p *stripe.BillingPortalSessionCreateParams) (*stripe.BillingPortalSession, error)
	// CreateRefund refunds (part of) a payment, once per idempotency key.
	CreateRefund(ctx context.Context, p *stripe.RefundCreateParams) (*stripe.Refund, error)
	// CreateTransfer sends money to a connected account, once per
	// idempotency key.
	CreateTransfer(ctx context.Context, p *stripe.TransferCreateParams) (*stripe.Transfer, error)
	// CreateAccount makes a connected account.
	CreateAccount(ctx context.Context, p *stripe.AccountCreateParams) (*stripe.Account, error)
	// CreateAccountLink makes a connected account's onboarding link.
	CreateAccountLink(ctx context.Context, p *stripe.AccountLinkCreateParams) (*stripe.AccountLink, error)
}

// stripeClient is StripeAPI on Stripe's own client.
type stripeClient struct{ c *stripe.Client }

func (s stripeClient) CreateCheckoutSession(ctx context.Context, p *stripe.CheckoutSessionCreateParams) (*stripe.CheckoutSession, error) {
	return s.c.V1CheckoutSessions.Create(ctx, p)
}

func (s stripeClient) CheckoutSession(ctx context.Context, id string) (*stripe.CheckoutSession, error) {
	return s.c.V1CheckoutSessions.Retrieve(ctx, id, nil)
}

func (s stripeClient) PaymentIntent(ctx context.Context, id string) (*stripe.PaymentIntent, error) {
	p := &stripe.PaymentIntentRetrieveParams{}
	p.AddExpand("latest_charge")
	return s.c.V1PaymentIntents.Retrieve(ctx, id, p)
}

func (s stripeClient) Subscription(ctx context.Context, id string) (*stripe.Subscription, error) {
	return s.c.V1Subscriptions.Retrieve(ctx, id, nil)
}

func (s stripeClient) Invoice(ctx context.Context, id string) (*stripe.Invoice, error) {
	p := &stripe.InvoiceRetrieveParams{}
	p.AddExpand("payments.data.payment.payment_intent.latest_charge")
	return s.c.V1Invoices.Retrieve(ctx, id, p)
}

func (s stripeClient) CancelAtPeriodEnd(ctx context.Context, id string) (*stripe.Subscription, error) {
	return s.c.V1Subscriptions.Update(ctx, id, &stripe.SubscriptionUpdateParams{CancelAtPeriodEnd: stripe.Bool(true)})
}

func (s stripeClient) CreatePortalSession(ctx context.Context, p *stripe.BillingPortalSessionCreateParams) (*stripe.BillingPortalSession, error) {
	return s.c.V1BillingPortalSessions.Create(ctx, p)
}

func (s stripeClient) CreateRefund(ctx context.Context, p *stripe.RefundCreateParams) (*stripe.Refund, error) {
	return s.c.V1Refunds.Create(ctx, p)
}

func (s stripeClient) CreateTransfer(ctx context.Context, p *stripe.TransferCreateParams) (*stripe.Transfer, error) {
	return s.c.V1Transfers.Create(ctx, p)
}

func (s stripeClient) CreateAccount(ctx context.Context, p *stripe.AccountCreateParams) (*stripe.Account, error) {
	return s.c.V1Accounts.Create(ctx, p)
}

func (s stripeClient) CreateAccountLink(ctx context.Context, p *stripe.AccountLinkCreateParams) (*stripe.AccountLink, error) {
	return s.c.V1AccountLinks.Create(ctx, p)
}
