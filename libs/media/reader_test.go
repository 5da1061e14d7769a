package media_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/media"
)

// TestReaderMatchesFromFFProbe: a Reader reads what FromFFProbe reads with
// the same options, and refuses a bad commentary pattern by name.
func TestReaderMatchesFromFFProbe(t *testing.T) {
	data := []byte(`{"format":{"format_name":"matroska,webm","duration":"12.5"},"streams":[
		{"index":0,"codec_type":"video","codec_name":"h264","width":640,"height":360},
		{"index":1,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"eng","title":"Director's Commentary"}},
		{"index":2,"codec_type":"audio","codec_name":"aac","channels":6,"tags":{"language":"fre"}}]}`)
	cases := []struct {
		name    string
		opts    media.Options
		wantErr string
	}{
		{"no patterns", media.Options{}, ""},
		{"patterns", media.Options{CommentaryPatterns: []string{"commentary", "^director"}}, ""},
		{"bad pattern", media.Options{CommentaryPatterns: []string{"ok", "(unclosed"}}, `commentary pattern "(unclosed"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := media.NewReader(tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewReader = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, werr := media.FromFFProbe(data, tc.opts)
			for i := 0; i < 2; i++ {
				got, err := r.Read(data)
				if err != nil || werr != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("Read #%d = %+v, %v; FromFFProbe = %+v, %v", i, got, err, want, werr)
				}
			}
		})
	}
}
