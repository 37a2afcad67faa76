// Package local is the built-in renderer: it makes a real, playable MP4 with
// ffmpeg, showing the prompt at the size and length asked, after a render
// time it reports progress through. It needs no network and no key, so the
// whole flow runs offline; with no provider configured it stands in for
// every catalog model (demo mode). Without ffmpeg it serves an embedded
// pre-encoded clip instead, and says so.
//
// A job's id carries everything needed to render it (what was asked and
// when), so that a job survives a restart and any instance can render it.
package local

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"tollgate"
	"tollgate/router"
)

// Embedded assets for a machine without ffmpeg: a 4-second 1280x720 clip,
// its thumbnail and its spritesheet.
var (
	//go:embed assets/clip.mp4
	Clip []byte
	//go:embed assets/thumbnail.webp
	Thumbnail []byte
	//go:embed assets/spritesheet.jpg
	Spritesheet []byte
)

// ClipSeconds and ClipSize describe the embedded clip.
const (
	ClipSeconds = 4
	ClipSize    = "1280x720"
)

// Name is the provider's name in the catalog.
const Name = "local"

// Provider renders clips. It is safe for concurrent use.
type Provider struct {
	// RenderTime is how long a job takes before it completes; 0 completes
	// at once.
	RenderTime time.Duration
	Clock      tollgate.Clock
	// FFmpeg is the ffmpeg binary; "" when there is none (the embedded
	// clip is served).
	FFmpeg string
	// Font is a TrueType font file for the prompt; "" uses ffmpeg's
	// default (fontconfig).
	Font string
	// slots bounds the renders running at once, one per CPU.
	slots chan struct{}
}

var (
	_ router.Provider       = (*Provider)(nil)
	_ router.Reconciler     = (*Provider)(nil)
	_ router.CharacterMaker = (*Provider)(nil)
)

// New returns a renderer taking renderTime per job, using the ffmpeg on
// PATH if there is one.
func New(renderTime time.Duration, clock tollgate.Clock) *Provider {
	p := &Provider{RenderTime: renderTime, Clock: clock, slots: make(chan struct{}, runtime.NumCPU())}
	if path, err := exec.LookPath("ffmpeg"); err == nil {
		p.FFmpeg = path
	}
	for _, f := range []string{"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf"} {
		if _, err := os.Stat(f); err == nil {
			p.Font = f
			break
		}
	}
	return p
}

// Name returns "local".
func (p *Provider) Name() string { return Name }

// job is what a local job's id encodes.
type job struct {
	Prompt  string    `json:"p"`
	Seconds int       `json:"s"`
	Size    string    `json:"z"`
	Start   time.Time `json:"t"`
	Render  int64     `json:"r"` // milliseconds
	Cancel  bool      `json:"c,omitempty"`
	Shows   []string  `json:"h,omitempty"` // the characters' names
}

// characterPrefix starts a local character's id, which is its name.
const characterPrefix = "local_char_"

// NewCharacter makes a character: its id is its name, drawn in the clips
// that show it.
func (p *Provider) NewCharacter(_ context.Context, name string, video []byte) (string, error) {
	if len(video) == 0 {
		return "", &router.Error{Kind: router.Terminal, Code: "invalid_request", Message: "a character is made from a clip"}
	}
	return characterPrefix + base64.RawURLEncoding.EncodeToString([]byte(name)), nil
}

func encode(j job) string {
	b, _ := json.Marshal(j)
	return "local_" + base64.RawURLEncoding.EncodeToString(b)
}

func decode(id string) (job, error) {
	var j job
	raw, ok := strings.CutPrefix(id, "local_")
	if !ok {
		return j, &router.Error{Kind: router.Terminal, Code: "not_found", Message: fmt.Sprintf("no local job %q", id)}
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err == nil {
		err = json.Unmarshal(b, &j)
	}
	if err != nil {
		return j, &router.Error{Kind: router.Terminal, Code: "not_found", Message: fmt.Sprintf("no local job %q", id)}
	}
	return j, nil
}

// Submit starts a job: it renders once RenderTime has passed.
func (p *Provider) Submit(_ context.Context, j router.Job) (string, error) {
	w, h, err := dimensions(j.Size)
	if err != nil || j.Seconds < 1 || j.Seconds > 120 {
		return "", &router.Error{Kind: router.Terminal, Code: "invalid_request", Message: fmt.Sprintf("the local renderer makes 1 to 120 seconds at WIDTHxHEIGHT, not %d s at %q", j.Seconds, j.Size)}
	}
	_, _ = w, h
	start := j.SubmittedAt
	if start.IsZero() {
		start = p.Clock.Now()
	}
	var shows []string
	for _, id := range j.Characters {
		raw, ok := strings.CutPrefix(id, characterPrefix)
		name, err := base64.RawURLEncoding.DecodeString(raw)
		if !ok || err != nil {
			return "", &router.Error{Kind: router.Terminal, Code: "invalid_request", Message: fmt.Sprintf("no local character %q", id)}
		}
		shows = append(shows, string(name))
	}
	return encode(job{Prompt: j.Prompt, Seconds: j.Seconds, Size: j.Size, Start: start.UTC(), Render: p.RenderTime.Milliseconds(), Shows: shows}), nil
}

// Reconcile finds the job Submit made for j: a local job is what its id
// says, so it is made again, exactly.
func (p *Provider) Reconcile(ctx context.Context, j router.Job) (string, bool, error) {
	if j.SubmittedAt.IsZero() {
		return "", false, &router.Error{Kind: router.Unknown, Code: "unmatched", Message: "the attempt has no submit time to match"}
	}
	id, err := p.Submit(ctx, j)
	return id, err == nil, err
}

// Status reports progress rising with the time spent of RenderTime.
func (p *Provider) Status(_ context.Context, id string) (router.Status, error) {
	j, err := decode(id)
	if err != nil {
		return router.Status{}, err
	}
	elapsed := p.Clock.Now().Sub(j.Start)
	render := time.Duration(j.Render) * time.Millisecond
	if elapsed >= render {
		return router.Status{State: router.Completed, Progress: 100}, nil
	}
	return router.Status{State: router.Running, Progress: int(99 * elapsed / render)}, nil
}

// Fetch renders the job's clip and writes it to w.
func (p *Provider) Fetch(ctx context.Context, id string, w io.Writer) error {
	j, err := decode(id)
	if err != nil {
		return err
	}
	if p.FFmpeg == "" {
		_, err := w.Write(Clip)
		return err
	}
	dir, err := os.MkdirTemp("", "tollgate-local-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	text := filepath.Join(dir, "prompt.txt")
	drawn := j.Prompt
	if len(j.Shows) > 0 {
		drawn += " - with " + strings.Join(j.Shows, ", ")
	}
	if err := os.WriteFile(text, []byte(wrap(drawn, 40, 6)), 0o600); err != nil {
		return err
	}
	out := filepath.Join(dir, "out.mp4")
	if err := p.render(ctx, j, text, out); err != nil {
		return err
	}
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, err = io.Copy(w, f)
	return err
}

func (p *Provider) render(ctx context.Context, j job, text, out string) error {
	if p.slots != nil {
		select {
		case p.slots <- struct{}{}:
			defer func() { <-p.slots }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	width, height, _ := dimensions(j.Size)
	font := ""
	if p.Font != "" {
		font = "fontfile=" + p.Font + ":"
	}
	size := max(16, min(width, height)/22)
	filter := fmt.Sprintf("drawtext=%stextfile=%s:expansion=none:fontcolor=white:fontsize=%d:line_spacing=%d:x=(w-tw)/2:y=(h-th)/2,"+
		"drawtext=%stext='%%{pts\\:hms}  tollgate local':fontcolor=0xaaaaaa:fontsize=%d:x=20:y=h-th-20",
		font, text, size, size/3, font, size*2/3)
	cmd := exec.CommandContext(ctx, p.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x1d2b3a:s=%dx%d:d=%d:r=24", width, height, j.Seconds),
		"-vf", filter, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "32", "-pix_fmt", "yuv420p", "-movflags", "+faststart", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("local render: ffmpeg: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Cancel stops a job: the local renderer can always.
func (p *Provider) Cancel(_ context.Context, id string) error {
	_, err := decode(id)
	return err
}

func dimensions(size string) (int, int, error) {
	var w, h int
	if _, err := fmt.Sscanf(size, "%dx%d", &w, &h); err != nil || w < 16 || h < 16 || w > 4096 || h > 4096 || w%2 != 0 || h%2 != 0 {
		return 0, 0, fmt.Errorf("size %q is not an even WIDTHxHEIGHT from 16 to 4096", size)
	}
	return w, h, nil
}

// wrap breaks s into at most lines lines of about width characters,
// ending with an ellipsis when it had to cut.
func wrap(s string, width, lines int) string {
	words := strings.Fields(s)
	var out []string
	cur := ""
	for _, w := range words {
		if len([]rune(w)) > width {
			w = string([]rune(w)[:width])
		}
		if cur != "" && len([]rune(cur))+1+len([]rune(w)) > width {
			out = append(out, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	if cur != "" {
		out = append(out, cur)
	}
	if len(out) > lines {
		out = out[:lines]
		out[lines-1] += " …"
	}
	return strings.Join(out, "\n")
}
