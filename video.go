package tollgate

import "time"

// VideoStatus is where a video job stands, in OpenAI's words.
type VideoStatus string

// Video statuses. Completed and failed are final.
const (
	VideoQueued     VideoStatus = "queued"
	VideoInProgress VideoStatus = "in_progress"
	VideoCompleted  VideoStatus = "completed"
	VideoFailed     VideoStatus = "failed"
)

// Final reports whether s is completed or failed.
func (s VideoStatus) Final() bool { return s == VideoCompleted || s == VideoFailed }

// VideoKind is what a job makes.
type VideoKind string

// Video kinds: a new clip, a remix of a completed one, an edit of one, or
// an extension stitched onto one.
const (
	VideoCreate VideoKind = "create"
	VideoRemix  VideoKind = "remix"
	VideoEdit   VideoKind = "edit"
	VideoExtend VideoKind = "extend"
)

// VideoStep is the next thing the job runner does for a video.
type VideoStep string

// Video steps, in the order a job normally takes them.
const (
	StepRoute  VideoStep = "route"  // choose a provider and submit
	StepPoll   VideoStep = "poll"   // ask the provider how the job goes
	StepFetch  VideoStep = "fetch"  // download, check and store the output, then capture
	StepCancel VideoStep = "cancel" // cancel upstream, then release
	StepDone   VideoStep = ""       // nothing left to do
)

// Video is a video generation job: what was asked, what it holds and
// charges, where it runs, and what came of it. Its credits move only
// through its hold, and its completion or failure is written in the same
// transaction as the hold's capture or release.
type Video struct {
	ID        string
	AccountID string
	KeyID     string // the account key that made it; "" for an admin key
	Project   string // the OpenAI-Project header it came with, if any
	Kind      VideoKind
	Status    VideoStatus
	Progress  int    // 0 to 100, never falls
	Model     string // as asked: a model, an alias or auto, auto:cheapest, auto:fastest
	Policy    string // cheapest, fastest or balanced
	Prompt    string
	// UpstreamPrompt is the prompt sent to the provider when it differs
	// from Prompt: each cameo's @handle replaced by its name.
	UpstreamPrompt string `json:",omitempty"`
	Seconds        int    // asked for; an extension's stitched total
	Size           string // "1280x720"
	SourceID       string // the video remixed, edited or extended
	// Characters are the cameos the video shows (their Tollgate ids); those
	// kept at a provider as characters pin it to that provider.
	Characters []string `json:",omitempty"`
	// Fees are what the video pays at capture to the owners of the cameos
	// it shows and of the published video it builds on, fixed when it was
	// held; they are part of Held, and paid in full only when the video is
	// delivered.
	Fees []Fee `json:",omitempty"`
	// Input is the stored reference image or video (a file name under the
	// data directory), "" for none.
	Input string
	// InputSeconds is the length of an uploaded video that an edit or an
	// extension works on (without SourceID), as measured.
	InputSeconds int
	// Constraints are the request's limits on routing.
	Constraints VideoConstraints

	QuoteID string
	HoldID  string
	Held    Credits // the quote: never charged more
	Charged Credits // captured, once completed

	// Delivered is what the provider delivered, as measured.
	DeliveredSeconds float64
	DeliveredSize    string

	Provider      string // the provider running or that ran it
	ProviderModel string
	ProviderJob   string // the provider's id of the attempt running
	Attempts      []VideoAttempt
	// Cost is the provider's price for what it delivered, in money.
	Cost Money
	// Revenue is what the credits charged were paid for, one amount per
	// currency: each purchased credit at its order's price per credit
	// (rounded down per grant); allowance, promotion, admin, refund,
	// royalty and transferred credits are worth nothing. Set by the
	// capture, in its transaction.
	Revenue []Money `json:",omitempty"`
	Demo    bool    // the local renderer stood in for the model (no provider configured)
	// FromFrame: an extension made as a clip of its own from the source's
	// last frame, then joined to it, because the provider that made the
	// source cannot extend it.
	FromFrame bool

	ErrorCode    string
	ErrorMessage string

	Step    VideoStep
	NextAt  *time.Time // when the runner looks at it next; nil when done
	Version int64      // bumped by every write: writes check it

	CreatedAt   time.Time
	StartedAt   *time.Time
	CompletedAt *time.Time
	ExpiresAt   *time.Time // when its stored output is deleted
	DeletedAt   *time.Time
}

// VideoConstraints are a request's limits on routing.
type VideoConstraints struct {
	MaxCredits       Credits  `json:",omitempty"` // 0: the quote is the limit
	Providers        []string `json:",omitempty"` // only these
	ExcludeProviders []string `json:",omitempty"`
}

// VideoAttempt is one submission to a provider.
type VideoAttempt struct {
	Provider      string
	ProviderModel string
	ProviderJob   string `json:",omitempty"`
	StartedAt     time.Time
	EndedAt       *time.Time `json:",omitempty"`
	// Outcome: "running", "completed", "failed", "refused" (content
	// policy), "unknown" (the submit's answer was lost), "cancelled".
	Outcome string
	// Final: this provider failed the video for good (a terminal error, a
	// refusal when the operator lets another try): it is not sent there
	// again.
	Final   bool `json:",omitempty"`
	Seconds int  `json:",omitempty"` // asked of the provider
	// Tries counts the calls of the attempt's current step that failed
	// (reconciling, downloading), bounded before the job gives up.
	Tries int    `json:",omitempty"`
	Error string `json:",omitempty"`
	Cost  Money  `json:",omitempty"`
}

// Latency is how long the attempt took, or has taken by now.
func (a VideoAttempt) Latency(now time.Time) time.Duration {
	if a.EndedAt != nil {
		return a.EndedAt.Sub(a.StartedAt)
	}
	return now.Sub(a.StartedAt)
}

// Video events sent to webhook endpoints, in OpenAI's envelope.
const (
	EventVideoCompleted = "video.completed"
	EventVideoFailed    = "video.failed"
)
