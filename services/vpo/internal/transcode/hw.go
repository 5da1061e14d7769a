package transcode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// ErrNoHW: the hardware method a policy names cannot encode here and the
// policy does not fall back to software (hw_fallback: false).
var ErrNoHW = errors.New("hardware encoding unavailable")

// trialTimeout bounds one trial encode (and the encoder listing).
const trialTimeout = 30 * time.Second

// autoOrder is the order hw: auto tries the methods in: an NVIDIA device
// is there on purpose; VAAPI covers Intel and AMD with one API.
var autoOrder = []Method{NVENC, VAAPI, QSV}

// Prober finds out which hardware method can encode, once per ffmpeg
// executable, device root, method and codec for the life of the process
// (a changed ffmpeg path is probed anew). It is safe for concurrent use.
type Prober struct {
	// DevRoot is where the device nodes are looked for; "" is /dev.
	DevRoot string
	Log     *logrus.Entry

	mu       sync.Mutex
	encoders map[string]map[string]bool
	trials   map[string]error
	logged   map[string]bool
}

// Encoders returns the encoders the ffmpeg at path lists (ffmpeg
// -hide_banner -encoders), read once per path.
func (p *Prober) Encoders(ctx context.Context, path string) (map[string]bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.encodersLocked(ctx, path)
}

func (p *Prober) encodersLocked(ctx context.Context, path string) (map[string]bool, error) {
	if enc, ok := p.encoders[path]; ok {
		return enc, nil
	}
	out, err := runFFmpeg(ctx, path, []string{"-hide_banner", "-nostdin", "-encoders"})
	if err != nil {
		return nil, fmt.Errorf("list ffmpeg's encoders: %w", err)
	}
	enc := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		// " V....D libx265   libx265 H.265 / HEVC (codec hevc)"
		f := strings.Fields(line)
		if len(f) >= 2 && len(f[0]) == 6 && strings.ContainsAny(f[0][:1], "VAS") {
			enc[f[1]] = true
		}
	}
	if p.encoders == nil {
		p.encoders = map[string]map[string]bool{}
	}
	p.encoders[path] = enc
	return enc, nil
}

// Choose returns the hardware to encode video with for e (codec and hw
// settings) with the ffmpeg at path:
//   - hw none (or unset): software;
//   - hw auto: the first of nvenc, vaapi and qsv whose device node exists,
//     whose encoder ffmpeg lists, and whose one-frame trial encode
//     succeeds; else software, logged once (Info) with what was tried;
//   - a named method: that method when it passes the same checks; else
//     software when e.HWFallback (logged once, Warn), else an error
//     wrapping ErrNoHW that names the method and why.
func (p *Prober) Choose(ctx context.Context, path string, e policy.Encode) (HW, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.HW {
	case "", policy.HWNone:
		return HW{Method: Software}, nil
	case policy.HWAuto:
		var why []string
		for _, m := range autoOrder {
			hw, err := p.try(ctx, path, m, e.Codec)
			if err == nil {
				return hw, nil
			}
			if ctx.Err() != nil {
				return HW{}, ctx.Err()
			}
			why = append(why, fmt.Sprintf("%s: %v", m, err))
		}
		p.logOnce(path+"\x00auto\x00"+e.Codec, logrus.InfoLevel,
			fmt.Sprintf("hw auto: no hardware encoder for %s (%s); encoding in software", e.Codec, strings.Join(why, "; ")))
		return HW{Method: Software}, nil
	case policy.HWVAAPI, policy.HWNVENC, policy.HWQSV:
		m := Method(e.HW)
		hw, err := p.try(ctx, path, m, e.Codec)
		if err == nil {
			return hw, nil
		}
		if ctx.Err() != nil {
			return HW{}, ctx.Err()
		}
		if !e.HWFallback {
			return HW{}, fmt.Errorf("hw %s cannot encode %s here: %v (hw_fallback is off): %w", m, e.Codec, err, ErrNoHW)
		}
		p.logOnce(path+"\x00"+string(m)+"\x00"+e.Codec, logrus.WarnLevel,
			fmt.Sprintf("hw %s cannot encode %s here (%v); encoding in software (hw_fallback)", m, e.Codec, err))
		return HW{Method: Software}, nil
	}
	return HW{}, fmt.Errorf("unknown hw method %q (auto, none, vaapi, nvenc or qsv)", e.HW)
}

// try checks method m for codec, with a cached answer when there is one.
func (p *Prober) try(ctx context.Context, path string, m Method, codec string) (HW, error) {
	root := p.DevRoot
	if root == "" {
		root = "/dev"
	}
	hw := HW{Method: m}
	switch m {
	case VAAPI, QSV:
		nodes, _ := filepath.Glob(filepath.Join(root, "dri", "renderD*"))
		if len(nodes) == 0 {
			return HW{}, fmt.Errorf("no %s", filepath.Join(root, "dri", "renderD*"))
		}
		sort.Strings(nodes)
		hw.Device = nodes[0]
	case NVENC:
		if _, err := os.Stat(filepath.Join(root, "nvidia0")); err != nil {
			return HW{}, fmt.Errorf("no %s", filepath.Join(root, "nvidia0"))
		}
	}
	enc, err := VideoEncoder(codec, m, nil)
	if err != nil {
		return HW{}, err
	}
	list, err := p.encodersLocked(ctx, path)
	if err != nil {
		return HW{}, err
	}
	if !list[enc] {
		return HW{}, fmt.Errorf("ffmpeg lists no %s encoder", enc)
	}
	key := path + "\x00" + root + "\x00" + string(m) + "\x00" + codec
	if err, ok := p.trials[key]; ok {
		return hw, err
	}
	_, err = runFFmpeg(ctx, path, trialArgs(hw, enc))
	if ctx.Err() != nil {
		// Not an answer about the hardware.
		return HW{}, ctx.Err()
	}
	if err != nil {
		err = fmt.Errorf("a one-frame trial encode with %s failed: %w", enc, err)
	}
	if p.trials == nil {
		p.trials = map[string]error{}
	}
	p.trials[key] = err
	return hw, err
}

// trialArgs encodes one 256x256 frame with enc on hw, to nowhere.
func trialArgs(hw HW, enc string) []string {
	args := []string{"-hide_banner", "-nostdin", "-v", "error"}
	switch hw.Method {
	case VAAPI:
		args = append(args, "-vaapi_device", hw.Device)
	case QSV:
		args = append(args, "-init_hw_device", "qsv=hw", "-filter_hw_device", "hw")
	}
	args = append(args, "-f", "lavfi", "-i", "color=s=256x256:d=0.04", "-frames:v", "1")
	switch hw.Method {
	case VAAPI:
		args = append(args, "-vf", "format=nv12,hwupload")
	case QSV:
		args = append(args, "-vf", "format=nv12,hwupload=extra_hw_frames=64")
	}
	return append(args, "-c:v", enc, "-f", "null", "-")
}

// logOnce logs msg at level the first time key is seen.
func (p *Prober) logOnce(key string, level logrus.Level, msg string) {
	if p.logged[key] {
		return
	}
	if p.logged == nil {
		p.logged = map[string]bool{}
	}
	p.logged[key] = true
	if p.Log != nil {
		p.Log.Log(level, msg)
	}
}

// runFFmpeg runs ffmpeg for a probe and returns its standard output; a
// failure is an error with the end of its standard error.
func runFFmpeg(ctx context.Context, path string, args []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, trialTimeout)
	defer cancel()
	res, err := proc.Run(ctx, proc.Cmd{Path: path, Args: args, MaxStdout: 256 << 10, MaxStderr: 4 << 10})
	if err != nil {
		return nil, err
	}
	if res.Exit != nil {
		msg := strings.TrimSpace(string(res.Stderr))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg != "" {
			return nil, fmt.Errorf("%v: %s", res.Exit, msg)
		}
		return nil, res.Exit
	}
	return res.Stdout, nil
}
