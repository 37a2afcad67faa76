package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/benbjohnson/litestream"
	_ "github.com/benbjohnson/litestream/file" // file:// replicas
	_ "github.com/benbjohnson/litestream/s3"   // s3:// replicas

	"tollgate/httpapi"
	"tollgate/store/sqlite"
)

// A replica streams the SQLite database's WAL to another place as it is
// written (Litestream, embedded): a file:// directory or s3://bucket/path
// (?endpoint= for S3-compatible storage; credentials from the AWS_*
// environment). What reached it survives the loss of the machine.
type replica struct {
	db    *litestream.DB
	store *litestream.Store
}

// startReplica replicates the database at path to url.
func startReplica(ctx context.Context, path, url string, log *slog.Logger) (*replica, error) {
	client, err := litestream.NewReplicaClientFromURL(url)
	if err != nil {
		return nil, fmt.Errorf("TOLLGATE_REPLICA_URL %q: %w (file:///dir or s3://bucket/path)", url, err)
	}
	db := litestream.NewDB(path)
	db.Logger = log.With("component", "replica")
	r := litestream.NewReplicaWithClient(db, client)
	db.Replica = r
	store := litestream.NewStore([]*litestream.DB{db}, litestream.CompactionLevels{
		{Level: 0},
		{Level: 1, Interval: 30 * time.Second},
		{Level: 2, Interval: 5 * time.Minute},
	})
	store.Logger = db.Logger
	if err := store.Open(ctx); err != nil {
		return nil, fmt.Errorf("start the replica to %s: %w", url, err)
	}
	return &replica{db: db, store: store}, nil
}

// close syncs what is left to the replica and stops.
func (r *replica) close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	err := r.db.SyncAndWait(ctx) // the WAL's last frames, then to the replica
	return errors.Join(err, r.store.Close(ctx))
}

// restoreReplica writes the newest state of the replica at url into path,
// which must not exist.
func restoreReplica(ctx context.Context, url, path string) error {
	if busy, err := sqlite.InUse(path); err != nil {
		return err
	} else if busy {
		return fmt.Errorf("%s is in use by a running tollgate serve: stop it, and restore into an empty data directory", path)
	}
	client, err := litestream.NewReplicaClientFromURL(url)
	if err != nil {
		return fmt.Errorf("replica %q: %w", url, err)
	}
	r := litestream.NewReplicaWithClient(nil, client)
	opt := litestream.NewRestoreOptions()
	opt.OutputPath = path
	opt.IntegrityCheck = litestream.IntegrityCheckQuick
	if err := r.Restore(ctx, opt); err != nil {
		return fmt.Errorf("restore from the replica %s: %w", url, err)
	}
	return nil
}

// signal reads the replica's position against the database's.
func (r *replica) signal(ctx context.Context) *httpapi.ReplicaSignal {
	st, err := r.db.SyncStatus(ctx)
	if err != nil {
		return &httpapi.ReplicaSignal{Error: err.Error()}
	}
	return &httpapi.ReplicaSignal{InSync: st.InSync, LocalTXID: uint64(st.LocalTXID), RemoteTXID: uint64(st.RemoteTXID)}
}
