package inplace_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
)

func TestRecoverLeavesWhatItCannotTrust(t *testing.T) {
	tests := []struct {
		name string
		// after changes things after the crash; it returns the hash the
		// file must have after Recover.
		after func(t *testing.T, path, journal, record string) string
		// wantErr is in Recover's error ("" for none), wantWarn in the
		// warning logged ("" for none), wantRecords what the journal
		// holds afterwards.
		wantErr     string
		wantWarn    string
		wantRecords func(record string) []string
	}{
		{
			name: "corrupt record",
			after: func(t *testing.T, path, journal, record string) string {
				p := filepath.Join(journal, record)
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				data[len(data)/2] ^= 0x10
				if err := os.WriteFile(p, data, 0o600); err != nil {
					t.Fatal(err)
				}
				return sum(t, path) // not acted on
			},
			wantErr:     "checksum mismatch; not applied, kept as ",
			wantRecords: func(record string) []string { return []string{record + ".corrupt"} },
		},
		{
			name: "file replaced",
			after: func(t *testing.T, path, journal, record string) string {
				tmp := path + ".new"
				copyFile(t, path, tmp)
				if err := os.Rename(tmp, path); err != nil {
					t.Fatal(err)
				}
				return sum(t, path)
			},
			wantWarn:    "another file is at that path now",
			wantRecords: func(string) []string { return nil },
		},
		{
			name: "file gone",
			after: func(t *testing.T, path, journal, record string) string {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				return ""
			},
			wantWarn:    "the file is gone",
			wantRecords: func(string) []string { return nil },
		},
		{
			name: "file cut short by something else",
			after: func(t *testing.T, path, journal, record string) string {
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(path, st.Size()/2); err != nil {
					t.Fatal(err)
				}
				return sum(t, path)
			},
			wantErr:     "shorter than its original",
			wantRecords: func(record string) []string { return []string{record} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ed, path, _, _ := setup(t)
			logger, hook := logtest.NewNullLogger()
			ed.Logger = logrus.NewEntry(logger)
			crash(t, ed, path, flagsEdit("Director").args)
			recs := records(t, ed.JournalDir)
			if len(recs) != 1 {
				t.Fatalf("journal holds %v, want one record", recs)
			}
			wantHash := tt.after(t, path, ed.JournalDir, recs[0])

			restored, err := ed.Recover(context.Background())
			if len(restored) != 0 {
				t.Errorf("Recover restored %v, want nothing", restored)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Recover: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), recs[0])):
				t.Errorf("Recover error %v, want one naming %s with %q", err, recs[0], tt.wantErr)
			}
			var warned []string
			for _, e := range hook.AllEntries() {
				warned = append(warned, e.Message)
			}
			if tt.wantWarn != "" && (len(warned) != 1 || !strings.Contains(warned[0], tt.wantWarn) || !strings.Contains(warned[0], path)) {
				t.Errorf("warnings %q, want one naming %s with %q", warned, path, tt.wantWarn)
			}
			if tt.wantWarn == "" && len(warned) != 0 {
				t.Errorf("warnings %q, want none", warned)
			}
			if wantHash != "" {
				if got := sum(t, path); got != wantHash {
					t.Error("Recover changed a file it must leave alone")
				}
			}
			if got := records(t, ed.JournalDir); !reflect.DeepEqual(got, tt.wantRecords(recs[0])) {
				t.Errorf("journal holds %v, want %v", got, tt.wantRecords(recs[0]))
			}
			if tt.name == "corrupt record" {
				// The file may be half edited: no edit takes it for an
				// original until an operator removed the record.
				err := ed.Edit(context.Background(), path, flagsEdit("Again").args, nil)
				if !errors.Is(err, inplace.ErrBusy) || !strings.Contains(err.Error(), "corrupt undo record") {
					t.Errorf("Edit after a corrupt record: %v, want ErrBusy", err)
				}
			}
		})
	}
}

func TestRecoverNothingToDo(t *testing.T) {
	dir := t.TempDir()
	ed := &inplace.Editor{JournalDir: filepath.Join(dir, "never-created")}
	if restored, err := ed.Recover(context.Background()); err != nil || len(restored) != 0 {
		t.Errorf("Recover without a journal directory = %v, %v", restored, err)
	}
	// A record that was still being written: its edit never ran
	// mkvpropedit, so it is removed without touching anything.
	ed.JournalDir = dir
	if err := os.WriteFile(filepath.Join(dir, ".tmp-0123.undo"), []byte("VPOUNDO1 half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a record"), 0o600); err != nil {
		t.Fatal(err)
	}
	if restored, err := ed.Recover(context.Background()); err != nil || len(restored) != 0 {
		t.Errorf("Recover = %v, %v", restored, err)
	}
	if got := records(t, dir); !reflect.DeepEqual(got, []string{"README"}) {
		t.Errorf("journal holds %v, want only README", got)
	}
	if _, err := (&inplace.Editor{}).Recover(context.Background()); err == nil {
		t.Error("Recover without JournalDir: no error")
	}
}

// startStuckEdit starts a chaos child whose mkvpropedit edits path, then
// hangs; it returns once the edit is made, with the child running, and a
// channel closed when the child exited.
func startStuckEdit(t *testing.T, ed *inplace.Editor, path string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	dir := t.TempDir()
	wrapper, edited := filepath.Join(dir, "mkvpropedit"), filepath.Join(dir, "edited")
	script := fmt.Sprintf("#!/bin/sh\n%q \"$@\" || exit\n: > %q\nexec sleep 60\n", tool(t, "mkvpropedit"), edited)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(chaosJob{Path: path, Journal: ed.JournalDir, MkvPropEdit: wrapper, FFProbe: tool(t, "ffprobe"),
		Args: flagsEdit("Director").args})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), chaosEnv+"="+string(data))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		waitToolsGone(t, path)
	})
	for {
		if _, err := os.Stat(edited); err == nil {
			return cmd, exited
		}
		select {
		case <-exited:
			t.Fatalf("the child exited before its edit: %s", stderr.Bytes())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestRecoverLeavesARunningVpo: the undo record of an edit another vpo
// process (a child of this test binary) is making is left alone; it is
// acted on once it is of another boot, or its process is dead.
func TestRecoverLeavesARunningVpo(t *testing.T) {
	ed, path, hash, mt := setupBy(t, muxers[0])
	child, _ := startStuckEdit(t, ed, path)
	recs := records(t, ed.JournalDir)
	if len(recs) != 1 || !strings.Contains(recs[0], "."+strconv.Itoa(child.Process.Pid)+".") {
		t.Fatalf("journal of the running edit: %v, want one record naming pid %d", recs, child.Process.Pid)
	}
	edited := sum(t, path)
	if edited == hash {
		t.Fatal("the stuck edit did not edit")
	}
	restored, err := ed.Recover(context.Background())
	if err != nil || len(restored) != 0 {
		t.Errorf("Recover while the edit runs: %v, %v; want nothing restored", restored, err)
	}
	if got := records(t, ed.JournalDir); !reflect.DeepEqual(got, recs) || sum(t, path) != edited {
		t.Fatalf("Recover touched a running edit: journal %v", got)
	}

	// The same record, of another boot: its pid may have been reused.
	parts := strings.Split(recs[0], ".")
	parts[2] = "00000000-0000-0000-0000-000000000000"
	if err := os.Rename(filepath.Join(ed.JournalDir, recs[0]), filepath.Join(ed.JournalDir, strings.Join(parts, "."))); err != nil {
		t.Fatal(err)
	}
	restored, err = ed.Recover(context.Background())
	if err != nil || len(restored) != 1 {
		t.Errorf("Recover of a record of another boot: %v, %v; want the file restored", restored, err)
	}
	checkOriginal(t, ed, path, hash, mt)

	// A dead process of this boot.
	child, exited := startStuckEdit(t, ed, path)
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	waitToolsGone(t, path)
	restored, err = ed.Recover(context.Background())
	if err != nil || len(restored) != 1 {
		t.Errorf("Recover of a dead process's record: %v, %v; want the file restored", restored, err)
	}
	checkOriginal(t, ed, path, hash, mt)
}
