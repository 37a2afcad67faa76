package httpapi

import (
	"net/http"
	"time"

	"tollgate"
	"tollgate/cameo"
)

type createCameoRequest struct {
	AccountID  string `json:"account_id" doc:"Required with an admin key: the owner. With an account key, absent or its own account."`
	Kind       string `json:"kind" enum:"likeness,character" default:"\"character\"" doc:"A likeness (a real person) waits for the operator's verification before anyone may use it; a character is active at once."`
	Name       string `json:"name" required:"true" doc:"Display name, at most 80 bytes; what the @handle becomes in the prompt sent to a provider."`
	Handle     string `json:"handle" doc:"The unique @handle (3 to 30 lowercase letters, digits, dots and underscores); default: derived from the name."`
	Policy     string `json:"policy" enum:"owner_only,approved,anyone" default:"\"owner_only\"" doc:"Who may use it: its owner alone, the accounts the owner approves, or anyone."`
	Fee        amount `json:"fee" doc:"Credits paid to the owner per use, less the platform's take; default 0, at most 10000."`
	DailyLimit int    `json:"daily_limit" minimum:"0" maximum:"1000000" doc:"The most uses a day, counted in the owner's time zone; 0 (the default) is no limit."`
	Reference  *struct {
		ImageURL string `json:"image_url" required:"true" doc:"An https URL (fetched; private addresses refused) or a small data: URL of a PNG, JPEG or WebP image."`
	} `json:"reference" doc:"A reference image of the cameo: a video that shows it, made by a provider that does not keep it as a character, starts from this image."`
}

func (createCameoRequest) schemaName() string { return "CreateCameoRequest" }

type updateCameoRequest struct {
	Name       *string `json:"name"`
	Policy     *string `json:"policy" enum:"owner_only,approved,anyone"`
	Fee        amount  `json:"fee" doc:"A cut applies at once; a raise after the notice period, announced as fee_next and fee_next_at until then. Jobs already held pay what they were quoted."`
	DailyLimit *int    `json:"daily_limit" minimum:"0" maximum:"1000000"`
	Paused     *bool   `json:"paused" doc:"true pauses the cameo (others' new jobs are refused), false resumes it."`
	Listed     *bool   `json:"listed" doc:"false keeps it off the leaderboards; true (the default) shows it there."`
}

func (updateCameoRequest) schemaName() string { return "UpdateCameoRequest" }

// cameoView is a cameo as its owner (or an admin) sees it; another account
// that may use it sees only the public fields (id, name, handle, kind,
// policy, fee and the raise announced).
type cameoView struct {
	ID         string            `json:"id" doc:"char_..., to name in a video's characters or tollgate.cameos."`
	Object     string            `json:"object" const:"cameo"`
	Kind       string            `json:"kind" enum:"likeness,character"`
	Name       string            `json:"name"`
	Handle     string            `json:"handle" doc:"With the @: an exact @handle token in a prompt names the cameo."`
	Policy     string            `json:"policy" enum:"owner_only,approved,anyone"`
	Fee        tollgate.Credits  `json:"fee" doc:"Credits per use in force now."`
	FeeNext    *tollgate.Credits `json:"fee_next,omitempty" doc:"A raise announced: the fee from fee_next_at."`
	FeeNextAt  *time.Time        `json:"fee_next_at,omitempty"`
	AccountID  string            `json:"account_id,omitempty" doc:"The owner; its own view only."`
	Status     string            `json:"status,omitempty" enum:"active,paused,pending_verification,deleted" doc:"Its owner's view only."`
	DailyLimit int               `json:"daily_limit,omitempty" doc:"Its owner's view only; 0 is no limit."`
	Provider   string            `json:"provider,omitempty" doc:"The provider that keeps it as a character (the videos that show it are made there); its owner's view only."`
	Reference  bool              `json:"reference,omitempty" doc:"It has a reference image; its owner's view only."`
	Listed     *bool             `json:"listed,omitempty" doc:"Whether it is shown on the leaderboards; its owner's view only."`
	CreatedAt  time.Time         `json:"created_at"`
	DeletedAt  *time.Time        `json:"deleted_at,omitempty"`
}

func (cameoView) schemaName() string { return "Cameo" }

func viewCameo(c tollgate.Cameo, full bool) cameoView {
	v := cameoView{ID: c.ID, Object: "cameo", Kind: string(c.Kind), Name: c.Name, Handle: "@" + c.Handle, Policy: string(c.Policy),
		Fee: c.Fee, FeeNextAt: c.FeeNextAt, CreatedAt: c.CreatedAt}
	if c.FeeNextAt != nil {
		v.FeeNext = &c.FeeNext
	}
	if full {
		v.AccountID, v.Status, v.DailyLimit, v.Provider, v.DeletedAt = c.AccountID, string(c.Status), c.DailyLimit, c.Provider, c.DeletedAt
		v.Reference = c.Reference != ""
		listed := !c.Unlisted
		v.Listed = &listed
	}
	return v
}

type cameoPath struct {
	ID string `path:"cameo_id" doc:"Cameo id (char_...) or @handle. One the key's account may neither change nor use is 404."`
}

// cameosOn refuses cameo calls on a server built without them.
func (s *Server) cameosOn() error {
	if s.Cameos == nil {
		return tollgate.Errorf(tollgate.CodeUnavailable, "cameos are not enabled on this server")
	}
	return nil
}

// owner is the account whose cameos a key changes: "" for an admin key
// (any), else the key's own.
func owner(c *call) string {
	if c.key.Admin() {
		return ""
	}
	return c.key.AccountID
}

func (s *Server) createCameo(r *http.Request, c *call, in *struct{ Body createCameoRequest }) (cameoView, error) {
	if err := s.cameosOn(); err != nil {
		return cameoView{}, err
	}
	b := in.Body
	acct, err := c.bodyAccount(b.AccountID)
	if err != nil {
		return cameoView{}, err
	}
	if _, err := s.l.Account(r.Context(), acct); err != nil {
		return cameoView{}, err
	}
	p := cameo.Params{AccountID: acct, Kind: tollgate.CameoKind(b.Kind), Name: b.Name, Handle: b.Handle, Policy: tollgate.CameoPolicy(b.Policy),
		DailyLimit: b.DailyLimit, Idempotency: c.idempotency(r, func(v any) any { return viewCameo(v.(tollgate.Cameo), true) })}
	if b.Fee.set {
		if b.Fee.err != nil {
			return cameoView{}, tollgate.FieldError("fee", "%v", b.Fee.err)
		}
		p.Fee = b.Fee.v
	}
	if !c.key.Admin() {
		p.KeyID = c.key.ID
	}
	if b.Reference != nil {
		if s.Videos == nil {
			return cameoView{}, tollgate.Errorf(tollgate.CodeUnavailable, "video generation is not enabled on this server: no reference images")
		}
		img, ext, err := s.fetchImage(r, "reference.image_url", b.Reference.ImageURL)
		if err != nil {
			return cameoView{}, err
		}
		if p.Reference, err = s.Videos.SaveReference(img, ext); err != nil {
			return cameoView{}, err
		}
	}
	got, err := s.Cameos.Create(r.Context(), p)
	if err != nil {
		return cameoView{}, err
	}
	return viewCameo(got, true), nil
}

func (s *Server) listCameos(r *http.Request, c *call, in *struct {
	pageQuery
	AccountID string `query:"account_id" doc:"Required with an admin key: the owner. With an account key, its own cameos."`
}) (listView[cameoView], error) {
	out := listView[cameoView]{Object: "list", Data: []cameoView{}}
	if err := s.cameosOn(); err != nil {
		return out, err
	}
	acct, err := c.bodyAccount(in.AccountID)
	if err != nil {
		return out, err
	}
	cs, err := s.Cameos.List(r.Context(), acct, in.Cursor, in.Limit+1)
	if err != nil {
		return out, err
	}
	for i, x := range cs {
		if i == in.Limit {
			out.HasMore, out.NextCursor = true, cs[i-1].ID
			break
		}
		out.Data = append(out.Data, viewCameo(x, true))
	}
	return out, nil
}

func (s *Server) getCameo(r *http.Request, c *call, in *struct{ cameoPath }) (cameoView, error) {
	if err := s.cameosOn(); err != nil {
		return cameoView{}, err
	}
	v, err := s.Cameos.Get(r.Context(), in.ID, owner(c))
	if err != nil {
		return cameoView{}, err
	}
	return viewCameo(v.Cameo, v.Full), nil
}

func (s *Server) updateCameo(r *http.Request, c *call, in *struct {
	cameoPath
	Body updateCameoRequest
}) (cameoView, error) {
	if err := s.cameosOn(); err != nil {
		return cameoView{}, err
	}
	b := in.Body
	ch := cameo.Changes{Name: b.Name, DailyLimit: b.DailyLimit, Paused: b.Paused, Listed: b.Listed,
		Idempotency: c.idempotency(r, func(v any) any { return viewCameo(v.(tollgate.Cameo), true) })}
	if b.Policy != nil {
		p := tollgate.CameoPolicy(*b.Policy)
		ch.Policy = &p
	}
	if b.Fee.set {
		if b.Fee.err != nil {
			return cameoView{}, tollgate.FieldError("fee", "%v", b.Fee.err)
		}
		ch.Fee = &b.Fee.v
	}
	id, err := s.cameoID(r, in.ID, owner(c))
	if err != nil {
		return cameoView{}, err
	}
	got, err := s.Cameos.Update(r.Context(), id, owner(c), ch)
	if err != nil {
		return cameoView{}, err
	}
	return viewCameo(got, true), nil
}

// cameoID resolves a path's cameo (an id or an @handle) to its id, as the
// owner sees it: another account's is not found.
func (s *Server) cameoID(r *http.Request, ref, owner string) (string, error) {
	v, err := s.Cameos.Get(r.Context(), ref, owner)
	if err == nil && !v.Full {
		err = &tollgate.Error{Code: tollgate.CodeNotFound, Field: "cameo_id", Message: "cameo " + ref + " not found"}
	}
	return v.ID, err
}

func (s *Server) deleteCameo(r *http.Request, c *call, in *struct{ cameoPath }) (cameoView, error) {
	if err := s.cameosOn(); err != nil {
		return cameoView{}, err
	}
	id, err := s.cameoID(r, in.ID, owner(c))
	if err != nil {
		return cameoView{}, err
	}
	got, err := s.Cameos.Delete(r.Context(), id, owner(c))
	if err != nil {
		return cameoView{}, err
	}
	return viewCameo(got, true), nil
}

func (s *Server) verifyCameo(r *http.Request, c *call, in *struct {
	cameoPath
	Body emptyRequest `body:"optional"`
}) (cameoView, error) {
	if err := s.cameosOn(); err != nil {
		return cameoView{}, err
	}
	id, err := s.cameoID(r, in.ID, "")
	if err != nil {
		return cameoView{}, err
	}
	got, err := s.Cameos.Verify(r.Context(), id)
	if err != nil {
		return cameoView{}, err
	}
	return viewCameo(got, true), nil
}

type approvalRequest struct {
	AccountID string `json:"account_id" required:"true" doc:"The account to approve."`
}

func (approvalRequest) schemaName() string { return "CameoApprovalRequest" }

type approvalView struct {
	Object    string `json:"object" const:"cameo.approval"`
	CameoID   string `json:"cameo_id"`
	AccountID string `json:"account_id"`
	Approved  bool   `json:"approved"`
}

func (approvalView) schemaName() string { return "CameoApproval" }

func (s *Server) approveCameo(r *http.Request, c *call, in *struct {
	cameoPath
	Body approvalRequest
}) (approvalView, error) {
	if err := s.cameosOn(); err != nil {
		return approvalView{}, err
	}
	id, err := s.cameoID(r, in.ID, owner(c))
	if err != nil {
		return approvalView{}, err
	}
	if err := s.Cameos.Approve(r.Context(), id, owner(c), in.Body.AccountID); err != nil {
		return approvalView{}, err
	}
	return approvalView{Object: "cameo.approval", CameoID: id, AccountID: in.Body.AccountID, Approved: true}, nil
}

func (s *Server) revokeCameo(r *http.Request, c *call, in *struct {
	cameoPath
	AccountID string `path:"account_id" doc:"The approved account."`
}) (approvalView, error) {
	if err := s.cameosOn(); err != nil {
		return approvalView{}, err
	}
	id, err := s.cameoID(r, in.ID, owner(c))
	if err != nil {
		return approvalView{}, err
	}
	if err := s.Cameos.Revoke(r.Context(), id, owner(c), in.AccountID); err != nil {
		return approvalView{}, err
	}
	return approvalView{Object: "cameo.approval", CameoID: id, AccountID: in.AccountID}, nil
}

func (s *Server) listApprovals(r *http.Request, c *call, in *struct {
	cameoPath
	pageQuery
}) (listView[approvalView], error) {
	out := listView[approvalView]{Object: "list", Data: []approvalView{}}
	if err := s.cameosOn(); err != nil {
		return out, err
	}
	id, err := s.cameoID(r, in.ID, owner(c))
	if err != nil {
		return out, err
	}
	ids, err := s.Cameos.Approvals(r.Context(), id, owner(c), in.Cursor, in.Limit+1)
	if err != nil {
		return out, err
	}
	for i, a := range ids {
		if i == in.Limit {
			out.HasMore, out.NextCursor = true, ids[i-1]
			break
		}
		out.Data = append(out.Data, approvalView{Object: "cameo.approval", CameoID: id, AccountID: a, Approved: true})
	}
	return out, nil
}

func (s *Server) registerCameos() {
	const cameos = "cameos"
	handle(s, op{pattern: "POST /v1/cameos", id: "createCameo", tag: cameos, status: http.StatusCreated,
		errors:  []tollgate.Code{tollgate.CodeConflict, tollgate.CodeNotFound},
		summary: "Register a cameo", description: "A likeness or a character that videos may show, with a consent policy and a fee per use " +
			"paid to the owner at each capture, less the platform's take. At most 200 per account.",
		answer: "The cameo, as its owner sees it."}, s.createCameo)
	handle(s, op{pattern: "GET /v1/cameos", id: "listCameos", tag: cameos, summary: "List an account's cameos", answer: "A page."}, s.listCameos)
	handle(s, op{pattern: "GET /v1/cameos/{cameo_id}", id: "getCameo", tag: cameos, summary: "Get a cameo",
		description: "Its owner sees all of it; an account it permits sees its public fields; anyone else gets 404.",
		answer:      "The cameo."}, s.getCameo)
	handle(s, op{pattern: "POST /v1/cameos/{cameo_id}", id: "updateCameo", tag: cameos, summary: "Change a cameo",
		description: "Its owner (or an admin) changes its name, policy, fee, daily limit, or pauses it. A raise of the fee applies after the notice period.",
		answer:      "The cameo."}, s.updateCameo)
	handle(s, op{pattern: "DELETE /v1/cameos/{cameo_id}", id: "deleteCameo", tag: cameos, summary: "Delete a cameo",
		description: "Nobody may use it from now on and its handle is free; jobs already held finish and pay as quoted.",
		answer:      "The cameo, deleted."}, s.deleteCameo)
	handle(s, op{pattern: "POST /v1/cameos/{cameo_id}/verify", id: "verifyCameo", tag: cameos, who: adminOnly, summary: "Verify a likeness",
		description: "Admin key only: the operator checked that the registrant is the person shown; the likeness becomes active.",
		answer:      "The cameo."}, s.verifyCameo)
	handle(s, op{pattern: "POST /v1/cameos/{cameo_id}/approvals", id: "approveCameoAccount", tag: cameos, summary: "Approve an account",
		errors:      []tollgate.Code{tollgate.CodeConflict},
		description: "The account may use the cameo while its policy is approved. At most 10,000 per cameo.",
		answer:      "The approval."}, s.approveCameo)
	handle(s, op{pattern: "GET /v1/cameos/{cameo_id}/approvals", id: "listCameoApprovals", tag: cameos, summary: "List approved accounts",
		answer: "A page."}, s.listApprovals)
	handle(s, op{pattern: "DELETE /v1/cameos/{cameo_id}/approvals/{account_id}", id: "revokeCameoAccount", tag: cameos, summary: "Revoke an approval",
		description: "At once: the account's new jobs are refused; those already held finish on the terms they were quoted with.",
		answer:      "The approval, revoked."}, s.revokeCameo)
}
