package httpapi

import (
	"net/http"
	"time"

	"tollgate"
	"tollgate/gateway"
)

type publishRequest struct {
	RemixFee  amount `json:"remix_fee" doc:"Credits another account pays for each remix, edit or extension of it, to the creator less the platform's take; default 0."`
	Remixable *bool  `json:"remixable" doc:"Whether other accounts may remix, edit or extend it (the creator's consent); default true."`
}

func (publishRequest) schemaName() string { return "PublishVideoRequest" }

type publishedView struct {
	VideoID     string           `json:"video_id"`
	AccountID   string           `json:"account_id" doc:"The creator."`
	RemixFee    tollgate.Credits `json:"remix_fee"`
	Remixable   bool             `json:"remixable"`
	PublishedAt time.Time        `json:"published_at"`
}

func (publishedView) schemaName() string { return "PublishedVideo" }

func viewPublished(p tollgate.Published) *publishedView {
	return &publishedView{VideoID: p.VideoID, AccountID: p.AccountID, RemixFee: p.RemixFee, Remixable: p.Remixable, PublishedAt: p.PublishedAt}
}

// sharedView is a video as another account than its creator sees it,
// published: what it shows, not what it cost.
func sharedView(v videoView) videoView {
	v.Tollgate = videoExtraView{AccountID: v.Tollgate.AccountID, Kind: v.Tollgate.Kind, Characters: v.Tollgate.Characters,
		Delivered: v.Tollgate.Delivered, Attempts: []attemptView{}}
	return v
}

func (s *Server) publishVideo(r *http.Request, c *call, in *struct {
	videoPath
	Body publishRequest
}) (publishedView, error) {
	if err := s.videosOn(); err != nil {
		return publishedView{}, err
	}
	p := gateway.PublishParams{VideoID: in.ID, AccountID: c.key.AccountID, Remixable: true}
	if in.Body.Remixable != nil {
		p.Remixable = *in.Body.Remixable
	}
	if in.Body.RemixFee.set {
		if in.Body.RemixFee.err != nil {
			return publishedView{}, tollgate.FieldError("remix_fee", "%v", in.Body.RemixFee.err)
		}
		p.RemixFee = in.Body.RemixFee.v
	}
	pub, err := s.Videos.Publish(r.Context(), p)
	if err != nil {
		return publishedView{}, err
	}
	return *viewPublished(pub), nil
}

func (s *Server) unpublishVideo(r *http.Request, c *call, in *struct{ videoPath }) (videoView, error) {
	if err := s.videosOn(); err != nil {
		return videoView{}, err
	}
	v, err := s.Videos.Unpublish(r.Context(), in.ID, c.key.AccountID)
	if err != nil {
		return videoView{}, err
	}
	return viewVideo(v, c.key.Admin(), s.l.Clock().Now()), nil
}

func (s *Server) listPublished(r *http.Request, c *call, in *struct{ pageQuery }) (listView[publishedView], error) {
	out := listView[publishedView]{Object: "list", Data: []publishedView{}}
	if err := s.videosOn(); err != nil {
		return out, err
	}
	ps, err := s.Videos.PublishedList(r.Context(), in.Cursor, in.Limit+1)
	if err != nil {
		return out, err
	}
	for i, p := range ps {
		if i == in.Limit {
			out.HasMore, out.NextCursor = true, ps[i-1].VideoID
			break
		}
		out.Data = append(out.Data, *viewPublished(p))
	}
	return out, nil
}

func (s *Server) registerPublished() {
	handle(s, op{pattern: "POST /v1/videos/{video_id}/publish", id: "publishVideo", tag: "videos", surface: openaiAPI,
		summary: "Publish a video", description: "Its creator makes a completed video visible to every account (GET by id, content, " +
			"GET /v1/published_videos) with the fee others pay for each remix, edit or extension of it: paid at their capture, only if " +
			"delivered, to the creator less the platform's take. Publishing again changes the fee (for new uses) and the switch.",
		answer: "The terms it is published on."}, s.publishVideo)
	handle(s, op{pattern: "DELETE /v1/videos/{video_id}/publish", id: "unpublishVideo", tag: "videos", surface: openaiAPI,
		summary: "Unpublish a video", description: "Other accounts see it no more, and may not build on it; uses already held finish and pay as quoted.",
		answer: "The video."}, s.unpublishVideo)
	handle(s, op{pattern: "GET /v1/published_videos", id: "listPublishedVideos", tag: "videos",
		summary: "List published videos", description: "Newest first: every account's published videos and their remix fees.",
		answer: "A page."}, s.listPublished)
}
