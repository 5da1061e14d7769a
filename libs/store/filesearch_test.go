package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

func TestSearchFiles(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	files := []store.File{
		{Path: "/m/Alien (1979).mkv", LastScannedAt: t0},
		{Path: "/m/aliens_1986.mkv", LastScannedAt: t0},
		{Path: "/m/Gone.mkv", LastScannedAt: t0, Missing: true},
		{Path: "/m/100% Wolf.mkv", LastScannedAt: t0},
		{Path: `/m/back\slash.mkv`, LastScannedAt: t0, ProbedAt: t0, ProbeError: "ffprobe: invalid data"},
		{Path: "/m/ok.mkv", LastScannedAt: t0, ProbedAt: t0},
	}
	for _, f := range files {
		if err := s.UpsertFile(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	changed, err := s.GetFile(ctx, "/m/ok.mkv")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordApplied(ctx, store.AppliedChange{File: changed, Policy: "p", History: store.HistoryEntry{Policy: "p", JobID: "j", Executor: "mkvpropedit", Plan: []byte(`{}`), TracksBefore: []byte(`[]`), TracksAfter: []byte(`[]`)}}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q    store.FileQuery
		want string
	}{
		{store.FileQuery{}, `[/m/100% Wolf.mkv /m/Alien (1979).mkv /m/Gone.mkv /m/aliens_1986.mkv /m/back\slash.mkv /m/ok.mkv]`},
		{store.FileQuery{Search: "alien"}, "[/m/Alien (1979).mkv /m/aliens_1986.mkv]"},
		{store.FileQuery{Search: "%"}, "[/m/100% Wolf.mkv]"},
		{store.FileQuery{Search: "s_1"}, "[/m/aliens_1986.mkv]"},
		{store.FileQuery{Search: "n_"}, "[]"},
		{store.FileQuery{Search: `\s`}, `[/m/back\slash.mkv]`},
		{store.FileQuery{Filter: store.FilterMissing}, "[/m/Gone.mkv]"},
		{store.FileQuery{Filter: store.FilterProbeFailed}, `[/m/back\slash.mkv]`},
		{store.FileQuery{Filter: store.FilterChanged}, "[/m/ok.mkv]"},
		{store.FileQuery{Search: "ALIEN", Filter: store.FilterMissing}, "[]"},
	}
	for _, tt := range tests {
		var got []string
		page, cursor := 0, ""
		for {
			q := tt.q
			q.Limit, q.Cursor = 2, cursor
			fs, next, err := s.SearchFiles(ctx, q)
			if err != nil {
				t.Fatalf("%+v: %v", tt.q, err)
			}
			for _, f := range fs {
				got = append(got, f.Path)
			}
			if next == "" {
				break
			}
			if page++; page > 10 {
				t.Fatalf("%+v: pages never end", tt.q)
			}
			cursor = next
		}
		if g := fmt.Sprint(append([]string{}, got...)); g != tt.want {
			t.Errorf("SearchFiles(%+v) = %s, want %s", tt.q, g, tt.want)
		}
	}
	if _, _, err := s.SearchFiles(ctx, store.FileQuery{Filter: "broken"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("unknown filter: %v, want ErrInvalid", err)
	}
}
