package ledger

import (
	"context"
	"encoding/json"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

// Actor is who acts, as the audit log records it: the key (with its kind,
// admin or account) and the API request, or a payment provider or
// Tollgate itself, which have no key.
type Actor struct {
	KeyID     string
	Kind      string // admin, account, provider or system
	RequestID string
}

// Actor kinds.
const (
	ActorAdmin    = "admin"
	ActorAccount  = "account"
	ActorProvider = "provider"
	ActorSystem   = "system"
)

type actorKey struct{}

// WithActor returns ctx carrying a, for the audit entries of what is done
// with it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorOf returns the actor ctx carries; without one, Tollgate itself.
func ActorOf(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Kind: ActorSystem}
}

// auditEntry describes action, taken by ctx's actor on target (an object
// of accountID, if any), with detail marshalled as a JSON object.
func (l *Ledger) auditEntry(ctx context.Context, action, accountID, target string, detail any) tollgate.AuditEntry {
	a := ActorOf(ctx)
	d, err := json.Marshal(detail)
	if err != nil || detail == nil {
		d = []byte("{}")
	}
	return tollgate.AuditEntry{ID: tollgate.NewID("aud"), CreatedAt: l.clock.Now(), ActorKey: a.KeyID, ActorKind: a.Kind,
		AccountID: accountID, Action: action, Target: target, RequestID: a.RequestID, Detail: string(d)}
}

// Audit appends to the audit log, in tx, that ctx's actor took action on
// target; detail (marshalled as JSON) says what changed. Every write an
// admin or an account's owner makes outside the ledger records itself
// this way, in the transaction that makes it, so the log has every action
// that took effect and no other.
func (l *Ledger) Audit(ctx context.Context, tx record.Tx, action, accountID, target string, detail any) error {
	return tx.AuditAppend(ctx, []tollgate.AuditEntry{l.auditEntry(ctx, action, accountID, target, detail)})
}

// AuditLog pages through the audit log by id.
func (l *Ledger) AuditLog(ctx context.Context, p record.AuditListParams) ([]tollgate.AuditEntry, error) {
	var es []tollgate.AuditEntry
	err := l.store.Read(ctx, func(tx store.Tx) error {
		var err error
		es, err = tx.AuditList(ctx, p)
		return err
	})
	return es, err
}
