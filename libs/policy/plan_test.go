package policy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the planner's output")

// readPolicy parses testdata/policies/name.
func readPolicy(t testing.TB, name string) *policy.Policy {
	t.Helper()
	p, err := policy.ReadFile(filepath.Join("testdata", "policies", name))
	if err != nil {
		t.Fatalf("ReadFile %s: %v", name, err)
	}
	return p
}

// readProbe reads testdata/probes/name with opts.
func readProbe(t testing.TB, name string, opts media.Options) media.File {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "probes", name))
	if err != nil {
		t.Fatal(err)
	}
	f, err := media.FromFFProbe(data, opts)
	if err != nil {
		t.Fatalf("FromFFProbe %s: %v", name, err)
	}
	return f
}

// golden is what a golden file holds: the plan, or the error.
type golden struct {
	Plan  *policy.Plan `json:"plan,omitempty"`
	Error string       `json:"error,omitempty"`
}

func TestPlanGolden(t *testing.T) {
	tests := []struct {
		policy, probe string
		// wantErr is the error Plan must wrap, nil for a plan.
		wantErr error
		// empty: the plan must change nothing.
		empty bool
		// skipped: the plan must be skipped.
		skipped bool
	}{
		{policy: "keep-english.yaml", probe: "movie.mkv.json"},
		{policy: "keep-english.yaml", probe: "anime.mkv.json"},
		{policy: "keep-english.yaml", probe: "foreign.mkv.json", wantErr: policy.ErrNotEnoughAudio},
		{policy: "keep-english.yaml", probe: "und.mkv.json"},
		{policy: "keep-english.yaml", probe: "compliant.mkv.json", empty: true},
		{policy: "keep-english-strict.yaml", probe: "und.mkv.json", wantErr: policy.ErrNotEnoughAudio},
		{policy: "keep-english-strict.yaml", probe: "movie.mkv.json"},
		{policy: "keep-english-strict.yaml", probe: "nolang.avi.json", wantErr: policy.ErrNotEnoughAudio},
		{policy: "fallback-keep-all.yaml", probe: "foreign.mkv.json", empty: true},
		{policy: "fallback-keep-first.yaml", probe: "movie.mkv.json"},
		{policy: "fallback-content-language.yaml", probe: "foreign.mkv.json"},
		{policy: "minimum-error.yaml", probe: "movie.mkv.json", wantErr: policy.ErrNotEnoughAudio},
		{policy: "music.yaml", probe: "music.mkv.json"},
		{policy: "subtitles-remove-all.yaml", probe: "movie.mkv.json"},
		{policy: "attachments.yaml", probe: "anime.mkv.json"},
		{policy: "actions-before-filters.yaml", probe: "anime.mkv.json"},
		{policy: "actions-before-filters.yaml", probe: "movie.mkv.json"},
		{policy: "mp4-error.yaml", probe: "movie.mkv.json", wantErr: policy.ErrIncompatibleCodec},
		{policy: "mp4-error.yaml", probe: "mp4able.mkv.json"},
		{policy: "mp4-error.yaml", probe: "clip.mp4.json", empty: true},
		// ffmpeg's mp4 keeps no track titles and makes a first track default.
		{policy: "mp4-error.yaml", probe: "titled.mkv.json"},
		{policy: "mp4-skip.yaml", probe: "movie.mkv.json", skipped: true, empty: true},
		{policy: "to-mkv.yaml", probe: "plain.mp4.json"},
		// ffmpeg cannot copy a timecode (data) track into the mp4 it
		// rewrites: the plan says so instead of promising it.
		{policy: "keep-english.yaml", probe: "timecode.mp4.json", wantErr: policy.ErrIncompatibleCodec},
		{policy: "keep-english-mp4-skip.yaml", probe: "timecode.mp4.json", skipped: true, empty: true},
		{policy: "keep-english.yaml", probe: "plain.mp4.json"},
		// A conversion to mkv does not keep it either.
		{policy: "to-mkv.yaml", probe: "timecode.mp4.json", wantErr: policy.ErrIncompatibleCodec},
		{policy: "to-mkv.yaml", probe: "clip.mp4.json", wantErr: policy.ErrIncompatibleCodec},
		{policy: "to-mkv.yaml", probe: "nolang.avi.json"},
		{policy: "default-flags.yaml", probe: "nolang.avi.json", wantErr: policy.ErrContainer},
		{policy: "track-order.yaml", probe: "movie.mkv.json"},
		{policy: "track-order.yaml", probe: "anime.mkv.json"},
		{policy: "default-flags.yaml", probe: "movie.mkv.json"},
		{policy: "default-flags.yaml", probe: "anime.mkv.json", empty: true},
		{policy: "default-flags.yaml", probe: "foreign.mkv.json"},
		{policy: "default-flags.yaml", probe: "compliant.mkv.json", empty: true},
		{policy: "audio-differs.yaml", probe: "foreign.mkv.json"},
		{policy: "audio-differs.yaml", probe: "anime.mkv.json"},
		{policy: "codec-preference.yaml", probe: "truehd.mkv.json"},
		{policy: "multi-phase.yaml", probe: "movie.mkv.json"},
		{policy: "keep-english.yaml", probe: "forced.mkv.json"},
		{policy: "default-flags.yaml", probe: "forced.mkv.json"},
		{policy: "default-flags.yaml", probe: "commentary-first.mkv.json"},
		{policy: "track-order.yaml", probe: "commentary-first.mkv.json"},
		{policy: "keep-english-strict.yaml", probe: "commentary-first.mkv.json"},
		{policy: "keep-english-strict.yaml", probe: "only-commentary.mkv.json", wantErr: policy.ErrNotEnoughAudio},
		{policy: "fallback-keep-first.yaml", probe: "only-commentary.mkv.json", empty: true},
		{policy: "keep-english.yaml", probe: "reduced.json", wantErr: policy.ErrProbe},
		{policy: "keep-english.yaml", probe: "same-index.json", wantErr: policy.ErrProbe},
		{policy: "transcode.yaml", probe: "movie.mkv.json", wantErr: policy.ErrUnsupported},
		// Transcoding. h264 in mkv to hevc; audio by upstream's default
		// preserve list (DTS-HD kept, plain DTS and AC-3 to aac, FLAC kept).
		{policy: "tc-hevc.yaml", probe: "h264-1080.mkv.json"},
		// Already hevc, audio aac and flac: nothing to do.
		{policy: "tc-hevc.yaml", probe: "hevc-720.mkv.json", empty: true},
		{policy: "tc-hevc.yaml", probe: "nolang.avi.json", wantErr: policy.ErrContainer},
		// skip_if, each condition holding and not holding.
		{policy: "tc-skip-codec.yaml", probe: "hevc-720.mkv.json", empty: true},
		{policy: "tc-skip-codec.yaml", probe: "h264-1080.mkv.json"},
		{policy: "tc-skip-resolution.yaml", probe: "h264-1080.mkv.json", empty: true},
		{policy: "tc-skip-resolution.yaml", probe: "uhd-flat.mkv.json"},
		// The file's bit rate bounds the video's.
		{policy: "tc-skip-bitrate.yaml", probe: "hevc-720.mkv.json", empty: true},
		{policy: "tc-skip-bitrate.yaml", probe: "h264-1080.mkv.json"},
		// The stream's own bit rate is used when the probe has it.
		{policy: "tc-skip-bitrate.yaml", probe: "stream-rate.mp4.json", empty: true},
		// Unknown bit rate: the condition does not hold, a note says so.
		{policy: "tc-skip-bitrate.yaml", probe: "no-bitrate.mkv.json"},
		// All conditions must hold.
		{policy: "tc-skip-all.yaml", probe: "hevc-720.mkv.json", empty: true},
		{policy: "tc-skip-all.yaml", probe: "no-bitrate.mkv.json"},
		// Scaling: 3996x2160 into 1080p keeps the aspect ratio with even sides.
		{policy: "tc-max-1080.yaml", probe: "uhd-flat.mkv.json"},
		{policy: "tc-max-720.yaml", probe: "odd-height.mkv.json"},
		// 720p source, 1080p limit: a new codec, no scaling.
		{policy: "tc-h264-max1080.yaml", probe: "hevc-720.mkv.json"},
		// Already hevc and within the limit: copied, a note says why.
		{policy: "tc-max-720.yaml", probe: "hevc-720.mkv.json", empty: true},
		// Already hevc but too large: re-encoded to scale.
		{policy: "tc-max-720.yaml", probe: "movie.mkv.json"},
		// A re-encode into mp4 drops the subtitles and attachments mp4
		// cannot hold instead of failing.
		{policy: "tc-mp4.yaml", probe: "h264-1080.mkv.json"},
		// Preserved audio mp4 cannot hold still fails (here: skips).
		{policy: "tc-mp4-preserve.yaml", probe: "h264-1080.mkv.json", skipped: true, empty: true},
		// A re-encoded mp4 file keeps its mov_text subtitles.
		{policy: "tc-hevc.yaml", probe: "stream-rate.mp4.json", empty: true},
		{policy: "tc-h264-max1080.yaml", probe: "stream-rate.mp4.json"},
		// Cover art is not encoded.
		{policy: "tc-hevc.yaml", probe: "cover.mkv.json"},
		// keep_audio, transcode and track_order in one phase.
		{policy: "tc-full.yaml", probe: "h264-1080.mkv.json"},
		// Two transcode phases: the last video block wins; the audio
		// block of the first stays.
		{policy: "tc-two-phases.yaml", probe: "h264-1080.mkv.json"},
		{policy: "tc-hw-args.yaml", probe: "h264-1080.mkv.json"},
		{policy: "tc-audio.yaml", probe: "h264-1080.mkv.json"},
		{policy: "tc-audio.yaml", probe: "uhd-flat.mkv.json"},
		// container.on_incompatible_codec: transcode encodes the audio
		// mp4 cannot hold (to aac, or to transcode.audio.to when mp4
		// holds it) and drops the subtitles and attachments.
		{policy: "tc-container.yaml", probe: "h264-1080.mkv.json"},
		{policy: "tc-container.yaml", probe: "uhd-flat.mkv.json"},
		{policy: "tc-container-audio.yaml", probe: "h264-1080.mkv.json"},
		// Nothing is incompatible: a plain remux, no encode.
		{policy: "tc-container.yaml", probe: "mp4able.mkv.json"},
		// Phone footage stored 1920x1080 and shown upright (display
		// matrix -90, ffprobe 5.1): planned at the size shown, 1080x1920,
		// as ffmpeg turns it upright when it encodes.
		{policy: "tc-hevc.yaml", probe: "rotated.mp4.json"},
		{policy: "tc-max-720.yaml", probe: "rotated.mp4.json"},
		// An mp4 with an mjpeg cover and timecode (tmcd) tracks, as
		// ffmpeg 5.1 writes it: a re-encode copies the cover and drops
		// the timecode tracks, saying why, instead of failing.
		{policy: "tc-hevc.yaml", probe: "cover-timecode.mp4.json"},
		{policy: "tc-audio.yaml", probe: "cover-timecode.mp4.json"},
		// flac is lossless: encoded with no bit rate.
		{policy: "tc-flac.yaml", probe: "h264-1080.mkv.json"},
		// A QuickTime .mov is called mov, not mp4.
		{policy: "tc-hevc.yaml", probe: "timecode.mov.json"},
		// Without a re-encode the timecode tracks still refuse the file
		// (ffmpeg cannot copy them); the cover is not refused.
		{policy: "track-order.yaml", probe: "cover-timecode.mp4.json", wantErr: policy.ErrIncompatibleCodec},
	}
	for _, tt := range tests {
		name := strings.TrimSuffix(tt.policy, ".yaml") + "__" + strings.TrimSuffix(tt.probe, ".json")
		t.Run(name, func(t *testing.T) {
			p := readPolicy(t, tt.policy)
			f := readProbe(t, tt.probe, p.MediaOptions())
			plan, err := p.Plan(f)
			var g golden
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Plan error = %v, want one wrapping %v", err, tt.wantErr)
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Plan: %v", err)
			case err != nil:
				g.Error = err.Error()
			default:
				g.Plan = &plan
				checkInvariants(t, f, plan)
				if plan.Empty() != tt.empty {
					t.Errorf("Empty() = %v, want %v; changes %+v", plan.Empty(), tt.empty, plan.Changes)
				}
				if (plan.Skipped != "") != tt.skipped {
					t.Errorf("Skipped = %q, want skipped %v", plan.Skipped, tt.skipped)
				}
			}
			again, err2 := p.Plan(f)
			if !reflect.DeepEqual(plan, again) || (err == nil) != (err2 == nil) {
				t.Errorf("Plan is not deterministic:\n%+v\n%+v", plan, again)
			}
			got, merr := json.MarshalIndent(g, "", "  ")
			if merr != nil {
				t.Fatal(merr)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestPlanGolden -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("plan differs from %s (-update rewrites it):\n got %s\nwant %s", path, got, want)
			}
		})
	}
}

// checkInvariants checks what every plan must hold whatever the policy:
// video is never removed, a file with audio keeps some, the target's
// tracks are source tracks at most once, and the changes agree with it.
func checkInvariants(t *testing.T, f media.File, plan policy.Plan) {
	t.Helper()
	seen := map[int]bool{}
	audio := 0
	for _, tt := range plan.Target.Tracks {
		if seen[tt.Source] {
			t.Errorf("target has source track %d twice", tt.Source)
		}
		seen[tt.Source] = true
		if tt.Type == string(media.StreamAudio) {
			audio++
		}
	}
	hadAudio := false
	for _, s := range f.Streams {
		if s.Type == media.StreamVideo && !seen[s.Index] {
			t.Errorf("video track %d was removed", s.Index)
		}
		hadAudio = hadAudio || s.Type == media.StreamAudio
	}
	if hadAudio && audio == 0 {
		t.Errorf("every audio track was removed")
	}
	encoded := map[int]policy.TargetTrack{}
	for _, tt := range plan.Target.Tracks {
		if tt.Encode == nil {
			continue
		}
		encoded[tt.Source] = tt
		if tt.Codec != tt.Encode.Codec {
			t.Errorf("track %d: codec %q, encoded to %q", tt.Source, tt.Codec, tt.Encode.Codec)
		}
		if tt.Encode.Scale && (tt.Width%2 != 0 || tt.Height%2 != 0 || tt.Width <= 0 || tt.Height <= 0) {
			t.Errorf("track %d is scaled to %dx%d: sides must be even and positive", tt.Source, tt.Width, tt.Height)
		}
	}
	transcodes := 0
	for _, c := range plan.Changes {
		if c.Kind == policy.ChangeTranscodeVideo || c.Kind == policy.ChangeTranscodeAudio {
			transcodes++
			if _, ok := encoded[c.Track]; !ok {
				t.Errorf("change %+v has no encoded target track", c)
			}
		}
	}
	if transcodes != len(encoded) || plan.Encodes() != (transcodes > 0) {
		t.Errorf("%d transcode changes, %d encoded tracks, Encodes() %v", transcodes, len(encoded), plan.Encodes())
	}
	for _, c := range plan.Changes {
		if c.Kind == policy.ChangeRemoveTrack && seen[c.Track] {
			t.Errorf("track %d is removed and in the target", c.Track)
		}
		if c.Reason == "" || c.Phase == "" {
			t.Errorf("change without a reason or phase: %+v", c)
		}
	}
}
