package media_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vpo-project/vpo/libs/media"
)

// BenchmarkFromFFProbe reads the seven-stream MKV fixture with two
// commentary patterns, as planning a scanned library does once per file.
func BenchmarkFromFFProbe(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "movie.mkv.json"))
	if err != nil {
		b.Fatal(err)
	}
	opts := media.Options{CommentaryPatterns: commentary}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := media.FromFFProbe(data, opts); err != nil {
			b.Fatal(err)
		}
	}
}
