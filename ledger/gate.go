package ledger

import (
	"context"

	"tollgate/store"
)

// readAccount runs fn in a read transaction once the account's gate lets
// it in: clients flooding one account with reads take at most
// Options.AccountReads of the database's connections and cores, and every
// other account's reads and writes keep theirs.
func (l *Ledger) readAccount(ctx context.Context, account string, fn func(store.Tx) error) error {
	done, err := l.gate.Enter(ctx, account)
	if err != nil {
		return err
	}
	defer done()
	return l.store.Read(ctx, fn)
}
