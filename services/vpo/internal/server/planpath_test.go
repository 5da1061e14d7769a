package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// TestPlansNonUTF8Path: plans of files whose names are not UTF-8 (or hold
// a backslash) are shown by the files API's rule (escaped "path", exact
// "path_b64"), are found by ?path= in the escaped form or by ?path_b64=,
// and an approved one makes a job that names the file exactly.
func TestPlansNonUTF8Path(t *testing.T) {
	st, do := policiesRouter(t, t.TempDir())
	ctx := context.Background()
	paths := []string{"/m/bad\xff\xfe.mkv", "/m/bad\xfe\xff.mkv", `/m/a\b.mkv`, "/m/plain.mkv"}
	ids := map[string]int64{}
	for _, p := range paths {
		row, err := st.CreatePlan(ctx, store.Plan{JobID: "j", Policy: "p", Path: p, Status: store.PlanPending,
			Plan: json.RawMessage(`{"changes":[]}`)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids[p] = row.ID
	}
	type row struct {
		ID      int64  `json:"id"`
		Path    string `json:"path"`
		PathB64 string `json:"path_b64"`
	}
	list := func(query string) []row {
		t.Helper()
		rec := do("GET", "/api/plans?"+query)
		var out struct{ Plans []row }
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 {
			t.Fatalf("GET /api/plans?%s = %d %s", query, rec.Code, rec.Body)
		}
		return out.Plans
	}
	seen := map[string]bool{}
	for _, r := range list("") {
		if seen[r.Path] {
			t.Errorf("two plans show the path %q", r.Path)
		}
		seen[r.Path] = true
	}
	for _, p := range paths {
		esc, exact := store.EscapePath(p)
		b64 := base64.StdEncoding.EncodeToString([]byte(p))
		queries := []string{"path=" + url.QueryEscape(esc), "path_b64=" + url.QueryEscape(b64)}
		for _, q := range queries {
			got := list(q)
			if len(got) != 1 || got[0].ID != ids[p] || got[0].Path != esc {
				t.Errorf("?%s = %+v; want plan %d with path %q", q, got, ids[p], esc)
				continue
			}
			if want := map[bool]string{true: "", false: b64}[exact]; got[0].PathB64 != want {
				t.Errorf("?%s: path_b64 %q, want %q", q, got[0].PathB64, want)
			}
		}
	}
	for _, tc := range []struct{ query, want string }{
		{"path=" + url.QueryEscape(`/m/a\q.mkv`), "path: escaped path"},
		{"path_b64=" + url.QueryEscape("!!"), `path_b64 \"!!\" is not standard base64`},
		{"path=/m/plain.mkv&path_b64=L20=", "either path or path_b64"},
	} {
		if rec := do("GET", "/api/plans?"+tc.query); rec.Code != 400 || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("?%s = %d %s; want 400 with %q", tc.query, rec.Code, rec.Body, tc.want)
		}
	}
	bad := paths[0]
	rec := do("POST", fmt.Sprintf("/api/plans/%d/approve", ids[bad]))
	var ap struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &ap); err != nil || rec.Code != 200 {
		t.Fatalf("approve = %d %s", rec.Code, rec.Body)
	}
	j, err := st.GetJob(ctx, ap.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := applyjob.ParsePayload(j.Payload); err != nil || p.Path != bad || p.PlanID != ids[bad] {
		t.Errorf("approval job payload %s = %+v, %v; want plan %d of %q", j.Payload, p, err, ids[bad], bad)
	}
}
