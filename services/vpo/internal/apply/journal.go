package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vpo-project/vpo/libs/durable"
)

// journalExt ends the name of every intent record.
const journalExt = ".intent"

// maxIntentSize bounds what Recover reads of a record.
const maxIntentSize = 64 << 10

// intent is the record of one rewrite, written before its temporary file
// is created and removed when the rewrite is over.
type intent struct {
	// ID names the record file (ID.intent); it is also the temporary
	// file's random part.
	ID string `json:"id"`
	// Path is the file rewritten, Temp the temporary file, NewPath the
	// result's path when the container changes ("" otherwise).
	Path    string `json:"path"`
	Temp    string `json:"temp"`
	NewPath string `json:"new_path,omitempty"`
	// Kept is where the original is kept, "" when it is not.
	Kept string `json:"kept,omitempty"`
	// PID is the process that wrote the record and Boot the boot it ran
	// in (/proc/sys/kernel/random/boot_id; "" in records of older
	// versions): Recover leaves alone the records of a vpo still running.
	PID     int       `json:"pid"`
	Boot    string    `json:"boot,omitempty"`
	Started time.Time `json:"started"`
}

// journal is the directory of intent records.
type journal struct {
	dir string
}

// openJournal creates dir when missing.
func openJournal(dir string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("apply journal: %w", err)
	}
	return &journal{dir: dir}, nil
}

func (j *journal) recordPath(id string) string { return filepath.Join(j.dir, id+journalExt) }

// begin writes in's record and fsyncs it and the directory.
func (j *journal) begin(in intent) error {
	data, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("journal record: %w", err)
	}
	p := j.recordPath(in.ID)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("journal record: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = durable.SyncDir(j.dir)
	}
	if err != nil {
		_ = os.Remove(p)
		return fmt.Errorf("journal record %s: %w", p, err)
	}
	return nil
}

// end removes in's record and fsyncs the directory.
func (j *journal) end(id string) error {
	if err := os.Remove(j.recordPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	if err := durable.SyncDir(j.dir); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// record is one record file found by list: its intent, or the error
// reading it.
type record struct {
	file   string
	intent intent
	err    error
}

// list reads every record of the journal.
func (j *journal) list() ([]record, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var out []record
	for _, ent := range entries {
		if !ent.Type().IsRegular() || !strings.HasSuffix(ent.Name(), journalExt) {
			continue
		}
		r := record{file: filepath.Join(j.dir, ent.Name())}
		r.intent, r.err = readIntent(r.file)
		out = append(out, r)
	}
	return out, nil
}

// readIntent reads one record; a torn or foreign record is an error.
func readIntent(file string) (intent, error) {
	f, err := os.Open(file)
	if err != nil {
		return intent{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIntentSize+1))
	if err != nil {
		return intent{}, fmt.Errorf("read %s: %w", file, err)
	}
	if len(data) > maxIntentSize {
		return intent{}, fmt.Errorf("%s: larger than %d bytes", file, maxIntentSize)
	}
	var in intent
	if err := json.Unmarshal(data, &in); err != nil {
		return intent{}, fmt.Errorf("%s: %w", file, err)
	}
	if in.ID+journalExt != filepath.Base(file) {
		return intent{}, fmt.Errorf("%s: records id %q", file, in.ID)
	}
	return in, nil
}
