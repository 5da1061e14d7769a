package config_test

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/vpo-project/vpo/libs/config"
)

func TestDurationTOML(t *testing.T) {
	tests := []struct {
		doc     string
		want    time.Duration
		wantErr bool
	}{
		{`d = "30s"`, 30 * time.Second, false},
		{`d = "1m30s"`, 90 * time.Second, false},
		{`d = 45`, 45 * time.Second, false},
		{`d = "45"`, 45 * time.Second, false},
		{`d = 0`, 0, true},
		{`d = -5`, 0, true},
		{`d = "-5s"`, 0, true},
		{`d = "soon"`, 0, true},
		{`d = 1.5`, 0, true},
		{`d = true`, 0, true},
		{`d = 99999999999999999`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			var v struct{ D config.Duration }
			_, err := toml.Decode(tt.doc, &v)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Decode(%s) error = %v, wantErr %v", tt.doc, err, tt.wantErr)
			}
			if err == nil && v.D.Duration != tt.want {
				t.Errorf("Decode(%s) = %v, want %v", tt.doc, v.D.Duration, tt.want)
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	var d config.Duration
	if err := d.UnmarshalText([]byte("2m")); err != nil || d.Duration != 2*time.Minute {
		t.Errorf("UnmarshalText(2m) = %v, %v", d, err)
	}
	if err := d.UnmarshalText([]byte("")); err == nil {
		t.Error("UnmarshalText(\"\") succeeded")
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "30s"}, {90 * time.Second, "1m30s"}, {time.Hour, "1h"},
		{10 * time.Minute, "10m"}, {90 * time.Minute, "1h30m"}, {500 * time.Millisecond, "500ms"},
	} {
		if got := (config.Duration{Duration: tt.d}).String(); got != tt.want {
			t.Errorf("String(%v) = %q, want %q", tt.d, got, tt.want)
		}
		text, _ := config.Duration{Duration: tt.d}.MarshalText()
		var back config.Duration
		if err := back.UnmarshalText(text); err != nil || back.Duration != tt.d {
			t.Errorf("round trip of %v via %q = %v, %v", tt.d, text, back, err)
		}
	}
}
