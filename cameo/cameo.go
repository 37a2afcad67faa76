// Package cameo keeps cameos (likenesses and characters with an owner, a
// consent policy and a fee per use) and decides which of them a video may
// show and what it pays for them. The fees are paid to the owners by the
// ledger, in the transaction that captures the video.
package cameo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store/record"
)

// DefaultTakeBPS is the platform's take of a fee by default: 20%.
const DefaultTakeBPS = 2000

// DefaultNotice is how far ahead a raise of a fee is announced by
// default, as for prices.
const DefaultNotice = 14 * 24 * time.Hour

// Config is what a Service needs.
type Config struct {
	Ledger *ledger.Ledger
	Clock  tollgate.Clock
	// TakeBPS is the platform's take of each fee, in basis points (0 to
	// 10,000); negative takes DefaultTakeBPS.
	TakeBPS int
	// Notice is how far ahead a raise of a fee applies; zero takes
	// DefaultNotice.
	Notice time.Duration
}

// Service keeps cameos, and pays out what they earn. It is safe for
// concurrent use.
type Service struct {
	c   Config
	pay PayoutConfig
}

// New returns a Service.
func New(c Config) *Service {
	if c.TakeBPS < 0 {
		c.TakeBPS = DefaultTakeBPS
	}
	if c.Notice <= 0 {
		c.Notice = DefaultNotice
	}
	if c.Clock == nil {
		c.Clock = tollgate.SystemClock{}
	}
	return &Service{c: c}
}

// TakeBPS is the platform's take of each fee, in basis points.
func (s *Service) TakeBPS() int { return s.c.TakeBPS }

// Params describe a new cameo.
type Params struct {
	AccountID string
	KeyID     string // "" for an admin key
	Kind      tollgate.CameoKind
	Name      string
	// Handle is the @handle asked for (without the @); "" derives one from
	// the name, with a number added when it is taken.
	Handle     string
	Policy     tollgate.CameoPolicy // default owner_only
	Fee        tollgate.Credits
	DailyLimit int
	// Reference is a stored reference image (a file name), "" for none.
	Reference string
	// Provider and ProviderID: where it is kept as a character.
	Provider, ProviderID string
	Demo                 bool
	Idempotency          *ledger.Idempotency
}

// Create stores a new cameo. A likeness waits for the operator's
// verification (pending_verification); a character is active at once. It
// fails with invalid_field naming the parameter, conflict when the handle
// asked for is taken or the account keeps MaxCharactersPerAccount cameos,
// and returns *ledger.Replayed for an Idempotency-Key already answered.
func (s *Service) Create(ctx context.Context, p Params) (tollgate.Cameo, error) {
	if p.Kind == "" {
		p.Kind = tollgate.CameoCharacter
	}
	if p.Policy == "" {
		p.Policy = tollgate.PolicyOwnerOnly
	}
	name := strings.TrimSpace(p.Name)
	switch {
	case p.Kind != tollgate.CameoLikeness && p.Kind != tollgate.CameoCharacter:
		return tollgate.Cameo{}, tollgate.FieldError("kind", "unknown kind %q; known: likeness, character", p.Kind)
	case name == "":
		return tollgate.Cameo{}, tollgate.FieldError("name", "is required: the cameo's display name")
	case len(name) > tollgate.MaxCharacterNameBytes || !tollgate.CleanText(name):
		return tollgate.Cameo{}, tollgate.FieldError("name", "must be UTF-8 text of at most %d bytes without control characters", tollgate.MaxCharacterNameBytes)
	case p.Handle != "" && !tollgate.ValidHandle(strings.TrimPrefix(p.Handle, "@")):
		return tollgate.Cameo{}, tollgate.FieldError("handle", "must be 3 to 30 lowercase letters, digits, dots and underscores, starting with a letter or a digit")
	}
	if err := checkTerms(p.Policy, p.Fee, p.DailyLimit); err != nil {
		return tollgate.Cameo{}, err
	}
	now := s.c.Clock.Now()
	c := tollgate.Cameo{ID: tollgate.NewID("char"), AccountID: p.AccountID, KeyID: p.KeyID, Kind: p.Kind, Name: name,
		Handle: strings.TrimPrefix(p.Handle, "@"), Policy: p.Policy, Status: tollgate.CameoActive, Fee: p.Fee, DailyLimit: p.DailyLimit,
		Reference: p.Reference, Provider: p.Provider, ProviderID: p.ProviderID, Demo: p.Demo, CreatedAt: now}
	if c.Kind == tollgate.CameoLikeness {
		c.Status = tollgate.CameoPendingVerification
	}
	derive := c.Handle == ""
	res, err := s.c.Ledger.WriteIdempotent(ctx, p.Idempotency, func(tx record.Tx) (any, error) {
		n, err := tx.CameoCount(ctx, p.AccountID)
		if err != nil {
			return nil, err
		}
		if n >= tollgate.MaxCharactersPerAccount {
			return nil, tollgate.Errorf(tollgate.CodeConflict, "account %s keeps %d cameos, the most an account may have; delete one first", p.AccountID, n)
		}
		if derive {
			if c.Handle, err = freeHandle(ctx, tx, name); err != nil {
				return nil, err
			}
		}
		err = tx.CameoInsert(ctx, c)
		if errors.Is(err, tollgate.ErrConflict) {
			return nil, &tollgate.Error{Code: tollgate.CodeConflict, Field: "handle", Message: fmt.Sprintf("handle @%s is taken; choose another", c.Handle)}
		}
		if err != nil {
			return nil, err
		}
		return c, s.c.Ledger.Audit(ctx, tx, "cameo.create", c.AccountID, c.ID, map[string]any{"kind": c.Kind, "handle": c.Handle,
			"policy": c.Policy, "fee": c.Fee, "daily_limit": c.DailyLimit, "provider": c.Provider})
	})
	if err != nil {
		return tollgate.Cameo{}, err
	}
	return res.(tollgate.Cameo), nil
}

// freeHandle derives a handle from name that no cameo has: the name's,
// then with _2, _3... added.
func freeHandle(ctx context.Context, tx record.Tx, name string) (string, error) {
	base := tollgate.HandleFrom(name)
	for i := 1; i <= 1000; i++ {
		h := base
		if i > 1 {
			h = fmt.Sprintf("%s_%d", base, i)
		}
		_, err := tx.CameoByHandle(ctx, h)
		if errors.Is(err, tollgate.ErrNotFound) {
			return h, nil
		}
		if err != nil {
			return "", err
		}
	}
	// A thousand cameos share the name: a random suffix ends the search.
	return fmt.Sprintf("%s_%s", base, tollgate.NewID("x")[len(tollgate.NewID("x"))-6:]), nil
}

// checkTerms checks what an owner sets: the policy, the fee and the limit.
func checkTerms(p tollgate.CameoPolicy, fee tollgate.Credits, limit int) error {
	switch {
	case !p.Valid():
		return tollgate.FieldError("policy", "unknown policy %q; known: owner_only, approved, anyone", p)
	case fee < 0 || fee > tollgate.MaxCameoFee:
		return tollgate.FieldError("fee", "must be from 0 to %s credits", tollgate.MaxCameoFee)
	case limit < 0 || limit > tollgate.MaxCameoDailyLimit:
		return tollgate.FieldError("daily_limit", "must be from 0 (no limit) to %d uses a day", tollgate.MaxCameoDailyLimit)
	}
	return nil
}

// View is a cameo as one account sees it: Full when it is the owner's (or
// an admin's view); otherwise only its public fields are meant to be shown.
type View struct {
	tollgate.Cameo
	Full bool
}

// Get returns the cameo with id, or with a handle given as "@handle", as
// viewer sees it ("" for an admin): its owner sees all of it; an account
// it permits (an active cameo whose policy lets it in) sees its public
// fields; anyone else gets not_found, as for a cameo that does not exist.
func (s *Service) Get(ctx context.Context, ref, viewer string) (View, error) {
	c, err := s.read(ctx, ref)
	if err != nil {
		return View{}, err
	}
	if viewer == "" || viewer == c.AccountID {
		return View{Cameo: c, Full: true}, nil
	}
	if c.Status != tollgate.CameoDeleted {
		if err := s.permits(ctx, c, viewer); err == nil {
			return View{Cameo: c}, nil
		}
	}
	return View{}, notFound(ref)
}

// read reads a cameo by id or by "@handle".
func (s *Service) read(ctx context.Context, ref string) (tollgate.Cameo, error) {
	var c tollgate.Cameo
	var err error = tollgate.ErrNotFound
	h, byHandle := strings.CutPrefix(ref, "@")
	if ok := tollgate.CleanText(ref) && ref != "" && len(ref) <= 100; ok {
		err = s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			if byHandle {
				c, err = tx.CameoByHandle(ctx, strings.ToLower(h))
			} else {
				c, err = tx.CameoByID(ctx, ref)
			}
			return err
		})
	}
	if errors.Is(err, tollgate.ErrNotFound) {
		return tollgate.Cameo{}, notFound(ref)
	}
	return c, err
}

func notFound(ref string) error {
	return &tollgate.Error{Code: tollgate.CodeNotFound, Field: "cameo_id", Message: fmt.Sprintf("cameo %q not found", ref)}
}

// permits checks that account may use c now.
func (s *Service) permits(ctx context.Context, c tollgate.Cameo, account string) error {
	approved := false
	if c.Policy == tollgate.PolicyApproved && account != c.AccountID {
		err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			approved, err = tx.CameoApproved(ctx, c.ID, account)
			return err
		})
		if err != nil {
			return err
		}
	}
	return c.Permits(account, approved)
}

// owned reads a cameo for a change by its owner (owner "" for an admin):
// another account's, or a deleted one, is not found.
func (s *Service) owned(ctx context.Context, tx record.Tx, id, owner string) (tollgate.Cameo, error) {
	c, err := tx.CameoByID(ctx, id)
	if errors.Is(err, tollgate.ErrNotFound) || err == nil && (owner != "" && c.AccountID != owner || c.Status == tollgate.CameoDeleted) {
		return tollgate.Cameo{}, notFound(id)
	}
	return c, err
}

// List pages through an account's cameos by id.
func (s *Service) List(ctx context.Context, owner, after string, limit int) ([]tollgate.Cameo, error) {
	var out []tollgate.Cameo
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		out, err = tx.CameoList(ctx, owner, after, limit)
		return err
	})
	return out, err
}

// Changes are what an owner changes of a cameo; nil fields stay.
type Changes struct {
	Name       *string
	Policy     *tollgate.CameoPolicy
	Fee        *tollgate.Credits
	DailyLimit *int
	// Paused pauses (true) or resumes (false) the cameo.
	Paused *bool
	// Listed shows it on the leaderboards (true, the default) or keeps it
	// off (false).
	Listed      *bool
	Idempotency *ledger.Idempotency
}

// Update changes a cameo of owner ("" for an admin). A cut of the fee
// applies at once (and drops a raise announced); a raise applies after
// the notice period, announced on the cameo (fee_next, fee_next_at) until
// then. Jobs already held pay the fee they were quoted.
func (s *Service) Update(ctx context.Context, id, owner string, ch Changes) (tollgate.Cameo, error) {
	res, err := s.c.Ledger.WriteIdempotent(ctx, ch.Idempotency, func(tx record.Tx) (any, error) {
		c, err := s.owned(ctx, tx, id, owner)
		if err != nil {
			return nil, err
		}
		now := s.c.Clock.Now()
		c.Fee, c.FeeNext, c.FeeNextAt = c.FeeAt(now), feeNextAfter(c, now), feeNextAtAfter(c, now)
		detail := map[string]any{}
		if ch.Name != nil {
			name := strings.TrimSpace(*ch.Name)
			if name == "" || len(name) > tollgate.MaxCharacterNameBytes || !tollgate.CleanText(name) {
				return nil, tollgate.FieldError("name", "must be UTF-8 text of 1 to %d bytes without control characters", tollgate.MaxCharacterNameBytes)
			}
			c.Name, detail["name"] = name, name
		}
		policy, fee, limit := c.Policy, c.Fee, c.DailyLimit
		if ch.Policy != nil {
			policy = *ch.Policy
		}
		if ch.Fee != nil {
			fee = *ch.Fee
		}
		if ch.DailyLimit != nil {
			limit = *ch.DailyLimit
		}
		if err := checkTerms(policy, fee, limit); err != nil {
			return nil, err
		}
		c.Policy, c.DailyLimit = policy, limit
		if ch.Policy != nil {
			detail["policy"] = policy
		}
		if ch.DailyLimit != nil {
			detail["daily_limit"] = limit
		}
		if ch.Fee != nil {
			switch {
			case fee > c.Fee:
				at := now.Add(s.c.Notice)
				c.FeeNext, c.FeeNextAt = fee, &at
				detail["fee_next"], detail["fee_next_at"] = fee, at
			default:
				c.Fee, c.FeeNext, c.FeeNextAt = fee, 0, nil
				detail["fee"] = fee
			}
		}
		if ch.Paused != nil {
			switch {
			case *ch.Paused && c.Status == tollgate.CameoActive:
				c.Status = tollgate.CameoPaused
			case !*ch.Paused && c.Status == tollgate.CameoPaused:
				c.Status = tollgate.CameoActive
			case c.Status == tollgate.CameoPendingVerification:
				return nil, tollgate.FieldError("paused", "cameo %s waits for the operator's verification; it can be paused or resumed once verified", c.ID)
			}
			detail["status"] = c.Status
		}
		if ch.Listed != nil {
			c.Unlisted, detail["listed"] = !*ch.Listed, *ch.Listed
		}
		c.UpdatedAt = now
		if err := tx.CameoUpdate(ctx, c); err != nil {
			return nil, err
		}
		return c, s.c.Ledger.Audit(ctx, tx, "cameo.update", c.AccountID, c.ID, detail)
	})
	if err != nil {
		return tollgate.Cameo{}, err
	}
	return res.(tollgate.Cameo), nil
}

// feeNextAfter and feeNextAtAfter are the raise still announced at now:
// none once it applies.
func feeNextAfter(c tollgate.Cameo, now time.Time) tollgate.Credits {
	if c.FeeNextAt == nil || !now.Before(*c.FeeNextAt) {
		return 0
	}
	return c.FeeNext
}

func feeNextAtAfter(c tollgate.Cameo, now time.Time) *time.Time {
	if c.FeeNextAt == nil || !now.Before(*c.FeeNextAt) {
		return nil
	}
	return c.FeeNextAt
}

// Verify is the operator's word that a likeness shows the person who
// registered it: it becomes active.
func (s *Service) Verify(ctx context.Context, id string) (tollgate.Cameo, error) {
	res, err := s.c.Ledger.WriteIdempotent(ctx, nil, func(tx record.Tx) (any, error) {
		c, err := s.owned(ctx, tx, id, "")
		if err != nil {
			return nil, err
		}
		if c.Status != tollgate.CameoPendingVerification {
			return nil, tollgate.FieldError("cameo_id", "cameo %s is %s, not waiting for verification", c.ID, c.Status)
		}
		c.Status, c.UpdatedAt = tollgate.CameoActive, s.c.Clock.Now()
		if err := tx.CameoUpdate(ctx, c); err != nil {
			return nil, err
		}
		return c, s.c.Ledger.Audit(ctx, tx, "cameo.verify", c.AccountID, c.ID, map[string]any{"status": c.Status})
	})
	if err != nil {
		return tollgate.Cameo{}, err
	}
	return res.(tollgate.Cameo), nil
}

// Delete deletes a cameo of owner ("" for an admin): nobody may use it
// from now on, its handle is free, and jobs already held finish and pay
// its fee as quoted. Its earnings stay in its statements.
func (s *Service) Delete(ctx context.Context, id, owner string) (tollgate.Cameo, error) {
	res, err := s.c.Ledger.WriteIdempotent(ctx, nil, func(tx record.Tx) (any, error) {
		c, err := s.owned(ctx, tx, id, owner)
		if err != nil {
			return nil, err
		}
		now := s.c.Clock.Now()
		c.Status, c.DeletedAt, c.UpdatedAt = tollgate.CameoDeleted, &now, now
		if err := tx.CameoUpdate(ctx, c); err != nil {
			return nil, err
		}
		return c, s.c.Ledger.Audit(ctx, tx, "cameo.delete", c.AccountID, c.ID, nil)
	})
	if err != nil {
		return tollgate.Cameo{}, err
	}
	return res.(tollgate.Cameo), nil
}

// Approve lets account use a cameo of owner ("" for an admin) whose policy
// is approved; approving again changes nothing. A cameo approves at most
// MaxCameoApprovals accounts.
func (s *Service) Approve(ctx context.Context, id, owner, account string) error {
	if account == "" {
		return tollgate.FieldError("account_id", "is required: the account to approve")
	}
	if _, err := s.c.Ledger.Account(ctx, account); err != nil {
		if tollgate.ErrorCode(err) == tollgate.CodeNotFound {
			return tollgate.FieldError("account_id", "account %q not found", account)
		}
		return err
	}
	return s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error {
		c, err := s.owned(ctx, tx, id, owner)
		if err != nil {
			return err
		}
		if account == c.AccountID {
			return tollgate.FieldError("account_id", "the owner may always use its own cameo")
		}
		if ok, err := tx.CameoApproved(ctx, c.ID, account); err != nil || ok {
			return err
		}
		n, err := tx.CameoApprovalCount(ctx, c.ID)
		if err != nil {
			return err
		}
		if n >= tollgate.MaxCameoApprovals {
			return tollgate.Errorf(tollgate.CodeConflict, "cameo %s approves %d accounts, the most it may; set its policy to anyone, or revoke some", c.ID, n)
		}
		if err := tx.CameoApprove(ctx, c.ID, account, s.c.Clock.Now()); err != nil {
			return err
		}
		return s.c.Ledger.Audit(ctx, tx, "cameo.approve", c.AccountID, c.ID, map[string]any{"account_id": account})
	})
}

// Revoke withdraws an account's approval at once: its new jobs are
// refused; those already held finish on the terms they were quoted with.
// Revoking an account not approved is not_found.
func (s *Service) Revoke(ctx context.Context, id, owner, account string) error {
	return s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error {
		c, err := s.owned(ctx, tx, id, owner)
		if err != nil {
			return err
		}
		ok, err := tx.CameoRevoke(ctx, c.ID, account)
		if err != nil {
			return err
		}
		if !ok {
			return &tollgate.Error{Code: tollgate.CodeNotFound, Field: "account_id", Message: fmt.Sprintf("account %q is not approved for cameo %s", account, c.ID)}
		}
		return s.c.Ledger.Audit(ctx, tx, "cameo.revoke", c.AccountID, c.ID, map[string]any{"account_id": account})
	})
}

// Approvals pages through the accounts a cameo of owner approved.
func (s *Service) Approvals(ctx context.Context, id, owner, after string, limit int) ([]string, error) {
	var out []string
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		c, err := s.owned(ctx, tx, id, owner)
		if err != nil {
			return err
		}
		out, err = tx.CameoApprovals(ctx, c.ID, after, limit)
		return err
	})
	return out, err
}

// Use is what a video shows: the cameos, in the order named, and the fees
// it pays for them (none for its own).
type Use struct {
	Cameos []tollgate.Cameo
	Fees   []tollgate.Fee
}

// Resolve finds the cameos a video of payer shows: those named by id
// (characters[][id] or tollgate.cameos, which must exist), then those
// named by an exact @handle token in the prompt (a token no cameo has is
// text, and charges nothing). It checks that payer may use each now and
// fixes the fee each pays at the terms in force. It fails with
// invalid_field naming field for an unknown id or too many cameos, and
// cameo_not_permitted naming the cameo.
func (s *Service) Resolve(ctx context.Context, payer, field string, ids []string, prompt string) (Use, error) {
	var u Use
	seen := map[string]bool{}
	add := func(c tollgate.Cameo) error {
		if seen[c.ID] {
			return nil
		}
		seen[c.ID] = true
		if len(u.Cameos) == tollgate.MaxCharactersPerVideo {
			return tollgate.FieldError(field, "a video shows at most %d cameos", tollgate.MaxCharactersPerVideo)
		}
		if err := s.permits(ctx, c, payer); err != nil {
			return err
		}
		if c.DailyLimit > 0 && c.AccountID != payer {
			if err := s.underLimit(ctx, c); err != nil {
				return err
			}
		}
		u.Cameos = append(u.Cameos, c)
		if fee := c.FeeAt(s.c.Clock.Now()); c.AccountID != payer {
			u.Fees = append(u.Fees, tollgate.Fee{Kind: tollgate.FeeCameo, Subject: c.ID, Handle: c.Handle, OwnerID: c.AccountID,
				Credits: fee, TakeBPS: s.c.TakeBPS})
		}
		return nil
	}
	for _, id := range ids {
		c, err := s.read(ctx, id)
		if err == nil && c.Status == tollgate.CameoDeleted && c.AccountID != payer {
			err = notFound(id)
		}
		if tollgate.ErrorCode(err) == tollgate.CodeNotFound {
			return Use{}, tollgate.FieldError(field, "cameo %q not found", id)
		}
		if err != nil {
			return Use{}, err
		}
		if err := add(c); err != nil {
			return Use{}, err
		}
	}
	for _, h := range tollgate.PromptHandles(prompt) {
		c, err := s.read(ctx, "@"+h)
		if tollgate.ErrorCode(err) == tollgate.CodeNotFound {
			continue
		}
		if err != nil {
			return Use{}, err
		}
		if err := add(c); err != nil {
			return Use{}, err
		}
	}
	return u, nil
}

// underLimit checks that a cameo has uses left today, in its owner's time
// zone (the hold checks again, under the owner's lock).
func (s *Service) underLimit(ctx context.Context, c tollgate.Cameo) error {
	owner, err := s.c.Ledger.Account(ctx, c.AccountID)
	if err != nil {
		return err
	}
	day := s.c.Clock.Now().In(owner.Location()).Format(time.DateOnly)
	var n int
	if err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		n, err = tx.CameoUsesOn(ctx, c.ID, day)
		return err
	}); err != nil {
		return err
	}
	if n >= c.DailyLimit {
		return &tollgate.Error{Code: tollgate.CodeCameoNotPermitted, Field: "cameos",
			Message: fmt.Sprintf("cameo @%s (%s) was used %d times today, its owner's daily limit; it can be used again after midnight in %s",
				c.Handle, c.ID, c.DailyLimit, owner.Timezone)}
	}
	return nil
}

// Upstream is the prompt as sent to a provider: each @handle of a cameo
// the video shows becomes the cameo's display name.
func Upstream(prompt string, cameos []tollgate.Cameo) string {
	if len(cameos) == 0 {
		return prompt
	}
	names := map[string]string{}
	for _, c := range cameos {
		names[c.Handle] = c.Name
	}
	var b strings.Builder
	for i := 0; i < len(prompt); {
		c := prompt[i]
		if c != '@' {
			b.WriteByte(c)
			i++
			continue
		}
		j := i + 1
		for j < len(prompt) && isHandleByte(prompt[j]) {
			j++
		}
		h := strings.TrimRight(prompt[i+1:j], ".")
		j = i + 1 + len(h)
		name, ok := names[h]
		if ok && (i == 0 || !isHandleByte(prompt[i-1]) && prompt[i-1] != '@') {
			b.WriteString(name)
		} else {
			b.WriteString(prompt[i:j])
		}
		i = j
	}
	return b.String()
}

func isHandleByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c >= 'A' && c <= 'Z'
}

// IDs returns the ids of cameos.
func IDs(cs []tollgate.Cameo) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return slices.Clip(out)
}
