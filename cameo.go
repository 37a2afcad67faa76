package tollgate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// CameoKind is what a cameo shows.
type CameoKind string

// Cameo kinds: a real person's likeness, which the operator verifies
// before anyone may use it, or a character (a made-up figure, a mascot).
const (
	CameoLikeness  CameoKind = "likeness"
	CameoCharacter CameoKind = "character"
)

// CameoPolicy says who may use a cameo in a video.
type CameoPolicy string

// Consent policies: the owner alone, the owner and the accounts the owner
// approved, or any account.
const (
	PolicyOwnerOnly CameoPolicy = "owner_only"
	PolicyApproved  CameoPolicy = "approved"
	PolicyAnyone    CameoPolicy = "anyone"
)

// Valid reports whether p is a known policy.
func (p CameoPolicy) Valid() bool {
	return p == PolicyOwnerOnly || p == PolicyApproved || p == PolicyAnyone
}

// CameoStatus is whether a cameo may be used.
type CameoStatus string

// Cameo statuses. Only an active cameo may be used by another account
// than its owner; a pending likeness may be used by nobody.
const (
	CameoActive              CameoStatus = "active"
	CameoPaused              CameoStatus = "paused"
	CameoPendingVerification CameoStatus = "pending_verification"
	CameoDeleted             CameoStatus = "deleted"
)

// Cameo is a likeness or a character that videos may show, owned by an
// account that sets who may use it and a fee per use. Its fee is paid to
// the owner when a video that shows it is captured, less the platform's
// take, in the capture's transaction.
type Cameo struct {
	ID        string
	AccountID string // the owner
	KeyID     string // the account key that made it; "" for an admin key
	Kind      CameoKind
	Name      string // display name
	Handle    string // unique, lowercase, without the @
	Policy    CameoPolicy
	Status    CameoStatus
	Fee       Credits // per use, in force now
	// FeeNext is a raise announced to users: it applies from FeeNextAt
	// (a cut applies at once).
	FeeNext   Credits    `json:",omitempty"`
	FeeNextAt *time.Time `json:",omitempty"`
	// DailyLimit is the most uses a day, counted in the owner's time
	// zone; 0 is no limit.
	DailyLimit int `json:",omitempty"`
	// Reference is the stored reference image (a file name under the data
	// directory), "" for none.
	Reference string `json:",omitempty"`
	// Provider and ProviderID: where the cameo is kept as a character (made
	// through POST /v1/videos/characters), "" when it is not. Its ids mean
	// something to that provider alone, so a video that names it is made
	// there.
	Provider   string `json:",omitempty"`
	ProviderID string `json:",omitempty"`
	Demo       bool   `json:",omitempty"` // made by the local renderer standing in for the provider
	// Unlisted keeps the cameo off the leaderboards.
	Unlisted  bool `json:",omitempty"`
	CreatedAt time.Time
	UpdatedAt time.Time  `json:",omitempty"`
	DeletedAt *time.Time `json:",omitempty"`
}

// FeeAt is the fee per use in force at t.
func (c Cameo) FeeAt(t time.Time) Credits {
	if c.FeeNextAt != nil && !t.Before(*c.FeeNextAt) {
		return c.FeeNext
	}
	return c.Fee
}

// Limits on cameos.
const (
	MaxCharactersPerAccount = 200 // cameos one account may keep
	MaxCharactersPerVideo   = 4   // cameos one video may show
	MaxCharacterNameBytes   = 80
	MaxCameoApprovals       = 10_000 // accounts one cameo may approve
	MaxCameoDailyLimit      = 1_000_000
	// MaxCameoFee bounds a fee per use: 10,000 credits.
	MaxCameoFee Credits = 10_000 * MicroPerCredit
	// MaxTakeBPS is the highest take, in basis points: all of it.
	MaxTakeBPS = 10_000
)

var handleRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.]{2,29}$`)

// ValidHandle reports whether h (without the @) is a handle: 3 to 30
// lowercase letters, digits, dots and underscores, starting with a
// letter or a digit, not ending with a dot.
func ValidHandle(h string) bool { return handleRE.MatchString(h) && !strings.HasSuffix(h, ".") }

// HandleFrom derives a handle from a display name: its letters and digits
// in lowercase, other runs as one underscore, cut to 24 bytes; "cameo"
// when nothing is left.
func HandleFrom(name string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			under = false
		case !under && b.Len() > 0:
			b.WriteByte('_')
			under = true
		}
		if b.Len() >= 24 {
			break
		}
	}
	h := strings.TrimRight(b.String(), "_")
	for len(h) < 3 {
		if h == "" {
			h = "cameo"
		} else {
			h += "_"
		}
	}
	return h
}

var handleTokenRE = regexp.MustCompile(`(^|[^A-Za-z0-9_.@])@([a-z0-9][a-z0-9_.]{2,29})`)

// PromptHandles returns the handles named in a prompt as exact @handle
// tokens (lowercase, not inside a word or an e-mail address), each once,
// in order; a trailing dot ends the sentence, not the handle.
func PromptHandles(prompt string) []string {
	var out []string
	for _, m := range handleTokenRE.FindAllStringSubmatch(prompt, -1) {
		h := strings.TrimRight(m[2], ".")
		if ValidHandle(h) && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// Permits says whether account may use the cameo now: nil, or a
// cameo_not_permitted error naming it. approved is whether its owner
// approved the account. The owner may use a cameo that is not deleted or
// pending verification; others only an active one whose policy lets them.
func (c Cameo) Permits(account string, approved bool) error {
	refuse := func(why string) error {
		return &Error{Code: CodeCameoNotPermitted, Field: "cameos",
			Message: fmt.Sprintf("cameo @%s (%s) %s", c.Handle, c.ID, why)}
	}
	switch c.Status {
	case CameoDeleted:
		return refuse("was deleted by its owner")
	case CameoPendingVerification:
		return refuse("is a likeness waiting for the operator to verify that its owner is the person shown; nobody may use it yet")
	}
	if account == c.AccountID {
		return nil
	}
	if c.Status == CameoPaused {
		return refuse("is paused by its owner")
	}
	switch c.Policy {
	case PolicyAnyone:
		return nil
	case PolicyApproved:
		if approved {
			return nil
		}
		return refuse("may be used only by accounts its owner approved; ask the owner to approve yours")
	}
	return refuse("may be used by its owner alone")
}

// FeeKind is what a fee is paid for.
type FeeKind string

// Fee kinds: the use of a cameo, or a remix, an edit or an extension of
// another account's published video.
const (
	FeeCameo FeeKind = "cameo"
	FeeRemix FeeKind = "remix"
)

// Fee is what a video pays, at capture, to the owner of a cameo or of a
// published video it uses: fixed when the video is held, on the terms
// then in force.
type Fee struct {
	Kind    FeeKind
	Subject string // the cameo's or the published video's id
	Handle  string `json:",omitempty"` // a cameo's, for people
	OwnerID string
	Credits Credits
	// TakeBPS is the platform's take of the fee, in basis points.
	TakeBPS int
	// Day is the day of the owner's time zone (YYYY-MM-DD) the use counts
	// on against a cameo's daily limit, set when the video is held.
	Day string `json:",omitempty"`
}

// Split divides the fee between the platform and the owner: the owner
// gets the fee less the take, rounded down to the micro-credit, and the
// platform the rest, so the two always sum to the fee.
func (f Fee) Split() (take, net Credits) {
	n, ok := MulDivFloor(int64(f.Credits), int64(MaxTakeBPS-f.TakeBPS), MaxTakeBPS)
	if !ok {
		return f.Credits, 0
	}
	return f.Credits - Credits(n), Credits(n)
}

// Published is a completed video its creator made visible to every
// account, with a fee other accounts pay to remix, edit or extend it
// (while Remixable: the creator's consent switch). Unpublishing deletes
// it: no new use, and its earnings stay in the statements.
type Published struct {
	VideoID     string
	AccountID   string
	RemixFee    Credits
	Remixable   bool
	PublishedAt time.Time
}

// Earning is one fee paid at a capture: what a statement sums.
type Earning struct {
	ID        string
	OwnerID   string
	PayerID   string
	Kind      FeeKind
	Subject   string
	VideoID   string
	Gross     Credits
	Take      Credits
	Net       Credits
	CreatedAt time.Time
}

// PayoutStatus is where a payout of earnings stands.
type PayoutStatus string

// Payout statuses: pending (asked; the transfer is on its way, or waits
// for the operator), paid (the money left), failed (the earnings came
// back to the owner).
const (
	PayoutPending PayoutStatus = "pending"
	PayoutPaid    PayoutStatus = "paid"
	PayoutFailed  PayoutStatus = "failed"
)

// PayoutRate is a version of the rate at which earnings are paid out in
// one currency: MinorPerCredit minor units of money per credit, for
// payouts of at least Minimum credits, from EffectiveAt.
type PayoutRate struct {
	Currency       string
	Version        int
	MinorPerCredit int64
	Minimum        Credits
	EffectiveAt    time.Time
	CreatedAt      time.Time
}

// Payout moves an owner's earnings (royalty credits) out as money. Its
// credits leave the royalty grants for the payouts book when it is asked
// for, in one transaction with the payout; a failed payout returns them to
// the grants they came from.
type Payout struct {
	ID          string
	AccountID   string
	Credits     Credits
	Amount      Money // at the rate in force when asked
	RateVersion int
	Status      PayoutStatus
	// Destination is the Stripe connected account the money goes to; ""
	// when the operator pays it by hand.
	Destination string       `json:",omitempty"`
	TransferID  string       `json:",omitempty"` // the provider's
	Reference   string       `json:",omitempty"` // the operator's, for one paid by hand
	Failure     string       `json:",omitempty"`
	Drawn       []Allocation // the royalty grants it drew on
	CreatedAt   time.Time
	SettledAt   *time.Time `json:",omitempty"`
}
