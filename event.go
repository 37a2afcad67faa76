package tollgate

import (
	"encoding/json"
	"time"
)

// Event types sent to webhook endpoints.
const (
	EventOrderCompleted      = "order.completed"
	EventPlanChangeScheduled = "plan.change_scheduled"
	// EventPriceChangeScheduled: a price rule takes effect later, raising
	// or lowering what some requests cost.
	EventPriceChangeScheduled = "price.change_scheduled"
	EventCreditsLow           = "credits.low"
	EventCreditsExpiring      = "credits.expiring"
	// EventVerifyFailed: the scheduled verify found the books do not
	// balance; for the operator, of no account.
	EventVerifyFailed = "ledger.verify_failed"
)

// EventTypes lists the event types an endpoint may subscribe to.
var EventTypes = []string{EventOrderCompleted, EventPlanChangeScheduled, EventPriceChangeScheduled, EventCreditsLow, EventCreditsExpiring,
	EventVerifyFailed, EventVideoCompleted, EventVideoFailed, EventSubscriptionStarted, EventSubscriptionPlanChanged,
	EventSubscriptionPaymentFailed, EventSubscriptionCancelScheduled, EventSubscriptionEnded}

// AccountEventTypes are the event types about one account, which an
// endpoint an account key registers may take.
var AccountEventTypes = []string{EventOrderCompleted, EventCreditsLow, EventCreditsExpiring, EventVideoCompleted, EventVideoFailed,
	EventSubscriptionStarted, EventSubscriptionPlanChanged, EventSubscriptionPaymentFailed, EventSubscriptionCancelScheduled, EventSubscriptionEnded}

// NewEvent builds an outbox event whose body is {"type", "timestamp", "data"}.
func NewEvent(typ, accountID string, at time.Time, data any) (Event, error) {
	body, err := json.Marshal(map[string]any{"type": typ, "timestamp": at.UTC().Format(time.RFC3339Nano), "data": data})
	if err != nil {
		return Event{}, err
	}
	return Event{ID: NewID("evt"), Type: typ, AccountID: accountID, Payload: body, CreatedAt: at}, nil
}

// Subscription events, about one account: each is sent once, in the
// transaction that changes the subscription.
const (
	// EventSubscriptionStarted: the account is on the subscribed plan.
	EventSubscriptionStarted = "subscription.started"
	// EventSubscriptionPlanChanged: the subscription moved to another
	// plan (an upgrade applies at once, a downgrade from the next day).
	EventSubscriptionPlanChanged = "subscription.plan_changed"
	// EventSubscriptionPaymentFailed: a renewal is unpaid; the plan stays
	// until downgrade_at unless it is paid.
	EventSubscriptionPaymentFailed = "subscription.payment_failed"
	// EventSubscriptionCancelScheduled: the buyer cancelled; the plan
	// stays until ends_at.
	EventSubscriptionCancelScheduled = "subscription.cancel_scheduled"
	// EventSubscriptionEnded: the account left the plan for its fallback.
	EventSubscriptionEnded = "subscription.ended"
)
