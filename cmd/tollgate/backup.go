package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"tollgate/ledger"
	"tollgate/store/dial"
	"tollgate/store/sqlite"
)

// A backup is a tar archive, gzipped, and encrypted with age when it has
// recipients: manifest.json first, then the database as tollgate.db, then
// the other files of the data directory under data/.
const (
	backupFormat   = 1
	backupDBName   = "tollgate.db"
	backupManifest = "manifest.json"
	backupDataDir  = "data/"
)

// manifest says what a backup holds, with each file's digest.
type manifest struct {
	Format    int           `json:"format"`
	CreatedAt time.Time     `json:"created_at"`
	Schema    string        `json:"schema"` // the newest migration applied
	Files     []backupEntry `json:"files"`
}

type backupEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func backupCmd() *cobra.Command {
	c := newConfig()
	var to string
	var recipients []string
	cmd := &cobra.Command{
		Use:   "backup --to FILE",
		Short: "Write a consistent backup of the SQLite database and the data directory, while serve runs",
		Long: `backup copies the SQLite database as one snapshot (every request answered
before it began is in it) without stopping serve or holding up its writes,
with the other files of the data directory, into one archive.

A backup holds webhook signing secrets and the hashes of API keys. Encrypt it
with --recipient (an age public key, age1...; repeat for several) and keep
the identity apart; without one it is written readable by its owner only and
must be kept like a secret.

For PostgreSQL, use pg_dump (see README, "Operating Tollgate").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.check(); err != nil {
				return err
			}
			if to == "" {
				return errors.New("give --to FILE, the archive to write")
			}
			out := &printer{w: cmd.OutOrStdout()}
			m, err := backup(cmd.Context(), c, to, recipients)
			if err != nil {
				return err
			}
			var size int64
			for _, f := range m.Files {
				size += f.Size
			}
			out.printf("backup: %s, schema %s, %d files, %d bytes before compression\n", to, m.Schema, len(m.Files), size)
			if len(recipients) == 0 {
				out.printf("backup: not encrypted; it holds webhook signing secrets and key hashes: keep it as a secret, or use --recipient\n")
			}
			return out.done(nil)
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the archive to write; it must not exist")
	cmd.Flags().StringArrayVar(&recipients, "recipient", nil, "encrypt to this age public key (age1...); repeat for several")
	return cmd
}

// sqlitePath returns the SQLite database the configuration names, or
// refuses PostgreSQL.
func (c *config) sqlitePath() (string, error) {
	u := c.databaseURL()
	if dial.IsPostgres(u) {
		return "", errors.New("this database is PostgreSQL: back it up with pg_dump and restore with pg_restore (README, \"Operating Tollgate\")")
	}
	return strings.TrimPrefix(strings.TrimPrefix(u, "sqlite:"), "//"), nil
}

// backup writes the archive to to, through a temporary file renamed into
// place once complete and synced.
func backup(ctx context.Context, c *config, to string, recipients []string) (m manifest, err error) {
	dbPath, err := c.sqlitePath()
	if err != nil {
		return m, err
	}
	if _, err := os.Stat(to); err == nil {
		return m, fmt.Errorf("%s already exists: give a new file, backups are never overwritten", to)
	}
	var rs []age.Recipient
	for _, s := range recipients {
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return m, fmt.Errorf("--recipient %q: %w (an age public key starts with age1)", s, err)
		}
		rs = append(rs, r)
	}
	work, err := os.MkdirTemp(filepath.Dir(to), ".tollgate-backup-")
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(work)) }()
	snap := filepath.Join(work, backupDBName)
	if err := sqlite.Backup(ctx, dbPath, snap); err != nil {
		return m, err
	}
	m = manifest{Format: backupFormat, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if m.Schema, err = sqlite.Check(ctx, snap); err != nil {
		return m, fmt.Errorf("the snapshot does not check out: %w", err)
	}
	files := []struct{ name, src string }{{backupDBName, snap}}
	skip := map[string]bool{}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		skip[filepath.Clean(dbPath+suffix)] = true
	}
	absTo, _ := filepath.Abs(to)
	absWork, _ := filepath.Abs(work)
	if c.DataDir != "" {
		err := filepath.WalkDir(c.DataDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == c.DataDir {
					return fs.SkipAll
				}
				return err
			}
			abs, _ := filepath.Abs(p)
			if d.IsDir() {
				if abs == absWork {
					return fs.SkipDir
				}
				return nil
			}
			if skip[filepath.Clean(p)] || abs == absTo || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), lastBackupFile) {
				return nil
			}
			rel, err := filepath.Rel(c.DataDir, p)
			if err != nil {
				return err
			}
			files = append(files, struct{ name, src string }{backupDataDir + filepath.ToSlash(rel), p})
			return nil
		})
		if err != nil {
			return m, fmt.Errorf("read the data directory: %w", err)
		}
	}
	for _, f := range files {
		e, err := digest(f.src)
		if err != nil {
			return m, err
		}
		e.Name = f.name
		m.Files = append(m.Files, e)
	}
	tmp := to + ".partial"
	if err := writeArchive(tmp, m, files, rs); err != nil {
		return m, errors.Join(err, removeFile(tmp))
	}
	if err := os.Rename(tmp, to); err != nil {
		return m, errors.Join(err, removeFile(tmp))
	}
	if err := syncDir(filepath.Dir(to)); err != nil {
		return m, err
	}
	var size int64
	if st, err := os.Stat(to); err == nil {
		size = st.Size()
	}
	// The note of the last backup goes beside the database, for serve.
	return m, recordBackup(filepath.Dir(dbPath), to, size)
}

func digest(p string) (backupEntry, error) {
	f, err := os.Open(p)
	if err != nil {
		return backupEntry{}, err
	}
	defer func() { _ = f.Close() }() // read-only
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return backupEntry{}, fmt.Errorf("read %s: %w", p, err)
	}
	return backupEntry{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func writeArchive(to string, m manifest, files []struct{ name, src string }, rs []age.Recipient) (err error) {
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	bw := bufio.NewWriterSize(f, 1<<20)
	var w io.Writer = bw
	var enc io.WriteCloser
	if len(rs) > 0 {
		if enc, err = age.Encrypt(bw, rs...); err != nil {
			return err
		}
		w = enc
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: backupManifest, Mode: 0o600, Size: int64(len(mb)), ModTime: m.CreatedAt}); err != nil {
		return err
	}
	if _, err := tw.Write(mb); err != nil {
		return err
	}
	for i, file := range files {
		if err := addFile(tw, file.name, file.src, m.Files[i].Size, m.CreatedAt); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

func addFile(tw *tar.Writer, name, src string, size int64, at time.Time) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read-only
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: at}); err != nil {
		return err
	}
	// A file of the data directory that grew since its digest was taken
	// is copied as it was then; one that shrank fails the backup.
	if _, err := io.CopyN(tw, f, size); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

func restoreCmd() *cobra.Command {
	c := newConfig()
	var from, identity, fromReplica string
	cmd := &cobra.Command{
		Use:   "restore --from FILE",
		Short: "Restore a backup into an empty data directory, then verify it",
		Long: `restore unpacks an archive made by backup into the data directory (or the
SQLite path --database-url names), which must hold no database: it refuses
to overwrite one, and says so plainly when a serve is running on it. It checks
every file against the backup's digests, brings the schema up to date, and
runs verify; it fails if verify finds anything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.check(); err != nil {
				return err
			}
			out := &printer{w: cmd.OutOrStdout()}
			switch {
			case (from == "") == (fromReplica == ""):
				return errors.New("give --from FILE, a backup, or --from-replica URL, the replica serve streams to")
			case fromReplica != "":
				path, err := c.sqlitePath()
				if err != nil {
					return err
				}
				if _, err := os.Stat(path); err == nil {
					return fmt.Errorf("%s exists: restore goes into an empty data directory; move the old database away first", path)
				}
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return err
				}
				if err := restoreReplica(cmd.Context(), fromReplica, path); err != nil {
					return err
				}
				out.printf("restore: the database from the replica %s\n", fromReplica)
			default:
				m, err := restore(cmd.Context(), c, from, identity)
				if err != nil {
					return err
				}
				out.printf("restore: %d files from the backup of %s (schema %s)\n", len(m.Files), m.CreatedAt.Format(time.RFC3339), m.Schema)
			}
			if err := out.done(nil); err != nil {
				return err
			}
			s, err := dial.Open(cmd.Context(), c.databaseURL())
			if err != nil {
				return dbError(err)
			}
			defer closeStore(s, &err)
			r, err := ledger.New(s, ledger.Options{}).Verify(cmd.Context())
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			return printReport(cmd, r)
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the archive to restore")
	cmd.Flags().StringVar(&fromReplica, "from-replica", "", "restore the newest state of the replica serve streams to (TOLLGATE_REPLICA_URL), instead of a backup")
	cmd.Flags().StringVar(&identity, "identity", "", "a file of age identities (AGE-SECRET-KEY-1...) for an encrypted backup")
	return cmd
}

// restore unpacks the archive from into the configured database and data
// directory; it leaves nothing behind when it fails.
func restore(ctx context.Context, c *config, from, identity string) (m manifest, err error) {
	dbPath, err := c.sqlitePath()
	if err != nil {
		return m, err
	}
	if busy, err := sqlite.InUse(dbPath); err != nil {
		return m, err
	} else if busy {
		return m, fmt.Errorf("%s is in use by a running tollgate serve: stop it, and restore into an empty data directory", dbPath)
	}
	if _, err := os.Stat(dbPath); err == nil {
		return m, fmt.Errorf("%s exists: restore goes into an empty data directory; move the old database away first (keep it until the restore is verified)", dbPath)
	}
	f, err := os.Open(from)
	if err != nil {
		return m, err
	}
	defer func() { _ = f.Close() }() // read-only
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if head, _ := br.Peek(len(ageHeader)); bytes.Equal(head, []byte(ageHeader)) {
		if identity == "" {
			return m, errors.New("this backup is encrypted: give --identity FILE, the age identity of one of its recipients")
		}
		idf, err := os.Open(identity)
		if err != nil {
			return m, err
		}
		ids, err := age.ParseIdentities(idf)
		_ = idf.Close() // read-only
		if err != nil {
			return m, fmt.Errorf("--identity %s: %w", identity, err)
		}
		if r, err = age.Decrypt(br, ids...); err != nil {
			return m, fmt.Errorf("decrypt %s: %w (is --identity one of the backup's recipients?)", from, err)
		}
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return m, fmt.Errorf("%s is not a Tollgate backup: %w", from, err)
	}
	dataDir := c.DataDir
	if dataDir == "" {
		dataDir = filepath.Dir(dbPath)
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return m, err
	}
	work, err := os.MkdirTemp(filepath.Dir(dbPath), ".tollgate-restore-")
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(work)) }()
	tr := tar.NewReader(zr)
	got := map[string]backupEntry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, fmt.Errorf("read %s: %w", from, err)
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || strings.HasPrefix(name, "../") || path.IsAbs(name) || name == ".." {
			return m, fmt.Errorf("%s holds %q, which a Tollgate backup never does", from, h.Name)
		}
		if name == backupManifest {
			if err := json.NewDecoder(io.LimitReader(tr, 16<<20)).Decode(&m); err != nil {
				return m, fmt.Errorf("%s: manifest: %w", from, err)
			}
			if m.Format != backupFormat {
				return m, fmt.Errorf("%s is a backup of format %d; this tollgate reads format %d", from, m.Format, backupFormat)
			}
			continue
		}
		dst := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return m, err
		}
		e, err := extract(tr, dst)
		if err != nil {
			return m, err
		}
		e.Name = name
		got[name] = e
	}
	if m.Format == 0 {
		return m, fmt.Errorf("%s has no manifest: not a Tollgate backup", from)
	}
	for _, want := range m.Files {
		if g, ok := got[want.Name]; !ok || g != want {
			return m, fmt.Errorf("%s: %s is missing or differs from its digest: the backup is damaged", from, want.Name)
		}
	}
	if len(got) != len(m.Files) {
		return m, fmt.Errorf("%s holds files its manifest does not list: the backup is damaged", from)
	}
	if _, err := sqlite.Check(ctx, filepath.Join(work, backupDBName)); err != nil {
		return m, err
	}
	// The data directory's files first, the database last: a database in
	// place means the restore finished.
	for _, e := range m.Files {
		if !strings.HasPrefix(e.Name, backupDataDir) {
			continue
		}
		dst := filepath.Join(dataDir, filepath.FromSlash(strings.TrimPrefix(e.Name, backupDataDir)))
		if _, err := os.Stat(dst); err == nil {
			return m, fmt.Errorf("%s exists: restore goes into an empty data directory", dst)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return m, err
		}
		if err := os.Rename(filepath.Join(work, filepath.FromSlash(e.Name)), dst); err != nil {
			return m, err
		}
	}
	if err := os.Rename(filepath.Join(work, backupDBName), dbPath); err != nil {
		return m, err
	}
	return m, syncDir(filepath.Dir(dbPath))
}

const ageHeader = "age-encryption.org/v1"

func extract(r io.Reader, dst string) (e backupEntry, err error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return e, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		return e, fmt.Errorf("write %s: %w", dst, err)
	}
	return backupEntry{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, f.Sync()
}
