package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"tollgate"
	"tollgate/gateway"
	"tollgate/ledger"
)

// videoSeconds are the clip lengths OpenAI's API lists; the catalog says
// which each model makes.
const videoSeconds = "4, 8, 12, 16, 20"

// videoSecondsValue is a clip length as OpenAI sends it, a string ("4"),
// or as a number.
type videoSecondsValue struct {
	set bool
	n   int
	raw string
}

func (v *videoSecondsValue) UnmarshalJSON(b []byte) error {
	v.set = true
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		s = string(b)
	}
	v.raw = s
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 3600 {
		return tollgate.FieldError("seconds", "must be one of %s (as a string, as OpenAI's API takes it), not %s", videoSeconds, string(b))
	}
	v.n = n
	return nil
}

func (videoSecondsValue) jsonSchema(*schemas) map[string]any {
	return map[string]any{"description": "Clip length in seconds, a string as OpenAI's API takes it (a number is accepted too). " +
		"4, 8 or 12; 16 and 20 where the model makes them; an extension's added seconds are 4, 8, 12, 16 or 20.",
		"oneOf": []any{map[string]any{"type": "string", "pattern": "^[0-9]{1,4}$"}, map[string]any{"type": "integer", "minimum": 1, "maximum": 3600}}}
}

// videoOptions are Tollgate's own fields of a video request, in the
// tollgate member: a JSON object, or a JSON object in a string (openai-go
// sends extra fields as strings).
type videoOptions struct {
	AccountID        string   `json:"account_id" doc:"Required with an admin key: the account the video is for."`
	QuoteID          string   `json:"quote_id" doc:"A quote (POST /v1/quotes) that locks the price; without one the video is priced now."`
	MaxCredits       amount   `json:"max_credits" doc:"Refuse rather than pay more than this."`
	Policy           string   `json:"policy" enum:"cheapest,fastest,balanced" doc:"How the router ranks providers; default cheapest (auto:fastest means fastest)."`
	Providers        []string `json:"providers" doc:"Only these providers may make it."`
	ExcludeProviders []string `json:"exclude_providers" doc:"These providers may not."`
	Cameos           []string `json:"cameos" doc:"Cameos (ids or @handles) a new video shows, besides characters and the @handles of its prompt; a remix, an edit or an extension shows its source's."`
}

func (videoOptions) schemaName() string { return "VideoOptions" }

// videoOptionsField accepts videoOptions as an object or as a string.
type videoOptionsField struct {
	videoOptions
}

func (f *videoOptionsField) UnmarshalJSON(b []byte) error { return decodeOptions(b, &f.videoOptions) }

func (videoOptionsField) jsonSchema(g *schemas) map[string]any {
	return optionsSchema(g, reflect.TypeFor[videoOptions]())
}

// decodeOptions decodes the tollgate member into v: an object, or the same
// object as a JSON string (openai-go sends extra form fields as strings).
// An error names its field under tollgate.
func decodeOptions(b []byte, v any) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		b = []byte(s)
	}
	if err := decode(b, v, false); err != nil {
		var e *tollgate.Error
		if errors.As(err, &e) {
			e.Field = strings.TrimSuffix("tollgate."+e.Field, ".")
		}
		return err
	}
	return nil
}

// optionsSchema describes a tollgate member of type t.
func optionsSchema(g *schemas, t reflect.Type) map[string]any {
	return map[string]any{"description": "Tollgate's options: an object, or the same object as a JSON string (as a multipart field).",
		"oneOf": []any{g.of(t, true), map[string]any{"type": "string", "contentMediaType": "application/json"}}}
}

type imageReference struct {
	ImageURL string `json:"image_url" doc:"An https URL (fetched; private addresses refused) or a data: URL of a PNG, JPEG or WebP image."`
	FileID   string `json:"file_id" doc:"Not supported: Tollgate has no Files API; upload the image or give image_url."`
}

type videoReference struct {
	ID string `json:"id" required:"true" doc:"A completed video of this account."`
}

type characterReference struct {
	ID string `json:"id" required:"true"`
}

// createVideoRequest is POST /v1/videos, multipart or JSON.
type createVideoRequest struct {
	Prompt         string               `json:"prompt" required:"true" doc:"What the video shows."`
	Model          string               `json:"model" doc:"A catalog model (sora-2, sora-2-pro, a dated snapshot, veo-3...) or auto, auto:cheapest, auto:fastest. Default sora-2."`
	Seconds        videoSecondsValue    `json:"seconds"`
	Size           string               `json:"size" enum:"720x1280,1280x720,1024x1792,1792x1024,1920x1080,1080x1920" doc:"Default 720x1280."`
	InputReference *imageReference      `json:"input_reference" doc:"A reference image: uploaded as the multipart file input_reference, or {image_url}."`
	Characters     []characterReference `json:"characters" doc:"Cameos the video shows (POST /v1/videos/characters or /v1/cameos), at most 4 with tollgate.cameos and the prompt's @handles (characters[][id] in a form). Another account's needs its owner's consent (403 cameo_not_permitted) and pays its fee; one kept at a provider as a character makes the video there."`
	Tollgate       videoOptionsField    `json:"tollgate"`
	files          map[string]upload
}

func (createVideoRequest) schemaName() string { return "CreateVideoRequest" }

func (b *createVideoRequest) upload(name string, f upload) error {
	if name != "input_reference" {
		return &tollgate.Error{Code: tollgate.CodeUnknownField, Field: name, Message: fmt.Sprintf("this endpoint takes one file, input_reference; not %q", name)}
	}
	if b.files == nil {
		b.files = map[string]upload{}
	}
	if _, dup := b.files[name]; dup {
		return tollgate.FieldError(name, "is given twice; send one file")
	}
	b.files[name] = f
	return nil
}

// remixVideoRequest is POST /v1/videos/{id}/remix.
type remixVideoRequest struct {
	Prompt   string            `json:"prompt" required:"true" doc:"What changes."`
	Tollgate videoOptionsField `json:"tollgate"`
}

func (remixVideoRequest) schemaName() string { return "RemixVideoRequest" }

// editVideoRequest is POST /v1/videos/edits and, with seconds,
// /v1/videos/extensions.
type editVideoRequest struct {
	Prompt   string            `json:"prompt" required:"true"`
	Video    *videoReference   `json:"video" doc:"The completed video, as {id} (video[id] in a form); or upload an MP4 as the multipart file video (at most 120 s)."`
	Seconds  videoSecondsValue `json:"seconds"`
	Tollgate videoOptionsField `json:"tollgate"`
	file     *upload
}

func (editVideoRequest) schemaName() string { return "EditVideoRequest" }

func (b *editVideoRequest) upload(name string, f upload) error { return oneVideo(&b.file, name, f) }

// oneVideo takes the one file an endpoint takes, video, into dst.
func oneVideo(dst **upload, name string, f upload) error {
	if name != "video" {
		return &tollgate.Error{Code: tollgate.CodeUnknownField, Field: name, Message: fmt.Sprintf("this endpoint takes one file, video; not %q", name)}
	}
	if *dst != nil {
		return tollgate.FieldError(name, "is given twice; send one file")
	}
	*dst = &f
	return nil
}

// videoView is OpenAI's video object with Tollgate's member.
type videoView struct {
	ID                 string         `json:"id"`
	Object             string         `json:"object" const:"video"`
	Model              string         `json:"model"`
	Status             string         `json:"status" enum:"queued,in_progress,completed,failed"`
	Progress           int            `json:"progress" minimum:"0" maximum:"100" doc:"Only rises."`
	CreatedAt          int64          `json:"created_at" doc:"Unix seconds."`
	CompletedAt        *int64         `json:"completed_at" nullable:"true"`
	ExpiresAt          *int64         `json:"expires_at" nullable:"true" doc:"When the content is deleted."`
	Seconds            string         `json:"seconds" doc:"For an extension, the stitched total."`
	Size               string         `json:"size"`
	Prompt             string         `json:"prompt"`
	RemixedFromVideoID *string        `json:"remixed_from_video_id" nullable:"true"`
	Error              *videoError    `json:"error" nullable:"true"`
	Tollgate           videoExtraView `json:"tollgate"`
}

func (videoView) schemaName() string { return "Video" }

type videoError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type videoCreditsView struct {
	Held    tollgate.Credits `json:"held" doc:"The quote: the video is never charged more."`
	Charged tollgate.Credits `json:"charged" doc:"Captured on completion, pro rata to what was delivered; 0 for a failed video."`
}

type deliveredView struct {
	Seconds float64 `json:"seconds" doc:"Measured with ffprobe."`
	Size    string  `json:"size"`
}

type attemptView struct {
	Provider      string          `json:"provider"`
	ProviderModel string          `json:"provider_model"`
	Outcome       string          `json:"outcome" enum:"submitting,running,completed,failed,refused,unknown,cancelled"`
	StartedAt     time.Time       `json:"started_at"`
	LatencyMS     int64           `json:"latency_ms"`
	Error         string          `json:"error,omitempty"`
	Cost          *tollgate.Money `json:"cost,omitempty" doc:"Admin keys only: what the provider charges for it."`
}

type videoExtraView struct {
	Published     *publishedView   `json:"published,omitempty" doc:"Set when its creator published it: every account sees it, and others pay remix_fee to build on it."`
	AccountID     string           `json:"account_id"`
	Kind          string           `json:"kind" enum:"create,remix,edit,extend"`
	QuoteID       *string          `json:"quote_id" nullable:"true"`
	Credits       videoCreditsView `json:"credits"`
	Delivered     *deliveredView   `json:"delivered" nullable:"true"`
	Provider      *string          `json:"provider" nullable:"true"`
	ProviderModel *string          `json:"provider_model" nullable:"true"`
	Demo          bool             `json:"demo" doc:"The local renderer stood in for the model: no provider is configured."`
	Project       string           `json:"project,omitempty" doc:"The OpenAI-Project header it was made with."`
	Characters    []string         `json:"characters,omitempty" doc:"The cameos it shows."`
	Fees          []feeView        `json:"fees,omitempty" doc:"What it pays the owners of the cameos it shows, part of credits.held; paid at capture only if it is delivered."`
	Attempts      []attemptView    `json:"attempts"`
	Cost          *tollgate.Money  `json:"cost,omitempty" doc:"Admin keys only: what the provider charges for the video."`
	Revenue       []tollgate.Money `json:"revenue,omitempty" doc:"Admin keys only: what the credits charged were paid for, per currency (purchased credits at their order's price per credit; allowance, promotion and admin credits are worth nothing)."`
}

// feeView is a fee a video pays, as its payer sees it.
type feeView struct {
	Kind    string           `json:"kind" enum:"cameo,remix"`
	CameoID string           `json:"cameo_id"`
	Handle  string           `json:"handle"`
	Credits tollgate.Credits `json:"credits"`
	// A quote's fee line announces a raise to come.
	NextCredits *tollgate.Credits `json:"next_credits,omitempty" doc:"Quotes: the fee from next_at, a raise its owner announced."`
	NextAt      *time.Time        `json:"next_at,omitempty"`
}

func (feeView) schemaName() string { return "VideoFee" }

func viewVideo(v tollgate.Video, admin bool, now time.Time) videoView {
	out := videoView{ID: v.ID, Object: "video", Model: v.Model, Status: string(v.Status), Progress: v.Progress, CreatedAt: v.CreatedAt.Unix(),
		Seconds: strconv.Itoa(v.Seconds), Size: v.Size, Prompt: v.Prompt}
	if v.CompletedAt != nil {
		out.CompletedAt = ptr(v.CompletedAt.Unix())
	}
	if v.ExpiresAt != nil {
		out.ExpiresAt = ptr(v.ExpiresAt.Unix())
	}
	if v.Kind == tollgate.VideoRemix {
		out.RemixedFromVideoID = &v.SourceID
	}
	if v.Status == tollgate.VideoFailed {
		out.Error = &videoError{Code: v.ErrorCode, Message: v.ErrorMessage}
	}
	x := videoExtraView{AccountID: v.AccountID, Kind: string(v.Kind), Credits: videoCreditsView{Held: v.Held, Charged: v.Charged},
		Demo: v.Demo, Project: v.Project, Characters: v.Characters, Attempts: []attemptView{}}
	for _, f := range v.Fees {
		x.Fees = append(x.Fees, feeView{Kind: string(f.Kind), CameoID: f.Subject, Handle: "@" + f.Handle, Credits: f.Credits})
	}
	if v.QuoteID != "" {
		x.QuoteID = &v.QuoteID
	}
	if v.DeliveredSize != "" {
		x.Delivered = &deliveredView{Seconds: v.DeliveredSeconds, Size: v.DeliveredSize}
	}
	if v.Provider != "" {
		x.Provider, x.ProviderModel = &v.Provider, &v.ProviderModel
	}
	for _, a := range v.Attempts {
		av := attemptView{Provider: a.Provider, ProviderModel: a.ProviderModel, Outcome: a.Outcome, StartedAt: a.StartedAt,
			LatencyMS: a.Latency(now).Milliseconds(), Error: a.Error}
		if admin && a.Cost.Currency != "" {
			av.Cost = &a.Cost
		}
		x.Attempts = append(x.Attempts, av)
	}
	if admin && v.Status == tollgate.VideoCompleted && v.Cost.Currency != "" {
		x.Cost = &v.Cost
	}
	if admin {
		x.Revenue = v.Revenue
	}
	out.Tollgate = x
	return out
}

type videoPath struct {
	ID string `path:"video_id" doc:"Video id (video_...). Another account's is 404, unless its creator published it (GET only)."`
}

// videosOn refuses video requests on a server built without a gateway.
func (s *Server) videosOn() error {
	if s.Videos == nil {
		return tollgate.Errorf(tollgate.CodeUnavailable, "this server runs no video gateway")
	}
	return nil
}

// videoAccount is the account a video request acts for: an account key's,
// or the one an admin key names in tollgate.account_id.
func videoAccount(c *call, named string) (string, error) {
	if c.key.Admin() {
		if named == "" {
			return "", tollgate.FieldError("tollgate.account_id", "is required with an admin key: the account the video is for")
		}
		return named, nil
	}
	if named != "" && named != c.key.AccountID {
		return "", &tollgate.Error{Code: tollgate.CodeNotFound, Field: "tollgate.account_id", Message: fmt.Sprintf("account %q not found", named)}
	}
	return c.key.AccountID, nil
}

// videoHeaders are the OpenAI headers a video request may carry.
type videoHeaders struct {
	Project      string `header:"OpenAI-Project" doc:"Kept on the video, for agencies' budgets and reports."`
	Organization string `header:"OpenAI-Organization" doc:"Accepted, for the SDKs; Tollgate's account comes from the key."`
}

func (s *Server) videoParams(r *http.Request, c *call, h videoHeaders, o videoOptionsField) (gateway.CreateParams, error) {
	if err := s.videosOn(); err != nil {
		return gateway.CreateParams{}, err
	}
	acct, err := videoAccount(c, o.AccountID)
	if err != nil {
		return gateway.CreateParams{}, err
	}
	if err := c.mayUse(tollgate.ProductVideo); err != nil {
		return gateway.CreateParams{}, err
	}
	p := gateway.CreateParams{AccountID: acct, Policy: o.Policy, QuoteID: o.QuoteID, Project: h.Project, Characters: o.Cameos,
		Constraints: tollgate.VideoConstraints{Providers: o.Providers, ExcludeProviders: o.ExcludeProviders}}
	if len(p.Project) > 200 || !tollgate.CleanText(p.Project) {
		return p, tollgate.FieldError("OpenAI-Project", "must be printable text of at most 200 bytes")
	}
	if o.MaxCredits.set {
		if p.Constraints.MaxCredits, err = credits("tollgate.max_credits", o.MaxCredits); err != nil {
			return p, err
		}
	}
	if !c.key.Admin() {
		p.KeyID, p.KeyMaxPending = c.key.ID, c.key.Limits.MaxPendingHolds
	}
	view := func(v any) any { return viewVideo(v.(tollgate.Video), c.key.Admin(), s.l.Clock().Now()) }
	p.Idempotency = c.idempotency(r, view)
	return p, nil
}

// created answers a create: the job as made, or, replayed, as it is now.
func (s *Server) created(r *http.Request, c *call, v tollgate.Video, err error) (videoView, error) {
	var rep *ledger.Replayed
	if errors.As(err, &rep) {
		var head struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(rep.Body, &head) == nil {
			if cur, gerr := s.Videos.Get(r.Context(), head.ID, ""); gerr == nil {
				c.setHeader("Idempotent-Replayed", "true")
				return viewVideo(cur, c.key.Admin(), s.l.Clock().Now()), nil
			}
		}
		return videoView{}, err
	}
	if err != nil {
		return videoView{}, err
	}
	return viewVideo(v, c.key.Admin(), s.l.Clock().Now()), nil
}

func (s *Server) createVideo(r *http.Request, c *call, in *struct {
	videoHeaders
	Body createVideoRequest
}) (videoView, error) {
	b := in.Body
	p, err := s.videoParams(r, c, in.videoHeaders, b.Tollgate)
	if err != nil {
		return videoView{}, err
	}
	p.Kind, p.Prompt, p.Model, p.Seconds, p.Size = tollgate.VideoCreate, b.Prompt, b.Model, b.Seconds.n, b.Size
	for _, ch := range b.Characters {
		p.Characters = append(p.Characters, ch.ID)
	}
	if f, ok := b.files["input_reference"]; ok {
		if b.InputReference != nil {
			return videoView{}, tollgate.FieldError("input_reference", "give an uploaded file or {image_url}, not both")
		}
		if p.Input, p.InputExt, err = imageInput("input_reference", f.ContentType, f.Data); err != nil {
			return videoView{}, err
		}
	}
	if ref := b.InputReference; ref != nil {
		switch {
		case ref.FileID != "":
			return videoView{}, tollgate.FieldError("input_reference.file_id", "Tollgate has no Files API: upload the image as input_reference, or give input_reference[image_url]")
		case ref.ImageURL == "":
			return videoView{}, tollgate.FieldError("input_reference", "give image_url, or upload the image")
		}
		if p.Input, p.InputExt, err = s.fetchImage(r, "input_reference.image_url", ref.ImageURL); err != nil {
			return videoView{}, err
		}
	}
	v, err := s.Videos.Create(r.Context(), p)
	return s.created(r, c, v, err)
}

// imageInput checks an image reference's type by its bytes.
func imageInput(field, _ string, data []byte) ([]byte, string, error) {
	switch ct := http.DetectContentType(data); ct {
	case "image/png":
		return data, ".png", nil
	case "image/jpeg":
		return data, ".jpg", nil
	case "image/webp":
		return data, ".webp", nil
	default:
		return nil, "", tollgate.FieldError(field, "must be a PNG, JPEG or WebP image; this is %s", ct)
	}
}

// fetchImage reads an image_url: a data: URL, or an https (or http) URL
// fetched within the upload limit, refusing private addresses.
func (s *Server) fetchImage(r *http.Request, field, raw string) ([]byte, string, error) {
	if rest, ok := strings.CutPrefix(raw, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return nil, "", tollgate.FieldError(field, "a data: URL must be base64: data:image/png;base64,...")
		}
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, "", tollgate.FieldError(field, "the data: URL's base64 does not decode: %v", err)
		}
		if int64(len(b)) > s.MaxUpload {
			return nil, "", tollgate.FieldError(field, "the image is over %d bytes", s.MaxUpload)
		}
		return imageInput(field, "", b)
	}
	b, err := s.Fetch(r.Context(), raw, s.MaxUpload)
	if err != nil {
		return nil, "", tollgate.FieldError(field, "could not fetch the image: %v", err)
	}
	return imageInput(field, "", b)
}

func (s *Server) remixVideo(r *http.Request, c *call, in *struct {
	videoPath
	videoHeaders
	Body remixVideoRequest
}) (videoView, error) {
	p, err := s.videoParams(r, c, in.videoHeaders, in.Body.Tollgate)
	if err != nil {
		return videoView{}, err
	}
	p.Kind, p.Prompt, p.SourceID = tollgate.VideoRemix, in.Body.Prompt, in.ID
	v, err := s.Videos.Create(r.Context(), p)
	return s.created(r, c, v, err)
}

// videoDerived is the input of an edit or an extension.
type videoDerived struct {
	videoHeaders
	Body editVideoRequest
}

func (s *Server) editVideo(r *http.Request, c *call, in *videoDerived) (videoView, error) {
	return s.derive(r, c, in, tollgate.VideoEdit)
}

func (s *Server) extendVideo(r *http.Request, c *call, in *videoDerived) (videoView, error) {
	return s.derive(r, c, in, tollgate.VideoExtend)
}

func (s *Server) derive(r *http.Request, c *call, in *videoDerived, kind tollgate.VideoKind) (videoView, error) {
	b := in.Body
	p, err := s.videoParams(r, c, in.videoHeaders, b.Tollgate)
	if err != nil {
		return videoView{}, err
	}
	switch {
	case b.file != nil && b.Video != nil:
		return videoView{}, tollgate.FieldError("video", "give video[id] or an uploaded video, not both")
	case b.file != nil:
		if ct := http.DetectContentType(b.file.Data); ct != "video/mp4" {
			return videoView{}, tollgate.FieldError("video", "the uploaded video must be an MP4; this is %s", ct)
		}
		p.Input, p.InputExt = b.file.Data, ".mp4"
	case b.Video == nil || b.Video.ID == "":
		return videoView{}, tollgate.FieldError("video", "is required: the completed video as video[id], or an uploaded MP4")
	default:
		p.SourceID = b.Video.ID
	}
	p.Kind, p.Prompt = kind, b.Prompt
	switch {
	case kind == tollgate.VideoExtend && !b.Seconds.set:
		return videoView{}, tollgate.FieldError("seconds", "is required: the seconds to add, 4, 8, 12, 16 or 20")
	case kind == tollgate.VideoEdit && b.Seconds.set:
		return videoView{}, &tollgate.Error{Code: tollgate.CodeUnknownField, Field: "seconds", Message: "an edit keeps the video's length: send no seconds"}
	}
	p.Seconds = b.Seconds.n
	v, err := s.Videos.Create(r.Context(), p)
	return s.created(r, c, v, err)
}

func (s *Server) getVideo(r *http.Request, c *call, in *struct{ videoPath }) (videoView, error) {
	if err := s.videosOn(); err != nil {
		return videoView{}, err
	}
	v, own, err := s.Videos.Shared(r.Context(), in.ID, c.key.AccountID)
	if err != nil {
		return videoView{}, err
	}
	if !v.Status.Final() {
		c.setHeader("Openai-Poll-After-Ms", strconv.FormatInt(s.Videos.PollAfter().Milliseconds(), 10))
	}
	out := viewVideo(v, c.key.Admin(), s.l.Clock().Now())
	if !own {
		out = sharedView(out)
	}
	if pub, err := s.Videos.Published(r.Context(), v.ID); err == nil {
		out.Tollgate.Published = viewPublished(pub)
	}
	return out, nil
}

type videoListView struct {
	Object  string      `json:"object" const:"list"`
	Data    []videoView `json:"data"`
	FirstID *string     `json:"first_id" nullable:"true"`
	LastID  *string     `json:"last_id" nullable:"true"`
	HasMore bool        `json:"has_more"`
}

func (videoListView) schemaName() string { return "VideoList" }

func (s *Server) listVideos(r *http.Request, c *call, in *struct {
	After     string `query:"after" doc:"The last id of the previous page."`
	Limit     int    `query:"limit" minimum:"1" maximum:"100" default:"20"`
	Order     string `query:"order" enum:"asc,desc" doc:"By creation time; default desc, newest first."`
	AccountID string `query:"account_id" doc:"Admin keys: whose videos. Account keys: their own, always."`
}) (videoListView, error) {
	if err := s.videosOn(); err != nil {
		return videoListView{}, err
	}
	acct := c.key.AccountID
	if c.key.Admin() {
		if in.AccountID == "" {
			return videoListView{}, tollgate.FieldError("account_id", "is required with an admin key")
		}
		acct = in.AccountID
	} else if in.AccountID != "" && in.AccountID != acct {
		return videoListView{}, &tollgate.Error{Code: tollgate.CodeNotFound, Field: "account_id", Message: fmt.Sprintf("account %q not found", in.AccountID)}
	}
	if in.Order != "" && in.Order != "asc" && in.Order != "desc" {
		return videoListView{}, tollgate.FieldError("order", "must be asc or desc")
	}
	vs, more, err := s.Videos.List(r.Context(), acct, in.After, in.Limit, in.Order == "asc")
	if err != nil {
		return videoListView{}, err
	}
	out := videoListView{Object: "list", Data: []videoView{}, HasMore: more}
	now := s.l.Clock().Now()
	for _, v := range vs {
		out.Data = append(out.Data, viewVideo(v, c.key.Admin(), now))
	}
	if len(vs) > 0 {
		out.FirstID, out.LastID = &vs[0].ID, &vs[len(vs)-1].ID
	}
	return out, nil
}

type videoDeletedView struct {
	ID      string `json:"id"`
	Object  string `json:"object" const:"video.deleted"`
	Deleted bool   `json:"deleted"`
}

func (videoDeletedView) schemaName() string { return "VideoDeleted" }

func (s *Server) deleteVideo(r *http.Request, c *call, in *struct{ videoPath }) (videoDeletedView, error) {
	if err := s.videosOn(); err != nil {
		return videoDeletedView{}, err
	}
	v, err := s.Videos.Delete(r.Context(), in.ID, c.key.AccountID)
	if err != nil {
		return videoDeletedView{}, err
	}
	return videoDeletedView{ID: v.ID, Object: "video.deleted", Deleted: true}, nil
}

// fileAnswer is a stored file, served with Range support.
type fileAnswer struct {
	r    *http.Request
	path string
	ct   string
}

func (a fileAnswer) writeAnswer(w http.ResponseWriter, _ int) error {
	f, err := os.Open(a.path)
	if err != nil {
		return tollgate.Errorf(tollgate.CodeVideoNotReady, "the content is gone: %v", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", a.ct)
	http.ServeContent(w, a.r, filepath.Base(a.path), fi.ModTime(), f)
	return nil
}

func (fileAnswer) ownContent() map[string]any {
	bin := map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}}
	return map[string]any{"video/mp4": bin, "image/webp": bin, "image/jpeg": bin}
}

func (s *Server) videoContent(r *http.Request, c *call, in *struct {
	videoPath
	Variant string `query:"variant" enum:"video,thumbnail,spritesheet" doc:"Default video (MP4); thumbnail is WebP, spritesheet JPEG."`
}) (fileAnswer, error) {
	if err := s.videosOn(); err != nil {
		return fileAnswer{}, err
	}
	path, ct, err := s.Videos.Content(r.Context(), in.ID, c.key.AccountID, in.Variant)
	if err != nil {
		return fileAnswer{}, err
	}
	return fileAnswer{r: r, path: path, ct: ct}, nil
}

// createCharacterRequest is POST /v1/videos/characters, multipart: a name
// and the clip, the file video.
type createCharacterRequest struct {
	Name     string                `json:"name" required:"true" doc:"Display name for the character (at most 80 bytes)."`
	Tollgate characterOptionsField `json:"tollgate"`
	file     *upload
}

func (createCharacterRequest) schemaName() string { return "CreateCharacterRequest" }

func (b *createCharacterRequest) upload(name string, f upload) error {
	return oneVideo(&b.file, name, f)
}

type characterOptions struct {
	AccountID string `json:"account_id" doc:"Required with an admin key: the account the character is for."`
	Provider  string `json:"provider" doc:"The provider to make it at; default: the first configured that keeps characters (the local renderer in demo mode)."`
}

func (characterOptions) schemaName() string { return "CharacterOptions" }

// characterOptionsField accepts characterOptions as an object or as a
// string (a multipart field).
type characterOptionsField struct {
	characterOptions
}

func (f *characterOptionsField) UnmarshalJSON(b []byte) error {
	return decodeOptions(b, &f.characterOptions)
}

func (characterOptionsField) jsonSchema(g *schemas) map[string]any {
	return optionsSchema(g, reflect.TypeFor[characterOptions]())
}

// characterView is OpenAI's character with Tollgate's member.
type characterView struct {
	ID        string                `json:"id" doc:"char_..., to name in a create's characters."`
	Object    string                `json:"object" const:"video.character"`
	CreatedAt int64                 `json:"created_at" doc:"Unix seconds."`
	Name      string                `json:"name"`
	Tollgate  characterTollgateView `json:"tollgate"`
}

type characterTollgateView struct {
	AccountID string `json:"account_id"`
	Handle    string `json:"handle" doc:"Its cameo @handle: a prompt naming it shows it; its owner sets its policy and fee at /v1/cameos."`
	Provider  string `json:"provider" doc:"The provider that keeps it: the videos that show it are made there."`
	Demo      bool   `json:"demo" doc:"Made by the local renderer standing in for a provider (demo mode)."`
}

func (characterView) schemaName() string { return "Character" }

func viewCharacter(c tollgate.Cameo) characterView {
	return characterView{ID: c.ID, Object: "video.character", CreatedAt: c.CreatedAt.Unix(), Name: c.Name,
		Tollgate: characterTollgateView{AccountID: c.AccountID, Handle: "@" + c.Handle, Provider: c.Provider, Demo: c.Demo}}
}

type characterPath struct {
	ID string `path:"character_id" doc:"Character id (char_...). One the key's account may not use is 404."`
}

func (s *Server) createCharacter(r *http.Request, c *call, in *struct {
	videoHeaders
	Body createCharacterRequest
}) (characterView, error) {
	if err := s.videosOn(); err != nil {
		return characterView{}, err
	}
	b := in.Body
	acct, err := videoAccount(c, b.Tollgate.AccountID)
	if err != nil {
		return characterView{}, err
	}
	if b.file == nil {
		return characterView{}, tollgate.FieldError("video", "is required: upload the clip as the multipart file video (an MP4)")
	}
	p := gateway.CharacterParams{AccountID: acct, Name: b.Name, Video: b.file.Data, Provider: b.Tollgate.Provider,
		Idempotency: c.idempotency(r, func(v any) any { return viewCharacter(v.(tollgate.Cameo)) })}
	if !c.key.Admin() {
		p.KeyID = c.key.ID
	}
	ch, err := s.Videos.NewCharacter(r.Context(), p)
	if err != nil {
		return characterView{}, err
	}
	return viewCharacter(ch), nil
}

func (s *Server) getCharacter(r *http.Request, c *call, in *struct{ characterPath }) (characterView, error) {
	if err := s.videosOn(); err != nil {
		return characterView{}, err
	}
	ch, err := s.Videos.Character(r.Context(), in.ID, c.key.AccountID)
	if err != nil {
		return characterView{}, err
	}
	return viewCharacter(ch), nil
}

func (s *Server) registerVideos() {
	const videos = "videos"
	errs := []tollgate.Code{tollgate.CodeInsufficientCredits, tollgate.CodeModelUnavailable, tollgate.CodeNotFound, tollgate.CodeQuoteExpired,
		tollgate.CodeQuoteUsed, tollgate.CodeAccountSuspended, tollgate.CodeTooManyPendingHolds, tollgate.CodeCameoNotPermitted}
	const created = "The video, queued: poll GET /v1/videos/{video_id} (or wait for the video.completed webhook)."
	handle(s, op{pattern: "POST /v1/videos", id: "createVideo", tag: videos, surface: openaiAPI, answer: created, errors: errs,
		summary: "Create a video", description: "OpenAI-compatible: multipart/form-data as the SDKs send it, or JSON. " +
			"Prices the video (or uses tollgate.quote_id), holds the credits and queues the job in one transaction, before any provider is called. " +
			"Send an Idempotency-Key to make a retry safe; the SDKs send none by themselves."}, s.createVideo)
	handle(s, op{pattern: "GET /v1/videos", id: "listVideos", tag: videos, surface: openaiAPI,
		summary: "List videos", description: "OpenAI-compatible paging: after, limit, order.", answer: "A page."}, s.listVideos)
	handle(s, op{pattern: "GET /v1/videos/{video_id}", id: "getVideo", tag: videos, surface: openaiAPI,
		summary: "Get a video", description: "While it runs, openai-poll-after-ms says when to look again.", answer: "The video."}, s.getVideo)
	handle(s, op{pattern: "DELETE /v1/videos/{video_id}", id: "deleteVideo", tag: videos, surface: openaiAPI,
		errors:  []tollgate.Code{tollgate.CodeCannotCancel},
		summary: "Delete a video", description: "A finished video's content is deleted (its record and charge stay on the books). " +
			"A queued or running one is cancelled and its hold released, where its provider can cancel; otherwise 400 cannot_cancel.",
		answer: "Deleted."}, s.deleteVideo)
	handle(s, op{pattern: "GET /v1/videos/{video_id}/content", id: "getVideoContent", tag: videos, surface: openaiAPI,
		errors:  []tollgate.Code{tollgate.CodeVideoNotReady},
		summary: "Download a video's content", description: "Range requests are served. 404 before completion and after expires_at.",
		answer: "The content.", also: map[int]string{http.StatusPartialContent: "The part a Range header asked for."}}, s.videoContent)
	handle(s, op{pattern: "POST /v1/videos/{video_id}/remix", id: "remixVideo", tag: videos, surface: openaiAPI, answer: created, errors: errs,
		summary: "Remix a video", description: "A new video from a completed one and a new prompt, at the same model, length and size."}, s.remixVideo)
	handle(s, op{pattern: "POST /v1/videos/edits", id: "editVideo", tag: videos, surface: openaiAPI, answer: created, errors: errs,
		summary: "Edit a video", description: "A new video from a completed one (video[id]) and a prompt."}, s.editVideo)
	handle(s, op{pattern: "POST /v1/videos/extensions", id: "extendVideo", tag: videos, surface: openaiAPI, answer: created, errors: errs,
		summary: "Extend a video", description: "Adds seconds to a completed video (video[id]); the answer's seconds is the stitched total. " +
			"The added seconds are charged."}, s.extendVideo)
	handle(s, op{pattern: "POST /v1/videos/characters", id: "createCharacter", tag: videos, surface: openaiAPI,
		errors:  []tollgate.Code{tollgate.CodeModelUnavailable, tollgate.CodeConflict, tollgate.CodeNotFound},
		summary: "Create a character", description: "OpenAI-compatible: multipart name and video (an MP4 clip of 1 to 30 s). " +
			"The character is made at a provider that keeps characters and belongs to the account; a create names it in characters. " +
			"At most 200 per account (409 beyond). Free of credits.",
		answer: "The character."}, s.createCharacter)
	handle(s, op{pattern: "GET /v1/videos/characters/{character_id}", id: "getCharacter", tag: videos, surface: openaiAPI,
		summary: "Get a character", answer: "The character."}, s.getCharacter)

	handle(s, op{pattern: "GET /v1/reports/margin", id: "marginReport", tag: "reports", who: adminOnly,
		summary: "Margin of video jobs", description: "Admin key only. The video jobs that ended in [from, to) per provider, model or " +
			"UTC day: jobs completed and failed, credits charged, what those credits were paid for (revenue), what the providers " +
			"charge by the catalog (cost), the margin, and what attempts whose outcome stayed unknown may cost. As JSON, or CSV with format=csv.",
		answer: "The report."}, s.marginReport)

	str := map[string]any{"type": "string"}
	responses := map[string]any{"200": map[string]any{"description": "Received.", "content": map[string]any{"application/json": map[string]any{
		"schema": map[string]any{"type": "object", "additionalProperties": false, "required": []any{"received", "result"},
			"properties": map[string]any{"received": map[string]any{"type": "boolean"},
				"result": map[string]any{"type": "string", "enum": []any{string(gateway.NotifiedPolled), string(gateway.NotifiedIgnored)}}}}}}}}
	for st, cs := range map[int][]tollgate.Code{400: {tollgate.CodeInvalidSignature}, 404: {tollgate.CodeNotFound}, 413: {tollgate.CodeBodyTooLarge},
		500: {tollgate.CodeInternal}, 503: {tollgate.CodeUnavailable}} {
		responses[strconv.Itoa(st)] = problemResponse(st, cs)
	}
	plain(s, op{pattern: "POST /v1/webhooks/providers/{provider}", id: "providerWebhook", tag: videos, summary: "A provider's notification",
		description: "Where providers say a video has ended. OpenAI-compatible upstreams send video.completed and video.failed " +
			"(set this as the upstream's webhook URL, and its secret in TOLLGATE_OPENAI_WEBHOOK_SECRET or " +
			"TOLLGATE_OPENAI_UPSTREAM_WEBHOOK_SECRET_<NAME>), verified as Standard Webhooks (webhook-id, webhook-timestamp within 5 " +
			"minutes, webhook-signature); Replicate's are verified the same way; Luma's are not signed by Luma. Luma and Replicate " +
			"are given this URL with each job when TOLLGATE_PUBLIC_URL is set. The video a notification names is then polled at once " +
			"rather than at its next poll. Nothing else in it is believed: the poll says how the video stands.",
		raw: &rawOp{params: []any{
			map[string]any{"name": "provider", "in": "path", "required": true, "description": "The provider's name (openai, an upstream's, luma, replicate).", "schema": str},
			map[string]any{"name": "ref", "in": "query", "required": false, "description": "The job attempt's reference, in the URL Tollgate gave the provider.", "schema": str},
			map[string]any{"name": "webhook-id", "in": "header", "required": false, "description": "Standard Webhooks (OpenAI-compatible upstreams, Replicate).", "schema": str},
			map[string]any{"name": "webhook-timestamp", "in": "header", "required": false, "schema": str},
			map[string]any{"name": "webhook-signature", "in": "header", "required": false, "schema": str},
		}, body: map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
			"schema": map[string]any{"type": "object", "description": "The provider's event, as it sends it."}}}},
			responses: responses}}, s.providerWebhook)
}

// providerWebhook takes a provider's notification: the video it names is
// polled at once.
func (s *Server) providerWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.videosOn(); err != nil {
		s.problem(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		s.problem(w, r, tollgate.Errorf(tollgate.CodeBodyTooLarge, "the notification is over 1 MiB"))
		return
	}
	provider := r.PathValue("provider")
	ctx := ledger.WithActor(r.Context(), ledger.Actor{KeyID: provider, Kind: ledger.ActorProvider, RequestID: ledger.ActorOf(r.Context()).RequestID})
	did, err := s.Videos.Notify(ctx, provider, r.Header, r.URL.Query(), body)
	if err != nil {
		if tollgate.ErrorCode(err) == tollgate.CodeInvalidSignature {
			s.log.WarnContext(r.Context(), "provider notification refused", "provider", provider, "err", err)
		}
		s.problem(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, map[string]any{"received": true, "result": did})
}
