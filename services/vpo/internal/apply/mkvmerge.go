package apply

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// mkvMergeGUI starts mkvmerge's --gui-mode lines: "#GUI#progress 45%",
// "#GUI#error TEXT", "#GUI#warning TEXT" (never translated).
const mkvMergeGUI = "#GUI#"

// runMkvMerge runs mkvmerge (at path, or found on PATH) with args, which
// hold --gui-mode: its progress lines become calls of progress (when
// set), only when the percentage rose; its errors and warnings are kept
// as "Error: TEXT" and "Warning: TEXT" lines for run's messages, and its
// other (informational) lines are dropped.
func (e *Executor) runMkvMerge(ctx context.Context, path string, args []string, progress func(float64, string, time.Duration)) error {
	tool, err := lookTool("mkvmerge", path)
	if err != nil {
		return err
	}
	var kept bytes.Buffer
	cmd := proc.Cmd{Path: tool, Args: args, MaxStderr: maxToolStderr,
		OnStdout: func(out io.Reader) { readMkvMergeGUI(out, &kept, maxToolStderr, progress) }}
	res, err := proc.Run(ctx, cmd)
	res.Stdout = kept.Bytes()
	_, err = e.toolResult(ctx, "mkvmerge", args, res, err)
	return err
}

// readMkvMergeGUI reads mkvmerge's --gui-mode output from r until its
// end: progress gets each percentage higher than the last one (eta -1:
// mkvmerge does not tell), and messages (up to max bytes) its errors and
// warnings, one a line.
func readMkvMergeGUI(r io.Reader, messages *bytes.Buffer, max int, progress func(float64, string, time.Duration)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4<<10), 64<<10)
	last := -1
	keep := func(prefix, text string) {
		if messages.Len()+len(prefix)+len(text)+1 <= max {
			messages.WriteString(prefix + text + "\n")
		}
	}
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), mkvMergeGUI)
		if !ok {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "progress":
			pct, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), "%"))
			if err != nil || pct <= last || pct > 100 {
				continue
			}
			last = pct
			if progress != nil {
				progress(float64(pct), "remuxing with mkvmerge: "+strconv.Itoa(pct)+"%", -1)
			}
		case "error":
			keep("Error: ", rest)
		case "warning":
			keep("Warning: ", rest)
		}
	}
}
