package cameo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store/record"
)

// Transferer sends money to a connected account: Stripe Connect.
type Transferer interface {
	// Transfer sends amount to destination once per idempotencyKey and
	// returns the transfer's id. A *TransferError says the transfer was
	// refused for good; any other error leaves its outcome unknown (the
	// same key may be tried again).
	Transfer(ctx context.Context, destination string, amount tollgate.Money, idempotencyKey string, metadata map[string]string) (string, error)
}

// TransferError is a transfer refused for good: nothing was sent.
type TransferError struct{ Message string }

func (e *TransferError) Error() string { return "transfer refused: " + e.Message }

// Onboarder starts the onboarding of a connected account: Stripe's Account
// Links.
type Onboarder interface {
	// Onboard makes a connected account for accountID when existing is ""
	// and returns it with the URL where its owner completes onboarding.
	Onboard(ctx context.Context, accountID, existing, returnURL string) (stripeAccount, url string, err error)
}

// PayoutConfig is how earnings are paid out.
type PayoutConfig struct {
	// Transfers sends the money; nil leaves every payout pending for the
	// operator to pay by hand.
	Transfers Transferer
	Onboard   Onboarder
}

// SetPayouts sets how earnings are paid out. Call before serving.
func (s *Service) SetPayouts(c PayoutConfig) { s.pay = c }

// AddPayoutRate adds a version of a currency's payout rate: minor units
// per credit, the least a payout may be, in force from effectiveAt
// (default now).
func (s *Service) AddPayoutRate(ctx context.Context, r tollgate.PayoutRate) (tollgate.PayoutRate, error) {
	r.Currency = strings.ToLower(r.Currency)
	switch {
	case !tollgate.ValidCurrency(r.Currency):
		return r, tollgate.FieldError("currency", "must be an ISO 4217 code such as usd")
	case r.MinorPerCredit <= 0 || r.MinorPerCredit > 1_000_000_000:
		return r, tollgate.FieldError("minor_per_credit", "must be from 1 to 1000000000 minor units per credit")
	case r.Minimum < 0 || r.Minimum > tollgate.MaxCredits:
		return r, tollgate.FieldError("minimum", "must be from 0 to %s credits", tollgate.MaxCredits)
	}
	now := s.c.Clock.Now()
	if r.EffectiveAt.IsZero() {
		r.EffectiveAt = now
	}
	r.CreatedAt = now
	var out tollgate.PayoutRate
	err := s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error {
		var err error
		if out, err = tx.PayoutRatePut(ctx, r); err != nil {
			return err
		}
		return s.c.Ledger.Audit(ctx, tx, "payout_rate.add", "", r.Currency, map[string]any{"minor_per_credit": r.MinorPerCredit,
			"minimum": r.Minimum, "effective_at": r.EffectiveAt, "version": out.Version})
	})
	return out, err
}

// PayoutRates lists every version of every currency's payout rate.
func (s *Service) PayoutRates(ctx context.Context) ([]tollgate.PayoutRate, error) {
	var out []tollgate.PayoutRate
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		out, err = tx.PayoutRates(ctx)
		return err
	})
	return out, err
}

// rateAt is the version of currency's rate in force at t (currency ""
// takes the only currency there is).
func (s *Service) rateAt(ctx context.Context, currency string, t time.Time) (tollgate.PayoutRate, error) {
	rs, err := s.PayoutRates(ctx)
	if err != nil {
		return tollgate.PayoutRate{}, err
	}
	currencies := map[string]bool{}
	for _, r := range rs {
		currencies[r.Currency] = true
	}
	if currency == "" && len(currencies) == 1 {
		for c := range currencies {
			currency = c
		}
	}
	var best tollgate.PayoutRate
	for _, r := range rs {
		if r.Currency == strings.ToLower(currency) && !r.EffectiveAt.After(t) && (best.Version == 0 || r.EffectiveAt.After(best.EffectiveAt) ||
			r.EffectiveAt.Equal(best.EffectiveAt) && r.Version > best.Version) {
			best = r
		}
	}
	if best.Version == 0 {
		if currency == "" {
			return best, tollgate.FieldError("currency", "name the currency to be paid in: the operator sets rates for several")
		}
		return best, tollgate.FieldError("currency", "the operator has set no payout rate in %q: earnings cannot be paid out in it yet", currency)
	}
	return best, nil
}

// PayoutRequest asks for a payout.
type PayoutRequest struct {
	AccountID   string
	Credits     tollgate.Credits // 0: all of the earnings available
	Currency    string           // "" when the operator pays in one currency
	Idempotency *ledger.Idempotency
}

// RequestPayout pays out earnings: the credits leave the royalty grants
// and the payout is recorded at the rate in force, in one transaction;
// then, where the account has a connected account and transfers are
// configured, the money is sent (once: the payout's id is the transfer's
// idempotency key). A transfer refused fails the payout and returns the
// credits; one whose outcome is unknown leaves the payout pending, and
// ExecutePayout tries it again. Without transfers, the payout waits for
// the operator.
func (s *Service) RequestPayout(ctx context.Context, p PayoutRequest) (tollgate.Payout, error) {
	now := s.c.Clock.Now()
	rate, err := s.rateAt(ctx, p.Currency, now)
	if err != nil {
		return tollgate.Payout{}, err
	}
	var dest string
	err = s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		dest, err = tx.Destination(ctx, p.AccountID)
		return err
	})
	if err != nil {
		return tollgate.Payout{}, err
	}
	credits := p.Credits
	if credits == 0 {
		if credits, err = s.Earnings(ctx, p.AccountID); err != nil {
			return tollgate.Payout{}, err
		}
		if credits == 0 {
			return tollgate.Payout{}, tollgate.FieldError("credits", "account %s has no earnings to pay out", p.AccountID)
		}
	}
	po, err := s.c.Ledger.Payout(ctx, ledger.PayoutParams{AccountID: p.AccountID, Credits: credits, Rate: rate, Destination: dest,
		Idempotency: p.Idempotency})
	if err != nil {
		return tollgate.Payout{}, err
	}
	return s.execute(ctx, po)
}

// Earnings is what an account can pay out now: its royalty credits.
func (s *Service) Earnings(ctx context.Context, account string) (tollgate.Credits, error) {
	b, err := s.c.Ledger.Balance(ctx, account)
	if err != nil {
		return 0, err
	}
	var n tollgate.Credits
	for _, g := range b.Grants {
		if g.Source == tollgate.SourceRoyalty {
			n += g.Remaining
		}
	}
	return n, nil
}

// ExecutePayout sends a pending payout's money again (its transfer's
// outcome was unknown); a payout settled already is returned as it is.
func (s *Service) ExecutePayout(ctx context.Context, id, owner string) (tollgate.Payout, error) {
	po, err := s.Payout(ctx, id, owner)
	if err != nil {
		return po, err
	}
	if po.Status != tollgate.PayoutPending {
		return po, nil
	}
	if po.Destination == "" || s.pay.Transfers == nil {
		return po, tollgate.FieldError("payout_id", "payout %s has no connected account to send it to: mark it paid or failed once it is settled by hand", po.ID)
	}
	return s.execute(ctx, po)
}

// execute makes a pending payout's transfer, where there is one to make.
func (s *Service) execute(ctx context.Context, po tollgate.Payout) (tollgate.Payout, error) {
	if po.Status != tollgate.PayoutPending || po.Destination == "" || s.pay.Transfers == nil {
		return po, nil
	}
	id, err := s.pay.Transfers.Transfer(ctx, po.Destination, po.Amount, "payout-"+po.ID, map[string]string{"payout_id": po.ID, "account_id": po.AccountID})
	var refused *TransferError
	switch {
	case errors.As(err, &refused):
		return s.c.Ledger.SettlePayout(ctx, ledger.SettlePayoutParams{PayoutID: po.ID, AccountID: po.AccountID, Status: tollgate.PayoutFailed,
			Failure: refused.Message})
	case err != nil:
		// The transfer may have been made: the payout stays pending until
		// a retry with the same key tells.
		return po, nil
	}
	return s.c.Ledger.SettlePayout(ctx, ledger.SettlePayoutParams{PayoutID: po.ID, AccountID: po.AccountID, Status: tollgate.PayoutPaid, TransferID: id})
}

// MarkPayout is the operator's word on a payout made by hand: paid (with
// its reference) or failed (its credits return to the earnings).
func (s *Service) MarkPayout(ctx context.Context, id string, status tollgate.PayoutStatus, reference, failure string) (tollgate.Payout, error) {
	po, err := s.Payout(ctx, id, "")
	if err != nil {
		return po, err
	}
	if len(reference) > 200 || !tollgate.CleanText(reference) || len(failure) > 500 || !tollgate.CleanText(failure) {
		return po, tollgate.FieldError("reference", "reference and failure are text of at most 200 and 500 bytes")
	}
	return s.c.Ledger.SettlePayout(ctx, ledger.SettlePayoutParams{PayoutID: po.ID, AccountID: po.AccountID, Status: status, Reference: reference,
		Failure: failure})
}

// Payout returns a payout; with owner set, another account's is not
// found.
func (s *Service) Payout(ctx context.Context, id, owner string) (tollgate.Payout, error) {
	var po tollgate.Payout
	var err error = tollgate.ErrNotFound
	if tollgate.CleanText(id) && id != "" && len(id) <= 100 {
		err = s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			po, err = tx.PayoutByID(ctx, id)
			return err
		})
	}
	if err == nil && owner != "" && po.AccountID != owner {
		err = tollgate.ErrNotFound
	}
	if errors.Is(err, tollgate.ErrNotFound) {
		return po, &tollgate.Error{Code: tollgate.CodeNotFound, Field: "payout_id", Message: fmt.Sprintf("payout %q not found", id)}
	}
	return po, err
}

// Payouts pages through an account's payouts by id.
func (s *Service) Payouts(ctx context.Context, owner, after string, limit int) ([]tollgate.Payout, error) {
	var out []tollgate.Payout
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		out, err = tx.PayoutList(ctx, owner, after, limit)
		return err
	})
	return out, err
}

// SetDestination sets the Stripe connected account an account's payouts
// go to (the operator's word, or the end of onboarding).
func (s *Service) SetDestination(ctx context.Context, account, stripeAccount string) error {
	if !strings.HasPrefix(stripeAccount, "acct_") || len(stripeAccount) > 100 || !tollgate.CleanText(stripeAccount) {
		return tollgate.FieldError("stripe_account", "must be a Stripe connected account id, acct_...")
	}
	return s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error {
		if err := tx.DestinationPut(ctx, account, stripeAccount, s.c.Clock.Now()); err != nil {
			return err
		}
		return s.c.Ledger.Audit(ctx, tx, "payout.destination", account, account, map[string]any{"stripe_account": stripeAccount})
	})
}

// Onboard starts (or resumes) the onboarding of an account's connected
// account through Stripe's Account Links and returns where its owner goes
// to finish it; the account becomes the payouts' destination.
func (s *Service) Onboard(ctx context.Context, account, returnURL string) (string, string, error) {
	if s.pay.Onboard == nil {
		return "", "", tollgate.Errorf(tollgate.CodeUnavailable, "payouts by Stripe Connect are not configured here: the operator pays out by hand")
	}
	var existing string
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		existing, err = tx.Destination(ctx, account)
		return err
	})
	if err != nil {
		return "", "", err
	}
	acct, url, err := s.pay.Onboard.Onboard(ctx, account, existing, returnURL)
	if err != nil {
		return "", "", err
	}
	if acct != existing {
		if err := s.SetDestination(ctx, account, acct); err != nil {
			return "", "", err
		}
	}
	return acct, url, nil
}

// Destination returns where an account's payouts go ("" by hand).
func (s *Service) Destination(ctx context.Context, account string) (string, error) {
	var d string
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		d, err = tx.Destination(ctx, account)
		return err
	})
	return d, err
}
