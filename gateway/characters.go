package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"tollgate"
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
// it for the account. A repeat of an answered request (same
// Idempotency-Key) returns *ledger.Replayed before the provider is asked
// again. An account keeps at most tollgate.MaxCharactersPerAccount.
func (s *Service) NewCharacter(ctx context.Context, p CharacterParams) (tollgate.Character, error) {
	name := strings.TrimSpace(p.Name)
	switch {
	case name == "":
		return tollgate.Character{}, tollgate.FieldError("name", "is required: the character's display name")
	case len(name) > tollgate.MaxCharacterNameBytes || !tollgate.CleanText(name):
		return tollgate.Character{}, tollgate.FieldError("name", "must be UTF-8 text of at most %d bytes without control characters",
			tollgate.MaxCharacterNameBytes)
	case len(p.Video) == 0:
		return tollgate.Character{}, tollgate.FieldError("video", "upload the clip the character is made from as the MP4 file video")
	}
	maker, provider, demo, ok := s.c.Router.CharacterProvider(p.Provider)
	if !ok {
		if p.Provider != "" {
			return tollgate.Character{}, tollgate.FieldError("tollgate.provider", "provider %q does not keep characters here", p.Provider)
		}
		return tollgate.Character{}, tollgate.Errorf(tollgate.CodeModelUnavailable,
			"no configured provider keeps characters: the operator should configure one whose catalog offers list the character feature")
	}
	if err := s.checkClip(ctx, p.Video); err != nil {
		return tollgate.Character{}, err
	}
	// Look first: a repeat must not make a second character upstream.
	err := s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error {
		if p.Idempotency != nil {
			if err := s.c.Ledger.CheckIdempotent(ctx, tx, p.Idempotency); err != nil {
				return err
			}
		}
		n, err := tx.CharacterCount(ctx, p.AccountID)
		if err != nil {
			return err
		}
		if n >= tollgate.MaxCharactersPerAccount {
			return tollgate.Errorf(tollgate.CodeConflict, "account %s keeps %d characters, the most an account may have", p.AccountID, n)
		}
		return nil
	})
	if err != nil {
		return tollgate.Character{}, err
	}
	upstream, err := maker.NewCharacter(ctx, name, p.Video)
	if err != nil {
		return tollgate.Character{}, characterError(provider, err)
	}
	c := tollgate.Character{ID: tollgate.NewID("char"), AccountID: p.AccountID, KeyID: p.KeyID, Name: name, Provider: provider,
		ProviderID: upstream, Demo: demo, CreatedAt: s.c.Clock.Now()}
	res, err := s.c.Ledger.WriteIdempotent(ctx, p.Idempotency, func(tx record.Tx) (any, error) {
		if err := tx.CharacterInsert(ctx, c); err != nil {
			return nil, err
		}
		return c, s.c.Ledger.Audit(ctx, tx, "character.create", c.AccountID, c.ID, map[string]any{"provider": provider, "name": name})
	})
	if err != nil {
		return tollgate.Character{}, err
	}
	return res.(tollgate.Character), nil
}

// Character returns a character; with accountID set, another account's
// is not found.
func (s *Service) Character(ctx context.Context, id, accountID string) (tollgate.Character, error) {
	var c tollgate.Character
	var err error = tollgate.ErrNotFound
	if tollgate.CleanText(id) && id != "" && len(id) <= 100 {
		err = s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			c, err = tx.CharacterByID(ctx, id)
			return err
		})
	}
	if err == nil && accountID != "" && c.AccountID != accountID {
		err = tollgate.ErrNotFound
	}
	if errors.Is(err, tollgate.ErrNotFound) {
		return tollgate.Character{}, &tollgate.Error{Code: tollgate.CodeNotFound, Field: "character_id", Message: fmt.Sprintf("character %q not found", id)}
	}
	return c, err
}

// characters reads the characters a video names, all of its account and
// kept by one provider, and returns that provider and their ids there.
func (s *Service) characters(ctx context.Context, ids []string, accountID string) (provider string, upstream []string, err error) {
	for i, id := range ids {
		c, err := s.Character(ctx, id, accountID)
		if tollgate.ErrorCode(err) == tollgate.CodeNotFound {
			return "", nil, tollgate.FieldError("characters", "character %q not found", id)
		}
		if err != nil {
			return "", nil, err
		}
		if i > 0 && c.Provider != provider {
			return "", nil, tollgate.FieldError("characters", "characters %s and %s are kept by different providers (%s, %s): one video can show characters of one provider",
				ids[0], id, provider, c.Provider)
		}
		provider, upstream = c.Provider, append(upstream, c.ProviderID)
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

// fillCharacters checks the characters a create names and pins it to the
// provider that keeps them.
func (s *Service) fillCharacters(ctx context.Context, p *CreateParams) error {
	switch {
	case p.Kind != tollgate.VideoCreate:
		return tollgate.FieldError("characters", "only a new video shows characters; a remix, an edit or an extension keeps its source's")
	case len(p.Characters) > tollgate.MaxCharactersPerVideo:
		return tollgate.FieldError("characters", "a video shows at most %d characters, not %d", tollgate.MaxCharactersPerVideo, len(p.Characters))
	}
	for i, id := range p.Characters {
		if slices.Contains(p.Characters[:i], id) {
			return tollgate.FieldError("characters", "character %s is named twice", id)
		}
	}
	provider, _, err := s.characters(ctx, p.Characters, p.AccountID)
	if err != nil {
		return err
	}
	p.only = provider
	return nil
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
