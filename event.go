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
	EventVerifyFailed, EventVideoCompleted, EventVideoFailed}

// AccountEventTypes are the event types about one account, which an
// endpoint an account key registers may take.
var AccountEventTypes = []string{EventOrderCompleted, EventCreditsLow, EventCreditsExpiring, EventVideoCompleted, EventVideoFailed}

// NewEvent builds an outbox event whose body is {"type", "timestamp", "data"}.
func NewEvent(typ, accountID string, at time.Time, data any) (Event, error) {
	body, err := json.Marshal(map[string]any{"type": typ, "timestamp": at.UTC().Format(time.RFC3339Nano), "data": data})
	if err != nil {
		return Event{}, err
	}
	return Event{ID: NewID("evt"), Type: typ, AccountID: accountID, Payload: body, CreatedAt: at}, nil
}
