package app

import (
	"strconv"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/store"
)

// TestDoctorSchemaVerdicts: a schema newer than the binary fails, an older
// one warns with the version a migration brings, the same one is ok, in
// the SQLite and the PostgreSQL wording.
func TestDoctorSchemaVerdicts(t *testing.T) {
	latest := store.LatestSchemaVersion()
	for _, tc := range []struct {
		v                    int
		about, migrate, want string
	}{
		{latest + 1, "readable and writable, ", "vpo serve migrates it to %d at its next start", "FAIL  db: schema version " + strconv.Itoa(latest+1) + " is newer than this binary's " + strconv.Itoa(latest) + ": upgrade"},
		{latest - 1, "readable and writable, ", "vpo serve migrates it to %d at its next start", "warn  db: readable and writable, schema version " + strconv.Itoa(latest-1) + "; vpo serve migrates it to " + strconv.Itoa(latest) + " at its next start"},
		{latest, "readable and writable, ", "vpo serve migrates it to %d at its next start", "ok    db: readable and writable, schema version " + strconv.Itoa(latest)},
		{latest - 2, "PostgreSQL 15.9, ", "vpo serve (or vpo db migrate) migrates it to %d", "warn  db: PostgreSQL 15.9, schema version " + strconv.Itoa(latest-2) + "; vpo serve (or vpo db migrate) migrates it to " + strconv.Itoa(latest)},
		{latest, "PostgreSQL 15.9, ", "vpo serve (or vpo db migrate) migrates it to %d", "ok    db: PostgreSQL 15.9, schema version " + strconv.Itoa(latest)},
	} {
		var b strings.Builder
		d := &doctor{out: &b}
		d.schema("db", tc.v, tc.about, tc.migrate, "upgrade")
		if got := strings.TrimSpace(b.String()); got != tc.want {
			t.Errorf("schema(%d, %q) =\n%s\nwant\n%s", tc.v, tc.about, got, tc.want)
		}
	}
}
