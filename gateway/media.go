package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Media checks and derives what a job stores: the clip's duration and
// size (ffprobe), a trim to what was asked, a WebP thumbnail and a JPEG
// spritesheet (ffmpeg). Without ffmpeg and ffprobe, a clip is stored as
// the provider sent it and the fallback images stand in for the derived
// ones.
type Media struct {
	FFmpeg, FFprobe string // paths; "" when missing
	// Slots bounds the ffmpeg and ffprobe processes running at once
	// (FindMedia sets one per CPU): more only thrash.
	Slots chan struct{}
	// FallbackThumbnail and FallbackSpritesheet are served when the
	// images cannot be derived.
	FallbackThumbnail, FallbackSpritesheet []byte
}

// FindMedia returns a Media using the ffmpeg and ffprobe on PATH.
func FindMedia(thumbnail, spritesheet []byte) Media {
	m := Media{FallbackThumbnail: thumbnail, FallbackSpritesheet: spritesheet, Slots: make(chan struct{}, runtime.NumCPU())}
	if p, err := exec.LookPath("ffmpeg"); err == nil {
		m.FFmpeg = p
	}
	if p, err := exec.LookPath("ffprobe"); err == nil {
		m.FFprobe = p
	}
	return m
}

// Available reports whether clips can be checked and images derived.
func (m Media) Available() bool { return m.FFmpeg != "" && m.FFprobe != "" }

// Probe is what ffprobe says of a clip.
type Probe struct {
	Seconds float64
	Width   int
	Height  int
}

// Size is "WIDTHxHEIGHT".
func (p Probe) Size() string { return fmt.Sprintf("%dx%d", p.Width, p.Height) }

// Probe reads a clip's duration and the size of its first video stream.
// A file that is not a video fails it.
func (m Media) Probe(ctx context.Context, path string) (Probe, error) {
	out, err := m.run(ctx, m.FFprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height:format=duration",
		"-of", "json", path)
	if err != nil {
		return Probe{}, err
	}
	var r struct {
		Streams []struct {
			Width  int `json:"width"`
			Height int `json:"height"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return Probe{}, fmt.Errorf("ffprobe answered what is not JSON: %w", err)
	}
	if len(r.Streams) == 0 || r.Streams[0].Width == 0 {
		return Probe{}, fmt.Errorf("the file has no video stream")
	}
	d, err := strconv.ParseFloat(r.Format.Duration, 64)
	if err != nil || d <= 0 {
		return Probe{}, fmt.Errorf("the file has no duration (%q)", r.Format.Duration)
	}
	return Probe{Seconds: d, Width: r.Streams[0].Width, Height: r.Streams[0].Height}, nil
}

// Trim cuts the clip at in to seconds, into out, copying the streams.
func (m Media) Trim(ctx context.Context, in, out string, seconds int) error {
	_, err := m.run(ctx, m.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", in, "-t", strconv.Itoa(seconds),
		"-c", "copy", "-movflags", "+faststart", out)
	return err
}

// Thumbnail writes a WebP still of the clip's middle, 480 pixels wide at most.
func (m Media) Thumbnail(ctx context.Context, in, out string, seconds float64) error {
	_, err := m.run(ctx, m.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-ss", strconv.FormatFloat(seconds/2, 'f', 2, 64),
		"-i", in, "-frames:v", "1", "-vf", "scale='min(480,iw)':-2", out)
	return err
}

// Spritesheet writes a JPEG grid of 10 frames spread over the clip, each
// 160 pixels wide.
func (m Media) Spritesheet(ctx context.Context, in, out string, seconds float64) error {
	rate := 10 / seconds
	_, err := m.run(ctx, m.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", in,
		"-vf", fmt.Sprintf("fps=%.4f,scale=160:-2,tile=5x2", rate), "-frames:v", "1", "-q:v", "5", out)
	return err
}

// LastFrame writes the last frame of the clip in as a PNG.
func (m Media) LastFrame(ctx context.Context, in, out string) error {
	_, err := m.run(ctx, m.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-sseof", "-0.5", "-i", in,
		"-update", "1", out) // each frame of the last half second over the last: the last stays
	return err
}

// Concat joins clips a and b (same size and codec) into out.
func (m Media) Concat(ctx context.Context, a, b, out string) error {
	list := out + ".txt"
	body := fmt.Sprintf("file '%s'\nfile '%s'\n", strings.ReplaceAll(a, "'", `'\''`), strings.ReplaceAll(b, "'", `'\''`))
	if err := os.WriteFile(list, []byte(body), 0o600); err != nil {
		return err
	}
	defer func() { _ = os.Remove(list) }()
	_, err := m.run(ctx, m.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", list,
		"-c", "copy", "-movflags", "+faststart", out)
	return err
}

// ConcatEncode joins clips a and b into out, encoding the video afresh at
// size (WIDTHxHEIGHT), for clips whose encodings differ. The sound is left
// out: two clips' sound cannot be joined without knowing both have some.
func (m Media) ConcatEncode(ctx context.Context, a, b, out, size string) error {
	w, h, _ := strings.Cut(size, "x")
	scale := fmt.Sprintf("scale=%s:%s:force_original_aspect_ratio=decrease,pad=%s:%s:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=24", w, h, w, h)
	_, err := m.run(ctx, m.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", a, "-i", b,
		"-filter_complex", "[0:v]"+scale+"[a];[1:v]"+scale+"[b];[a][b]concat=n=2:v=1:a=0[v]", "-map", "[v]",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", out)
	return err
}

func (m Media) run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	if bin == "" {
		return nil, fmt.Errorf("ffmpeg and ffprobe are not installed")
	}
	if m.Slots != nil {
		select {
		case m.Slots <- struct{}{}:
			defer func() { <-m.Slots }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		name := bin[strings.LastIndex(bin, "/")+1:]
		return nil, fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
