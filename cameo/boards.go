package cameo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store/record"
)

// Period is a calendar period in a time zone: a day, a week starting on
// Monday, or a month.
type Period string

// Periods of statements and leaderboards.
const (
	Day   Period = "day"
	Week  Period = "week"
	Month Period = "month"
)

// Span is the period that holds t in loc: [start, end).
func (p Period) Span(t time.Time, loc *time.Location) (start, end time.Time, err error) {
	l := t.In(loc)
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	switch p {
	case Day:
		return day, day.AddDate(0, 0, 1), nil
	case Week:
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		start = day.AddDate(0, 0, -back)
		return start, start.AddDate(0, 0, 7), nil
	case Month:
		start = time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 1, 0), nil
	}
	return time.Time{}, time.Time{}, tollgate.FieldError("period", "unknown period %q; known: day, week, month", p)
}

// StatementLine is what one cameo or published video of an owner earned
// in one period.
type StatementLine struct {
	Kind             tollgate.FeeKind // cameo or remix
	Subject          string           // the cameo's or the video's id
	Handle           string           // a cameo's, for people
	Period           time.Time        // the period's start in the owner's time zone
	Uses             int64
	Gross, Take, Net tollgate.Credits
}

// MaxStatementDays bounds the span of one statement.
const MaxStatementDays = 366

// Statement sums what an owner's cameos and published videos earned in
// [from, to) (instants; the caller takes them from local dates), per
// subject and per day or month of the owner's time zone, from the
// counters the captures keep: it reads those, never the history of
// captures. Lines are by period, then kind, then subject.
func (s *Service) Statement(ctx context.Context, owner string, from, to time.Time, per Period) ([]StatementLine, error) {
	if per != Day && per != Month {
		return nil, tollgate.FieldError("group_by", "must be day or month")
	}
	if !to.After(from) || to.Sub(from) > MaxStatementDays*24*time.Hour+time.Hour {
		return nil, tollgate.FieldError("to", "must be after from, at most %d days later", MaxStatementDays)
	}
	a, err := s.c.Ledger.Account(ctx, owner)
	if err != nil {
		return nil, err
	}
	loc := a.Location()
	var cs []record.Counter
	err = s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		cs, err = tx.CounterOwner(ctx, owner, from, to)
		return err
	})
	if err != nil {
		return nil, err
	}
	type key struct {
		period  time.Time
		board   string
		subject string
	}
	sums := map[key]*StatementLine{}
	var keys []key
	for _, c := range cs {
		start, _, err := per.Span(c.Bucket, loc)
		if err != nil {
			return nil, err
		}
		k := key{start, c.Board, c.Subject}
		l := sums[k]
		if l == nil {
			kind := tollgate.FeeCameo
			if c.Board == ledger.BoardVideo {
				kind = tollgate.FeeRemix
			}
			l = &StatementLine{Kind: kind, Subject: c.Subject, Period: start}
			sums[k] = l
			keys = append(keys, k)
		}
		l.Uses += c.Uses
		l.Gross += c.Gross
		l.Take += c.Take
		l.Net += c.Net
	}
	slices.SortFunc(keys, func(x, y key) int {
		if c := x.period.Compare(y.period); c != 0 {
			return c
		}
		if x.board != y.board {
			if x.board < y.board {
				return -1
			}
			return 1
		}
		switch {
		case x.subject < y.subject:
			return -1
		case x.subject > y.subject:
			return 1
		}
		return 0
	})
	handles := map[string]string{}
	out := make([]StatementLine, 0, len(keys))
	for _, k := range keys {
		l := *sums[k]
		if l.Kind == tollgate.FeeCameo {
			h, ok := handles[l.Subject]
			if !ok {
				if c, err := s.read(ctx, l.Subject); err == nil {
					h = c.Handle
				}
				handles[l.Subject] = h
			}
			l.Handle = h
		}
		out = append(out, l)
	}
	return out, nil
}

// Board names a leaderboard.
type Board string

// Leaderboards: the most remixed and extended published videos, the top
// cameos, the top creators.
const (
	BoardVideos   Board = "videos"
	BoardCameos   Board = "cameos"
	BoardCreators Board = "creators"
)

// Entry is one place on a leaderboard.
type Entry struct {
	Rank    int
	Subject string // a video's, a cameo's or an account's id
	Handle  string // a cameo's
	Name    string // a cameo's or a creator's
	OwnerID string // a video's creator; empty for cameos (their handle speaks for them)
	Uses    int64  // paid uses, remixes and extensions, or generations
	Net     tollgate.Credits
}

// LeaderboardParams ask for a leaderboard.
type LeaderboardParams struct {
	Board  Board
	Period Period
	// By ranks by "uses" (the default) or "earnings".
	By string
	// At is an instant of the period shown; Loc the viewer's time zone,
	// in which periods start (weeks on Monday).
	At    time.Time
	Loc   *time.Location
	Limit int // 1 to 100, default 10
}

// MaxLeaderboard bounds a leaderboard's length.
const MaxLeaderboard = 100

// Leaderboard ranks a board's subjects over a period from the counters,
// summed at read time. Hidden: cameos not active (paused, deleted,
// waiting for verification) or whose owner keeps them off leaderboards,
// videos no longer published, creators who did not opt in.
func (s *Service) Leaderboard(ctx context.Context, p LeaderboardParams) ([]Entry, time.Time, time.Time, error) {
	board := map[Board]string{BoardVideos: ledger.BoardVideo, BoardCameos: ledger.BoardCameo, BoardCreators: ledger.BoardCreator}[p.Board]
	if board == "" {
		return nil, time.Time{}, time.Time{}, tollgate.FieldError("board", "unknown board %q; known: videos, cameos, creators", p.Board)
	}
	by := "uses"
	switch p.By {
	case "", "uses":
	case "earnings":
		by = "net"
	default:
		return nil, time.Time{}, time.Time{}, tollgate.FieldError("by", "must be uses or earnings")
	}
	if p.Limit == 0 {
		p.Limit = 10
	}
	if p.Limit < 1 || p.Limit > MaxLeaderboard {
		return nil, time.Time{}, time.Time{}, tollgate.FieldError("limit", "must be from 1 to %d", MaxLeaderboard)
	}
	if p.Loc == nil {
		p.Loc = time.UTC
	}
	from, to, err := p.Period.Span(p.At, p.Loc)
	if err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	var out []Entry
	// Hidden subjects are skipped: read on past them, a page at a time.
	page := p.Limit * 2
	for offset := 0; len(out) < p.Limit && offset < 50*page; offset += page {
		var cs []record.Counter
		err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			cs, err = tx.CounterTop(ctx, board, from.UTC(), to.UTC(), by, offset, page)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if len(out) == p.Limit {
					break
				}
				if by == "net" && c.Net <= 0 || by == "uses" && c.Uses <= 0 {
					continue
				}
				e, shown, err := s.entry(ctx, tx, p.Board, c)
				if err != nil {
					return err
				}
				if shown {
					e.Rank = len(out) + 1
					out = append(out, e)
				}
			}
			return nil
		})
		if err != nil {
			return nil, time.Time{}, time.Time{}, err
		}
		if len(cs) < page {
			break
		}
	}
	return out, from, to, nil
}

// entry makes a leaderboard entry of a counter, and says whether it is
// shown.
func (s *Service) entry(ctx context.Context, tx record.Tx, board Board, c record.Counter) (Entry, bool, error) {
	e := Entry{Subject: c.Subject, Uses: c.Uses, Net: c.Net}
	switch board {
	case BoardCameos:
		cm, err := tx.CameoByID(ctx, c.Subject)
		if errors.Is(err, tollgate.ErrNotFound) {
			return e, false, nil
		}
		if err != nil {
			return e, false, err
		}
		e.Handle, e.Name = cm.Handle, cm.Name
		return e, cm.Status == tollgate.CameoActive && !cm.Unlisted, nil
	case BoardVideos:
		pub, err := tx.PublishedByID(ctx, c.Subject)
		if errors.Is(err, tollgate.ErrNotFound) {
			return e, false, nil
		}
		if err != nil {
			return e, false, err
		}
		e.OwnerID = pub.AccountID
		return e, true, nil
	case BoardCreators:
		in, err := tx.OptedIn(ctx, c.Subject)
		if err != nil || !in {
			return e, false, err
		}
		e.OwnerID = c.Subject
		return e, true, nil
	}
	return e, false, fmt.Errorf("unknown board %q", board)
}

// OptIn puts an account on the creators' leaderboard (in true) or takes
// it off.
func (s *Service) OptIn(ctx context.Context, account string, in bool) error {
	return s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error {
		if err := tx.OptInSet(ctx, account, in, s.c.Clock.Now()); err != nil {
			return err
		}
		return s.c.Ledger.Audit(ctx, tx, "leaderboard.opt_in", account, account, map[string]any{"opt_in": in})
	})
}

// OptedIn reports whether an account is on the creators' leaderboard.
func (s *Service) OptedIn(ctx context.Context, account string) (bool, error) {
	var in bool
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		in, err = tx.OptedIn(ctx, account)
		return err
	})
	return in, err
}
