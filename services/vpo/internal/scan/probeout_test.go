package scan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// TestFFProbeKeepsABoundedProbe: whatever ffprobe prints (MiBs of tags,
// 1000 streams, fields vpo has no use for), the probe kept is ffprobe's
// shape reduced to the fields a policy needs, with long strings cut and
// marked, and at most store.MaxProbeBytes.
func TestFFProbeKeepsABoundedProbe(t *testing.T) {
	body := `big=$(head -c 1500000 /dev/zero | tr '\0' a)
extra=$(head -c 500 /dev/zero | tr '\0' e)
printf '{"streams":['
i=0
while [ $i -lt 1000 ]; do
  [ $i -gt 0 ] && printf ','
  printf '{"index":%d,"codec_type":"audio","codec_name":"aac","channels":2,"sample_rate":"48000","extradata":"%s","disposition":{"default":1,"forced":0,"hearing_impaired":1},"tags":{"language":"eng","ENCODER":"x","title":"t%d"}}' $i "$extra" $i
  i=$((i+1))
done
printf '],"format":{"format_name":"matroska,webm","duration":"12.5","size":"100","nb_streams":1000,"tags":{"title":"%s","COMMENT":"%s"}}}' "$big" "$big"
`
	ff := &scan.FFProbe{Path: fakeFFProbe(t, body)}
	info, err := ff.Probe(context.Background(), "/media/a.mkv")
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if info.Tracks != 1000 || info.DurationSeconds != 12.5 {
		t.Fatalf("Probe = %d tracks, duration %v; want 1000 and 12.5", info.Tracks, info.DurationSeconds)
	}
	if len(info.Raw) > store.MaxProbeBytes {
		t.Fatalf("kept probe is %d bytes, want at most %d", len(info.Raw), store.MaxProbeBytes)
	}
	var p struct {
		Format struct {
			FormatName string            `json:"format_name"`
			NBStreams  int               `json:"nb_streams"`
			Tags       map[string]string `json:"tags"`
		} `json:"format"`
		Streams []map[string]any `json:"streams"`
		Dropped int              `json:"vpo_streams_dropped"`
	}
	if err := json.Unmarshal(info.Raw, &p); err != nil {
		t.Fatalf("kept probe is not JSON: %v", err)
	}
	title := p.Format.Tags["title"]
	if p.Format.FormatName != "matroska,webm" || p.Format.NBStreams != 1000 || len(title) > store.MaxProbeString ||
		!strings.HasSuffix(title, store.ProbeTruncated) || p.Format.Tags["COMMENT"] != "" {
		t.Fatalf("kept format: %+v", p.Format)
	}
	if len(p.Streams) == 0 || len(p.Streams) > store.MaxProbeStreams || len(p.Streams)+p.Dropped != 1000 {
		t.Fatalf("kept %d streams, %d dropped; want 1 to %d, 1000 in all", len(p.Streams), p.Dropped, store.MaxProbeStreams)
	}
	s := p.Streams[1]
	got, _ := json.Marshal(s)
	want := `{"channels":2,"codec_name":"aac","codec_type":"audio","disposition":{"default":1,"forced":0,"hearing_impaired":1},"index":1,"sample_rate":"48000","tags":{"language":"eng","title":"t1"}}`
	if string(got) != want {
		t.Fatalf("kept stream 1 = %s, want %s", got, want)
	}
}

// TestFFProbeDropsStderrBeyondItsBound: a probe that worked is not failed
// by a long standard error.
func TestFFProbeDropsStderrBeyondItsBound(t *testing.T) {
	ff := &scan.FFProbe{Path: fakeFFProbe(t, `head -c 100000 /dev/zero | tr '\0' w >&2
echo '{"streams":[{"codec_type":"video","codec_name":"hevc"}],"format":{"duration":"3"}}'`)}
	info, err := ff.Probe(context.Background(), "/media/a.mkv")
	if err != nil || info.Codec != "hevc" || info.Tracks != 1 {
		t.Fatalf("Probe = codec %q, %d tracks, error %v; want hevc, 1 track", info.Codec, info.Tracks, err)
	}
}

// TestFFProbeKillsItsChildrenWhenItExits: processes ffprobe started die
// when it exits, even when it exited 0; one that holds ffprobe's stdout
// does not turn a good probe into an error.
func TestFFProbeKillsItsChildrenWhenItExits(t *testing.T) {
	for _, tc := range []struct{ name, redirect string }{
		{"child holds stdout", ""},
		{"child detached from the pipes", " >/dev/null 2>&1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "child.pid")
			ff := &scan.FFProbe{Path: fakeFFProbe(t, fmt.Sprintf(
				`echo '{"streams":[{"codec_type":"video","codec_name":"h264"}],"format":{"duration":"1"}}'
sleep 100002%s &
echo $! > %s`, tc.redirect, pidFile))}
			info, err := ff.Probe(context.Background(), "/media/a.mkv")
			b, rerr := os.ReadFile(pidFile)
			if rerr != nil {
				t.Fatalf("the fake ffprobe did not start its child: %v", rerr)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			if err != nil || info.Codec != "h264" {
				t.Fatalf("Probe = codec %q, error %v; want h264", info.Codec, err)
			}
			// Killed before Probe returned; the poll only waits for its
			// reaper (init) to notice.
			deadline := time.Now().Add(10 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("ffprobe's child %d outlived the probe", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
