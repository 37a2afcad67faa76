package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tollgate"
	"tollgate/cameo"
	"tollgate/ledger"
	"tollgate/router"
	"tollgate/store/record"
)

// MaxCharacterSeconds bounds the clip a character is made from.
const MaxCharacterSeconds = 30

// CharacterParams ask for a character made from a clip.
type CharacterParams struct {
	AccountID string
	KeyID     string // "" for an admin key
	Name      string
	Video     []byte // an MP4
	// Provider is the provider to make it at; "" lets the router choose
	// (the first that keeps characters).
	Provider    string
	Idempotency *ledger.Idempotency
}

// NewCharacter makes a character at a provider that keeps them and stores
// it for the account as a cameo: kind character, a handle derived from the
// name (with a number added when taken), policy owner_only and fee 0 until
// its owner changes them. A repeat of an answered request (same
// Idempotency-Key) returns *ledger.Replayed before the provider is asked
// again. An account keeps at most tollgate.MaxCharactersPerAccount cameos.
func (s *Service) NewCharacter(ctx context.Context, p CharacterParams) (tollgate.Cameo, error) {
	name := strings.TrimSpace(p.Name)
	switch {
	case name == "":
		return tollgate.Cameo{}, tollgate.FieldError("name", "is required: the character's display name")
	case len(name) > tollgate.MaxCharacterNameBytes || !tollgate.CleanText(name):
		return tollgate.Cameo{}, tollgate.FieldError("name", "must be UTF-8 text of at most %d bytes without control characters",
			tollgate.MaxCharacterNameBytes)
	case len(p.Video) == 0:
		return tollgate.Cameo{}, tollgate.FieldError("video", "upload the clip the character is made from as the MP4 file video")
	}
	maker, provider, demo, ok := s.c.Router.CharacterProvider(p.Provider)
	if !ok {
		if p.Provider != "" {
			return tollgate.Cameo{}, tollgate.FieldError("tollgate.provider", "provider %q does not keep characters here", p.Provider)
		}
		return tollgate.Cameo{}, tollgate.Errorf(tollgate.CodeModelUnavailable,
			"no configured provider keeps characters: the operator should configure one whose catalog offers list the character feature")
	}
	if err := s.checkClip(ctx, p.Video); err != nil {
		return tollgate.Cameo{}, err
	}
	// Look first: a repeat must not make a second character upstream.
	err := s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error {
		if p.Idempotency != nil {
			if err := s.c.Ledger.CheckIdempotent(ctx, tx, p.Idempotency); err != nil {
				return err
			}
		}
		n, err := tx.CameoCount(ctx, p.AccountID)
		if err != nil {
			return err
		}
		if n >= tollgate.MaxCharactersPerAccount {
			return tollgate.Errorf(tollgate.CodeConflict, "account %s keeps %d cameos, the most an account may have; delete one first", p.AccountID, n)
		}
		return nil
	})
	if err != nil {
		return tollgate.Cameo{}, err
	}
	upstream, err := maker.NewCharacter(ctx, name, p.Video)
	if err != nil {
		return tollgate.Cameo{}, characterError(provider, err)
	}
	return s.c.Cameos.Create(ctx, cameo.Params{AccountID: p.AccountID, KeyID: p.KeyID, Kind: tollgate.CameoCharacter, Name: name,
		Provider: provider, ProviderID: upstream, Demo: demo, Idempotency: p.Idempotency})
}

// Character returns a cameo as OpenAI's character: to its owner, or to an
// account it permits; anyone else gets not_found.
func (s *Service) Character(ctx context.Context, id, accountID string) (tollgate.Cameo, error) {
	v, err := s.c.Cameos.Get(ctx, id, accountID)
	if tollgate.ErrorCode(err) == tollgate.CodeNotFound {
		return tollgate.Cameo{}, &tollgate.Error{Code: tollgate.CodeNotFound, Field: "character_id", Message: fmt.Sprintf("character %q not found", id)}
	}
	return v.Cameo, err
}

// characters reads the cameos a video shows (already held: their terms
// were checked then) and returns the provider that keeps those kept as
// characters, and their ids there.
func (s *Service) characters(ctx context.Context, ids []string) (provider string, upstream []string, err error) {
	first := ""
	for _, id := range ids {
		var c tollgate.Cameo
		err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			c, err = tx.CameoByID(ctx, id)
			return err
		})
		if errors.Is(err, tollgate.ErrNotFound) {
			return "", nil, tollgate.FieldError("characters", "cameo %q not found", id)
		}
		if err != nil {
			return "", nil, err
		}
		if c.Provider == "" {
			continue
		}
		if provider != "" && c.Provider != provider {
			return "", nil, tollgate.FieldError("characters", "cameos %s and %s are kept by different providers (%s, %s): one video can show characters of one provider",
				first, id, provider, c.Provider)
		}
		first, provider, upstream = cmp.Or(first, id), c.Provider, append(upstream, c.ProviderID)
	}
	return provider, upstream, nil
}

// checkClip checks the clip a character is made from, when this server can
// read videos: an MP4 of 1 to MaxCharacterSeconds seconds.
func (s *Service) checkClip(ctx context.Context, clip []byte) error {
	if len(clip) < 12 || string(clip[4:8]) != "ftyp" {
		return tollgate.FieldError("video", "the uploaded file is not an MP4 video")
	}
	if !s.c.Media.Available() {
		return nil // the provider checks it
	}
	got, err := s.probeUpload(ctx, clip)
	if err != nil {
		return err
	}
	if got.Seconds < 1 || got.Seconds > MaxCharacterSeconds {
		return tollgate.FieldError("video", "the uploaded clip lasts %.1f s; a character is made from 1 to %d s", got.Seconds, MaxCharacterSeconds)
	}
	return nil
}

// characterError says what a provider's refusal to make a character means
// to the caller.
func characterError(provider string, err error) error {
	var re *router.Error
	if !errors.As(err, &re) {
		return fmt.Errorf("make the character at %s: %w", provider, err)
	}
	switch re.Kind {
	case router.Refused:
		return tollgate.FieldError("video", "%s refused the clip: %s", provider, re.Message)
	case router.Terminal:
		return tollgate.FieldError("video", "%s could not make a character of it: %s", provider, re.Message)
	}
	e := tollgate.Errorf(tollgate.CodeUnavailable, "%s could not be reached to make the character (%s): nothing was stored; try again", provider, re.Message)
	e.RetryAfter = re.RetryAfter
	return e
}

// SaveReference stores a cameo's reference image (its bytes and
// extension) under the data directory and returns its name there.
func (s *Service) SaveReference(img []byte, ext string) (string, error) {
	dir := filepath.Join(s.c.Dir, "cameos")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	name := tollgate.NewID("ref") + ext
	if err := os.WriteFile(filepath.Join(dir, name), img, 0o640); err != nil {
		return "", fmt.Errorf("store the reference image: %w", err)
	}
	return name, nil
}

// reference gives a new video without an input image the reference image
// of the first cameo it shows that has one and is not kept at a provider
// as a character (which the provider draws itself).
func (s *Service) reference(p *CreateParams) error {
	if p.Kind != tollgate.VideoCreate || len(p.Input) > 0 || p.kept {
		return nil
	}
	for _, c := range p.cameos {
		if c.Reference == "" || c.Provider != "" {
			continue
		}
		img, err := os.ReadFile(filepath.Join(s.c.Dir, "cameos", filepath.Base(c.Reference)))
		if err != nil {
			return fmt.Errorf("read the reference image of cameo %s: %w", c.ID, err)
		}
		p.Input, p.InputExt = img, filepath.Ext(c.Reference)
		return nil
	}
	return nil
}

// fillCameos finds the cameos a video shows (named on a create, the
// source's on a remix, an edit or an extension, and @handles in the
// prompt), checks that the account may use them, fixes their fees, and
// pins the video to the provider that keeps those kept as characters.
func (s *Service) fillCameos(ctx context.Context, p *CreateParams, src *tollgate.Video) error {
	ids := p.Characters
	if p.Kind != tollgate.VideoCreate {
		if len(p.Characters) > 0 {
			return tollgate.FieldError("characters", "only a new video names cameos; a remix, an edit or an extension shows its source's (and those its prompt names by @handle)")
		}
		if src != nil {
			ids = src.Characters
		}
	}
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return tollgate.FieldError("characters", "cameo %s is named twice", id)
		}
	}
	if len(ids) == 0 && !strings.Contains(p.Prompt, "@") {
		return nil
	}
	use, err := s.c.Cameos.Resolve(ctx, p.AccountID, "characters", ids, p.Prompt)
	if err != nil {
		return err
	}
	p.Characters, p.fees, p.cameos = cameo.IDs(use.Cameos), append(p.fees, use.Fees...), use.Cameos
	if len(use.Cameos) == 0 {
		p.Characters = nil
	}
	provider, _, err := s.characters(ctx, p.Characters)
	if err != nil {
		return err
	}
	if provider != "" {
		if p.only != "" && p.only != provider {
			return tollgate.FieldError("characters", "the source was made by %s, but the characters it shows are kept by %s", p.only, provider)
		}
		p.only, p.kept = provider, true
	}
	for _, c := range use.Cameos {
		if c.Kind == tollgate.CameoLikeness && !s.c.LikenessToOpenAI && !slices.Contains(p.Constraints.ExcludeProviders, "openai") {
			// A real person's likeness is not sent to OpenAI unless the
			// operator allows it.
			p.Constraints.ExcludeProviders = append(p.Constraints.ExcludeProviders, "openai")
		}
	}
	return s.reference(p)
}

// probeUpload reads an uploaded video's length and size with ffprobe; a
// file it cannot read is invalid_field naming video.
func (s *Service) probeUpload(ctx context.Context, data []byte) (Probe, error) {
	f, err := os.CreateTemp("", "tollgate-upload-*.mp4")
	if err != nil {
		return Probe{}, err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Probe{}, err
	}
	got, err := s.c.Media.Probe(ctx, f.Name())
	if err != nil {
		return Probe{}, tollgate.FieldError("video", "the uploaded file is not a video this server can read: %v", err)
	}
	return got, nil
}
