package tollgate

import (
	"errors"
	"fmt"
	"time"
)

// Code is a stable, machine-readable error code. Clients branch on it; it
// never changes meaning once published.
type Code string

// Error codes. httpapi maps each to one HTTP status in one table.
const (
	CodeMalformedJSON       Code = "malformed_json"         // 400
	CodeUnknownField        Code = "unknown_field"          // 400
	CodeInvalidSignature    Code = "invalid_signature"      // 400
	CodeInvalidField        Code = "invalid_field"          // 422
	CodeBodyTooLarge        Code = "body_too_large"         // 413
	CodeUnsupportedMedia    Code = "unsupported_media"      // 415
	CodeUnauthorized        Code = "unauthorized"           // 401
	CodeForbidden           Code = "forbidden"              // 403
	CodeNotFound            Code = "not_found"              // 404
	CodeMethodNotAllowed    Code = "method_not_allowed"     // 405
	CodeConflict            Code = "conflict"               // 409
	CodeIdempotencyMismatch Code = "idempotency_mismatch"   // 409
	CodeHoldNotPending      Code = "hold_not_pending"       // 409
	CodeCaptureExceedsHold  Code = "capture_exceeds_hold"   // 422
	CodeNoticeRequired      Code = "notice_required"        // 422
	CodeInsufficientCredits Code = "insufficient_credits"   // 402
	CodeQuoteExpired        Code = "quote_expired"          // 409
	CodeQuoteUsed           Code = "quote_used"             // 409
	CodeAccountSuspended    Code = "account_suspended"      // 403
	CodeTooManyPendingHolds Code = "too_many_pending_holds" // 409
	CodeRateLimited         Code = "rate_limited"           // 429
	CodeUnavailable         Code = "unavailable"            // 503
	CodeOutcomeUnknown      Code = "outcome_unknown"        // 503
	CodeInternal            Code = "internal"               // 500
	// Video jobs.
	CodeModelUnavailable  Code = "model_unavailable"   // 400: no live provider makes it
	CodeModerationBlocked Code = "moderation_blocked"  // 400: refused by a content policy
	CodeCannotCancel      Code = "cannot_cancel"       // 400: the provider cannot stop the job
	CodeVideoNotReady     Code = "video_not_ready"     // 404: its content is not there (yet, or any more)
	CodeCameoNotPermitted Code = "cameo_not_permitted" // 403: the cameo's owner has not consented
)

// Error is an error with a stable code and a message fit for the client.
// Field names the offending request field, when there is one.
type Error struct {
	Code    Code
	Message string
	Field   string
	// Insufficient carries the figures of an insufficient_credits error.
	Insufficient *Insufficient
	// RetryAfter, when set, is how long to wait before trying again.
	RetryAfter time.Duration
	// Title, when set, replaces the code's title for this error: one code,
	// told apart for people (a cut to a plan, a price increase).
	Title string
	// Alternatives, with model_unavailable, are what can be made instead.
	Alternatives []Alternative
}

// Alternative is a model that can make what was asked, and its price.
type Alternative struct {
	Model    string
	Provider string
	Credits  Credits
}

// Insufficient says why a hold or a usage could not be paid.
type Insufficient struct {
	AccountID              string
	Product                Product
	Required               Credits
	Available              Credits
	DailyAllowanceResetsAt *time.Time
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is lets errors.Is match an *Error against a sentinel by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == "" && t.Field == ""
}

// Errorf returns an *Error with code c and a formatted message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an invalid_field error naming field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidField, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is. They match any *Error with the same code.
var (
	ErrNotFound            = &Error{Code: CodeNotFound}
	ErrConflict            = &Error{Code: CodeConflict}
	ErrInsufficientCredits = &Error{Code: CodeInsufficientCredits}
	ErrHoldNotPending      = &Error{Code: CodeHoldNotPending}
	ErrIdempotencyMismatch = &Error{Code: CodeIdempotencyMismatch}
	ErrUnavailable         = &Error{Code: CodeUnavailable}
	ErrOutcomeUnknown      = &Error{Code: CodeOutcomeUnknown}
)

// ErrorCode returns the code of err, CodeInternal if it carries none, and
// "" for a nil error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
