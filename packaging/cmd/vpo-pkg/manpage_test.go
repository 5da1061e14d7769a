package main

import (
	"strings"
	"testing"
	"time"
)

func TestRenderManpage(t *testing.T) {
	date := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	raw := strings.Join([]string{
		`.TH vpo 1 vpo dev (commit unknown) ""`,
		`.SH "NAME"`,
		`vpo`,
		`.SH "DESCRIPTION"`,
		`'vpo serve' runs in the foreground.`,
		`  VPO_SERVER_PORT    server.port`,
		`.SH "OPTIONS"`,
		`.TP`,
		`\fB--version\fR`,
		`usage: vpo [<flags>] <command>`,
		`more help text`,
	}, "\n")
	got, err := renderManpage(raw, "0.1.0", date)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`.TH VPO 1 "2026-11-27" "vpo 0.1.0" "User Commands"`,
		`.SH "NAME"`,
		manSummary,
		`.SH "DESCRIPTION"`,
		`.nf`,
		`\&'vpo serve' runs in the foreground.`,
		`  VPO_SERVER_PORT    server.port`,
		`.fi`,
		`.SH "OPTIONS"`,
		`.TP`,
		`\fB--version\fR`,
	}, "\n") + "\n"
	if got != want {
		t.Errorf("renderManpage:\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderManpageRejectsNonManOutput(t *testing.T) {
	if _, err := renderManpage("usage: vpo\n", "0.1.0", time.Now()); err == nil {
		t.Fatal("want an error for output without .TH")
	}
}

func TestParseVersionLine(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "vpo 0.1.0 (commit abc123)\n", want: "0.1.0"},
		{in: "vpo 1.2.3\n", want: "1.2.3"},
		{in: "vpo dev (commit unknown)\n", wantErr: true},
		{in: "something else\n", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseVersionLine(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseVersionLine(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
