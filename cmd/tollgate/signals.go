package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"tollgate/httpapi"
	"tollgate/startstop"
)

// lastBackupFile, in the data directory, records the last backup made of
// it; backups leave it out.
const lastBackupFile = ".tollgate-last-backup"

type lastBackup struct {
	At    time.Time `json:"at"`
	File  string    `json:"file"`
	Bytes int64     `json:"bytes"`
}

// recordBackup notes a finished backup in the data directory.
func recordBackup(dataDir, file string, bytes int64) error {
	b, err := json.Marshal(lastBackup{At: time.Now().UTC(), File: file, Bytes: bytes})
	if err != nil {
		return err
	}
	tmp := filepath.Join(dataDir, lastBackupFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dataDir, lastBackupFile))
}

// Thresholds of the warnings: a disk with less free space, a backup older.
const (
	minFreeRatio = 0.10
	minFreeBytes = 1 << 30
	maxBackupAge = 26 * time.Hour
)

// readSignals measures the data directory of a SQLite installation.
func readSignals(dataDir, dbPath string, now time.Time) (*httpapi.Signals, error) {
	s := &httpapi.Signals{CheckedAt: now.UTC(), Warnings: []string{}}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dataDir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dataDir, err)
	}
	s.DiskFreeBytes = int64(st.Bavail) * int64(st.Bsize)
	if total := int64(st.Blocks) * int64(st.Bsize); total > 0 {
		s.DiskFreeRatio = float64(s.DiskFreeBytes) / float64(total)
	}
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(dbPath + suffix); err == nil {
			s.DatabaseBytes += fi.Size()
		}
	}
	if s.DiskFreeRatio < minFreeRatio || s.DiskFreeBytes < minFreeBytes {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the disk of %s is nearly full: %d MB free (%.0f%%); make room before writes are refused",
			dataDir, s.DiskFreeBytes>>20, 100*s.DiskFreeRatio))
	}
	b, err := os.ReadFile(filepath.Join(dataDir, lastBackupFile))
	var lb lastBackup
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case json.Unmarshal(b, &lb) == nil:
		s.LastBackupAt = &lb.At
	}
	if s.LastBackupAt == nil || now.Sub(*s.LastBackupAt) > maxBackupAge {
		s.Warnings = append(s.Warnings, "no backup in the last day: run tollgate backup (README, \"Operating Tollgate\")")
	}
	return s, nil
}

// watchSignals measures the data directory every interval for /readyz,
// and logs a warning when one appears (and each hour while it lasts).
func (inst *instance) watchSignals(ctx context.Context, dataDir, dbPath string, interval time.Duration, log *slog.Logger) {
	var loop startstop.Loop
	var last []string
	var lastLogged time.Time
	var behind *httpapi.ReplicaSignal // the last check's, when the replica was behind
	loop.Start(ctx, func(ctx context.Context) {
		startstop.Every(ctx, interval, true, func(ctx context.Context) {
			now := time.Now()
			s, err := readSignals(dataDir, dbPath, now)
			if err != nil {
				log.Warn("could not measure the data directory", "dir", dataDir, "err", err)
				return
			}
			if inst.replica != nil {
				rs := inst.replica.signal(ctx)
				s.Replica = rs
				switch {
				case rs.Error != "":
					s.Warnings = append(s.Warnings, "the replica's position cannot be read: "+rs.Error)
				case rs.InSync:
					behind = nil
				case behind != nil && rs.RemoteTXID == behind.RemoteTXID:
					s.Warnings = append(s.Warnings, fmt.Sprintf("replication is stalled: the replica is at transaction %d, the database at %d, "+
						"and the replica has not moved for %s; check TOLLGATE_REPLICA_URL's storage", rs.RemoteTXID, rs.LocalTXID, interval))
				default:
					behind = rs
				}
			}
			inst.health.signals.Store(s)
			if len(s.Warnings) > 0 && (!slices.Equal(s.Warnings, last) || now.Sub(lastLogged) > time.Hour) {
				for _, w := range s.Warnings {
					log.Warn(w, "disk_free_bytes", s.DiskFreeBytes, "database_bytes", s.DatabaseBytes)
				}
				lastLogged = now
			}
			last = s.Warnings
		})
	})
	inst.stopSignals = loop.Stop
}
