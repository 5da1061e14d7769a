package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// setting is one configuration key: how to parse it from a string (env,
// flags) or a TOML value, validate it and store it in a Config.
type setting interface {
	key() Key
	// fromString parses, validates and stores a raw env or flag value.
	fromString(c *Config, raw, home string) error
	// fromTOML validates and stores a decoded TOML value.
	fromTOML(c *Config, v any, home string) error
	// literal renders the current value as a TOML literal.
	literal(c *Config) string
	// secret reports whether the value must never be printed.
	secret() bool
	// redacted returns a printed value (raw or a TOML literal) with what
	// must not be printed of it (a password in a URL) replaced.
	redacted(text string) string
	// copyValue sets the value in dst to the one in src.
	copyValue(dst, src *Config)
}

// spec is a setting holding a value of type T.
type spec[T any] struct {
	k Key
	// dynamicDefault describes a host-dependent default for Key.Default.
	dynamicDefault string
	hidden         bool
	redact         func(text string) string
	parse          func(raw string) (T, error)
	decode         func(v any) (T, error)
	check          func(v T, home string) (T, error)
	field          func(c *Config) *T
	text           func(v T) string // unquoted text
	quoted         bool             // whether the TOML literal is a string
}

func (s spec[T]) key() Key {
	k := s.k
	if s.dynamicDefault != "" {
		k.Default = s.dynamicDefault
	} else {
		d := Defaults(Options{})
		k.Default = s.text(*s.field(&d))
	}
	return k
}

func (s spec[T]) secret() bool { return s.hidden }

func (s spec[T]) redacted(text string) string {
	if s.redact != nil {
		return s.redact(text)
	}
	return text
}

func (s spec[T]) copyValue(dst, src *Config) { *s.field(dst) = *s.field(src) }

func (s spec[T]) fromString(c *Config, raw, home string) error {
	v, err := s.parse(raw)
	if err != nil {
		return err
	}
	return s.store(c, v, home)
}

func (s spec[T]) fromTOML(c *Config, v any, home string) error {
	t, err := s.decode(v)
	if err != nil {
		return err
	}
	return s.store(c, t, home)
}

func (s spec[T]) store(c *Config, v T, home string) error {
	if s.check != nil {
		var err error
		if v, err = s.check(v, home); err != nil {
			return err
		}
	}
	*s.field(c) = v
	return nil
}

func (s spec[T]) literal(c *Config) string {
	t := s.text(*s.field(c))
	if s.quoted {
		return strconv.Quote(t)
	}
	return t
}

// settings returns the table of all settings, in display order. It is built
// on each call so that no package-level state exists.
func settings() []setting {
	return []setting{
		stringSpec(Key{
			Name: "server.bind", Env: "VPO_SERVER_BIND", Flag: "--bind",
			Help: `IP address the HTTP server listens on, e.g. "127.0.0.1", "::1", "0.0.0.0", or "localhost".`,
		}, func(c *Config) *string { return &c.Server.Bind }, checkBind),
		intSpec(Key{
			Name: "server.port", Env: "VPO_SERVER_PORT", Flag: "--port",
			Help: "TCP port the HTTP server listens on.",
		}, func(c *Config) *int { return &c.Server.Port }, 1, 65535),
		durationSpec(Key{
			Name: "server.shutdown_timeout", Env: "VPO_SERVER_SHUTDOWN_TIMEOUT",
			Help: "How long a graceful shutdown may take before running jobs are cancelled and requeued.",
			Live: true,
		}, func(c *Config) *time.Duration { return &c.Server.ShutdownTimeout }, 0, time.Hour),
		secretSpec(Key{
			Name: "server.auth_token", Env: "VPO_AUTH_TOKEN",
			Help: "Token every request except the health endpoints requires, as a Bearer token or the Basic-auth password (at least 16 characters); empty disables authentication.",
		}, func(c *Config) *string { return &c.Server.AuthToken }, checkToken),
		hostListSpec(Key{
			Name: "server.allowed_hosts", Env: "VPO_SERVER_ALLOWED_HOSTS",
			Help: `Extra host names the Host header may carry when no auth_token is set (localhost and loopback addresses are always allowed); comma-separated in the environment.`,
		}, func(c *Config) *[]string { return &c.Server.AllowedHosts }),
		intSpec(Key{
			Name: "server.max_event_streams", Env: "VPO_SERVER_MAX_EVENT_STREAMS",
			Help: "Most /api/events streams (dashboards, followers) open at once; one more is answered 503.",
		}, func(c *Config) *int { return &c.Server.MaxEventStreams }, 1, 10000),
		stringSpec(Key{
			Name: "logging.level", Env: "VPO_LOG_LEVEL", Flag: "--log-level",
			Help: `Least severe messages logged: "debug", "info", "warning" or "error".`,
			Live: true,
		}, func(c *Config) *string { return &c.Logging.Level }, checkLevel),
		stringSpec(Key{
			Name: "logging.format", Env: "VPO_LOG_FORMAT", Flag: "--log-format",
			Help: `Log line format: "text" or "json".`,
			Live: true,
		}, func(c *Config) *string { return &c.Logging.Format }, checkFormat),
		withDynamicDefault(stringSpec(Key{
			Name: "database.path", Env: "VPO_DATABASE_PATH",
			Help: `SQLite library database file; a leading "~/" means the home directory.`,
		}, func(c *Config) *string { return &c.Database.Path }, checkPath),
			"$STATE_DIRECTORY/library.db under systemd, "+packagedDatabasePath+" for user vpo, else ~/.vpo/library.db"),
		urlSpec(Key{
			Name: "database.url", Env: "VPO_DATABASE_URL",
			Help: `PostgreSQL database shared by several vpo nodes, "postgres://user:password@host:5432/vpo?sslmode=verify-full" (libpq's settings: host, port, sslmode, sslrootcert, …); empty uses the SQLite file at database.path. The password is never shown.`,
		}, func(c *Config) *string { return &c.Database.URL }),
		withDynamicDefault(stringSpec(Key{
			Name: "node.name", Env: "VPO_NODE_NAME",
			Help: `Name of this node among the vpo daemons that share a PostgreSQL database (1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'): the nodes list and every job it runs show it. Give each node its own.`,
		}, func(c *Config) *string { return &c.Node.Name }, func(v, _ string) (string, error) { return v, checkNodeName(v) }),
			"the host name up to its first dot"),
		withDynamicDefault(intSpec(Key{
			Name: "jobs.workers", Env: "VPO_JOBS_WORKERS",
			Help: "Number of jobs run at the same time; defaults to the number of CPUs.",
			Live: true,
		}, func(c *Config) *int { return &c.Jobs.Workers }, 1, maxWorkers),
			"number of CPUs"),
		durationSpec(Key{
			Name: "jobs.lease_duration", Env: "VPO_JOBS_LEASE_DURATION",
			Help: "How long a worker holds a job before it is considered abandoned and requeued.",
			Live: true,
		}, func(c *Config) *time.Duration { return &c.Jobs.LeaseDuration }, time.Second, time.Hour),
		intSpec(Key{
			Name: "jobs.retention_days", Env: "VPO_JOBS_RETENTION_DAYS",
			Help: "Days finished jobs (completed, failed, cancelled) are kept before they are deleted; 0 keeps them forever.",
			Live: true,
		}, func(c *Config) *int { return &c.Jobs.RetentionDays }, 0, maxRetentionDays),
		zeroDurationSpec(Key{
			Name: "jobs.stall_timeout", Env: "VPO_JOBS_STALL_TIMEOUT",
			Help: `How long a running job may go without reporting progress before it is cancelled and failed as stalled (then retried while it has attempts left), 1s to 24h; "0s" turns stall detection off.`,
			Live: true,
		}, func(c *Config) *time.Duration { return &c.Jobs.StallTimeout }, minStallTimeout, maxStallTimeout),
		kindTableSpec(Key{
			Name: "jobs.stall_timeouts", Env: "VPO_JOBS_STALL_TIMEOUTS",
			Help: `Per job kind overrides of stall_timeout, e.g. { transcode = "30m" }; "0s" turns stall detection off for a kind; "transcode=30m,scan=5m" in the environment.`,
			Live: true,
		}, func(c *Config) *map[string]time.Duration { return &c.Jobs.StallTimeouts },
			zeroDurationSpec(Key{}, func(c *Config) *time.Duration { return &c.Jobs.StallTimeout }, minStallTimeout, maxStallTimeout)),
		tagListSpec(Key{
			Name: "jobs.tags", Env: "VPO_JOBS_TAGS",
			Help: `Worker tags this node offers, e.g. ["gpu"]: it claims the jobs that require only tags among these (a job's "requires"), and jobs that require none; "gpu,nvenc" in the environment.`,
			Live: true,
		}, func(c *Config) *[]string { return &c.Jobs.Tags }),
		kindTableSpec(Key{
			Name: "jobs.limits", Env: "VPO_JOBS_LIMITS",
			Help: `Most jobs of a kind run at once on this node, e.g. { transcode = 1 } so that one encode runs while other workers scan and apply; kinds not listed are bounded only by workers; "transcode=1,scan=2" in the environment.`,
			Live: true,
		}, func(c *Config) *map[string]int { return &c.Jobs.Limits },
			intSpec(Key{}, func(c *Config) *int { return &c.Jobs.Workers }, 1, maxWorkers)),
		intSpec(Key{
			Name: "jobs.nice", Env: "VPO_JOBS_NICE",
			Help: "Niceness (0..19) of encodes (ffmpeg); an encode never gets more CPU priority than vpo itself: it runs at this or at vpo's own niceness, whichever is higher (0: vpo's). Encodes also use the idle I/O scheduling class.",
			Live: true,
		}, func(c *Config) *int { return &c.Jobs.Nice }, 0, 19),
		scheduleSpec(Key{
			Name: "jobs.schedule", Env: "VPO_JOBS_SCHEDULE",
			Help: `Processing window in local time, e.g. "01:00-07:00" or "01:00-07:00, 22:00-23:30" (a range may cross midnight): outside it, workers start no new jobs of the scheduled_kinds (running jobs finish); empty means always.`,
			Live: true,
		}, func(c *Config) *Schedule { return &c.Jobs.Schedule }),
		kindListSpec(Key{
			Name: "jobs.scheduled_kinds", Env: "VPO_JOBS_SCHEDULED_KINDS",
			Help: `Job kinds that wait for the schedule's window; other kinds (such as scan) always run; "apply,transcode" in the environment.`,
			Live: true,
		}, func(c *Config) *[]string { return &c.Jobs.ScheduledKinds }),
		boolSpec(Key{
			Name: "jobs.test_kinds", Env: "VPO_JOBS_TEST_KINDS",
			Help: "Enables job kinds that exist for tests only; never enable in production.",
		}, func(c *Config) *bool { return &c.Jobs.TestKinds }),
		withDynamicDefault(stringSpec(Key{
			Name: "policies.dir", Env: "VPO_POLICIES_DIR",
			Help: `Directory of policy files (*.yaml, *.yml); a policy's name is its file name without the extension.`,
			Live: true,
		}, func(c *Config) *string { return &c.Policies.Dir }, checkPath),
			packagedPoliciesDir+" under systemd or for user vpo, else ~/.vpo/policies"),
		boolSpec(Key{
			Name: "policies.keep_original", Env: "VPO_POLICIES_KEEP_ORIGINAL",
			Help: "Keeps the original of every rewritten file as NAME.original.EXT next to the result.",
			Live: true,
		}, func(c *Config) *bool { return &c.Policies.KeepOriginal }),
		zeroDurationSpec(Key{
			Name: "policies.min_file_age", Env: "VPO_POLICIES_MIN_FILE_AGE",
			Help: `How long a file must have been unchanged before a policy touches it ("still changing" otherwise); "0s" turns the check off.`,
			Live: true,
		}, func(c *Config) *time.Duration { return &c.Policies.MinFileAge }, 0, 24*time.Hour),
		boolSpec(Key{
			Name: "policies.require_approval", Env: "VPO_POLICIES_REQUIRE_APPROVAL",
			Help: "Stores each non-empty plan as pending until an operator approves or rejects it, instead of applying it.",
			Live: true,
		}, func(c *Config) *bool { return &c.Policies.RequireApproval }),
		// Last: Show writes the libraries as [[library]] tables, which
		// must follow every other key.
		librarySetting{},
	}
}

func withDynamicDefault[T any](s spec[T], desc string) spec[T] {
	s.dynamicDefault = desc
	return s
}

func stringSpec(k Key, field func(*Config) *string, check func(string, string) (string, error)) spec[string] {
	return spec[string]{
		k:      k,
		parse:  func(raw string) (string, error) { return raw, nil },
		decode: decodeString,
		check:  check,
		field:  field,
		text:   func(v string) string { return v },
		quoted: true,
	}
}

func secretSpec(k Key, field func(*Config) *string, check func(string, string) (string, error)) spec[string] {
	s := stringSpec(k, field, check)
	s.hidden = true
	return s
}

// urlSpec is a database URL: empty, or postgres:// or postgresql://,
// shown with its password redacted.
func urlSpec(k Key, field func(*Config) *string) spec[string] {
	s := stringSpec(k, field, checkDatabaseURL)
	s.redact = redactURLText
	return s
}

// redactURLText is how a database.url value is printed (as it is, or as
// a TOML literal): a valid URL with its passwords replaced, and of an
// invalid one (which an error is about to quote) nothing but its scheme,
// since where its password ends cannot be told.
func redactURLText(text string) string {
	v := text
	if u, err := strconv.Unquote(text); err == nil {
		v = u
	}
	if v == "" {
		return text
	}
	if _, err := checkDatabaseURL(v, ""); err != nil {
		scheme, _, _ := strings.Cut(v, "://")
		if len(scheme) > 16 {
			scheme = "?"
		}
		return scheme + "://… (hidden: not a valid URL)"
	}
	return RedactPasswords(text)
}

func checkDatabaseURL(v, _ string) (string, error) {
	if v == "" {
		return "", nil
	}
	if !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
		return "", errors.New(`must be a "postgres://" URL (or empty for SQLite)`)
	}
	// Characters a URL never holds as they are (a space, quotes, control
	// characters) must be percent-encoded wherever they are.
	if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' || r == '\'' || r == '\\' }) {
		return "", errors.New("holds a space, a quote, a backslash or a control character: percent-encode it (a space is %20, ' is %27, \" is %22)")
	}
	// A password with '@', '/', '?', '#' or a space must be written
	// percent-encoded, else the URL means another user, host or database
	// (and a parse error would quote part of it).
	if at := strings.LastIndex(v, "@"); at >= 0 {
		if raw := v[strings.Index(v, "://")+3 : at]; strings.ContainsAny(raw, "@/?# ") {
			return "", errors.New(reservedInUserinfo)
		}
	}
	u, err := url.Parse(v)
	if err != nil {
		// Its message would quote part of the URL (and so maybe of the
		// password): only its kind is told.
		var ee url.EscapeError
		if errors.As(err, &ee) {
			return "", errors.New("not a valid URL: a '%' not followed by two hex digits (a '%' itself is written %25)")
		}
		return "", errors.New("not a valid URL (check the host, the port and the percent-encoding)")
	}
	// The password and sslpassword settings must be spelled out, so
	// that they are recognized (and hidden) wherever the URL is shown.
	for k := range u.Query() {
		plain := strings.ToLower(k)
		if (plain == "password" || plain == "sslpassword") && !strings.Contains(u.RawQuery, k+"=") {
			return "", fmt.Errorf("write the %s setting without percent-encoding its name", plain)
		}
	}
	if at := strings.LastIndex(v, "@"); at >= 0 && !sameUserinfo(v[strings.Index(v, "://")+3:at], u.User) {
		return "", errors.New(reservedInUserinfo)
	}
	// The settings themselves as the PostgreSQL driver reads them (sslmode,
	// port, connect_timeout, the TLS files...): a mistake is the
	// configuration's, found before anything connects.
	if _, err := pgconn.ParseConfig(v); err != nil {
		return "", errors.New(pgSettingProblem(err))
	}
	return v, nil
}

// pgSettingProblem is what the driver found wrong in a URL, without the
// URL it quotes.
func pgSettingProblem(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, "`: "); ok {
		msg = after
	}
	return "the PostgreSQL settings: " + RedactPasswords(msg)
}

// sameUserinfo tells whether the user information as written (raw) is
// what the URL parser read (so that nothing of it went to the host).
func sameUserinfo(raw string, u *url.Userinfo) bool {
	if u == nil {
		return false
	}
	name, pass, hasPass := strings.Cut(raw, ":")
	n, err1 := url.PathUnescape(name)
	p, err2 := url.PathUnescape(pass)
	got, ok := u.Password()
	return err1 == nil && err2 == nil && n == u.Username() && hasPass == ok && p == got
}

const reservedInUserinfo = `the user or password holds characters a URL reserves: write '@' as %40, '/' as %2F, '?' as %3F, ` +
	`'#' as %23, '%' as %25 and a space as %20`

// passwordSetting matches a password or sslpassword setting of a URL's
// query or a libpq key=value string, up to the next '&' or space.
var passwordSetting = regexp.MustCompile(`(?i)((?:^|[^a-z_])(?:ssl)?password=)[^&\s"]*`)

// RedactPasswords returns text with every password of a database URL in
// it replaced by "xxxxx": the user information's (from the first ':' after
// "://" to the last '@', so that a password holding '@', '/' or '?' is
// hidden whole, even where the URL is malformed) and the password and
// sslpassword settings.
func RedactPasswords(text string) string {
	text = passwordSetting.ReplaceAllString(text, "${1}xxxxx")
	var b strings.Builder
	for {
		i := strings.Index(text, "://")
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i+3])
		rest := text[i+3:]
		// The URL ends at the first quote or line end (not at a space: a
		// password written with one is hidden whole).
		end := strings.IndexAny(rest, "\n\"'")
		if end < 0 {
			end = len(rest)
		}
		at := strings.LastIndex(rest[:end], "@")
		colon := strings.Index(rest[:end], ":")
		if at >= 0 && colon >= 0 && colon < at {
			b.WriteString(rest[:colon+1] + "xxxxx")
			rest = rest[at:]
		}
		text = rest
	}
}

func intSpec(k Key, field func(*Config) *int, lo, hi int) spec[int] {
	return spec[int]{
		k: k,
		parse: func(raw string) (int, error) {
			n, err := strconv.Atoi(strings.TrimSpace(raw))
			if err != nil {
				return 0, errors.New("not an integer")
			}
			return n, nil
		},
		decode: decodeInt,
		check: func(v int, _ string) (int, error) {
			if v < lo || v > hi {
				return 0, fmt.Errorf("must be between %d and %d", lo, hi)
			}
			return v, nil
		},
		field: field,
		text:  strconv.Itoa,
	}
}

// zeroDurationSpec accepts 0 (off) and durations in [lo, hi] (lo may be 0).
func zeroDurationSpec(k Key, field func(*Config) *time.Duration, lo, hi time.Duration) spec[time.Duration] {
	s := durationSpec(k, field, 0, hi)
	positive, decodePositive := s.parse, s.decode
	negative := fmt.Errorf("must not be negative: 0s to %s", formatDuration(hi))
	if lo > 0 {
		negative = fmt.Errorf("must not be negative: 0s (off) or between %s and %s", formatDuration(lo), formatDuration(hi))
	}
	s.parse = func(raw string) (time.Duration, error) {
		if isZeroDuration(raw) {
			return 0, nil
		}
		if isNegativeDuration(raw) {
			return 0, negative
		}
		return positive(raw)
	}
	s.decode = func(v any) (time.Duration, error) {
		if n, ok := v.(int64); ok && n <= 0 {
			if n < 0 {
				return 0, negative
			}
			return 0, nil
		}
		if str, ok := v.(string); ok && isZeroDuration(str) {
			return 0, nil
		}
		if str, ok := v.(string); ok && isNegativeDuration(str) {
			return 0, negative
		}
		return decodePositive(v)
	}
	s.check = func(v time.Duration, _ string) (time.Duration, error) {
		if lo > 0 && v != 0 && (v < lo || v > hi) {
			return 0, fmt.Errorf("must be 0s (off) or between %s and %s", formatDuration(lo), formatDuration(hi))
		}
		if v < 0 || v > hi {
			return 0, fmt.Errorf("must be between 0s and %s", formatDuration(hi))
		}
		return v, nil
	}
	return s
}

// isNegativeDuration reports whether raw spells a duration below zero
// ("-5m", "-1").
func isNegativeDuration(raw string) bool {
	raw = strings.TrimSpace(raw)
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		return n < 0
	}
	d, err := time.ParseDuration(raw)
	return err == nil && d < 0
}

// isZeroDuration reports whether raw spells a zero duration ("0", "0s").
func isZeroDuration(raw string) bool {
	raw = strings.TrimSpace(raw)
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		return n == 0
	}
	d, err := time.ParseDuration(raw)
	return err == nil && d == 0
}

// durationSpec accepts durations in (lo, hi] when lo is 0, else in [lo, hi].
func durationSpec(k Key, field func(*Config) *time.Duration, lo, hi time.Duration) spec[time.Duration] {
	return spec[time.Duration]{
		k:     k,
		parse: parseDuration,
		decode: func(v any) (time.Duration, error) {
			var d Duration
			if err := d.UnmarshalTOML(v); err != nil {
				return 0, err
			}
			return d.Duration, nil
		},
		check: func(v time.Duration, _ string) (time.Duration, error) {
			if lo == 0 && (v <= 0 || v > hi) {
				return 0, fmt.Errorf("must be greater than 0 and at most %s", formatDuration(hi))
			}
			if lo > 0 && (v < lo || v > hi) {
				return 0, fmt.Errorf("must be between %s and %s", formatDuration(lo), formatDuration(hi))
			}
			return v, nil
		},
		field:  field,
		text:   formatDuration,
		quoted: true,
	}
}

// scheduleSpec is a processing window (ParseSchedule) written as a string.
func scheduleSpec(k Key, field func(*Config) *Schedule) spec[Schedule] {
	return spec[Schedule]{
		k:     k,
		parse: ParseSchedule,
		decode: func(v any) (Schedule, error) {
			s, err := decodeString(v)
			if err != nil {
				return Schedule{}, err
			}
			return ParseSchedule(s)
		},
		field:  field,
		text:   Schedule.String,
		quoted: true,
	}
}

// kindListSpec is a list of job kinds: a TOML array of strings, or a
// comma-separated environment or flag value. Duplicates are dropped; an
// empty list is kept (not nil), since it differs from the default.
func kindListSpec(k Key, field func(*Config) *[]string) spec[[]string] {
	s := hostListSpec(k, field)
	parse := s.parse
	s.parse = func(raw string) ([]string, error) {
		v, err := parse(raw)
		if v == nil && err == nil {
			v = []string{}
		}
		return v, err
	}
	s.check = func(v []string, _ string) ([]string, error) {
		out := make([]string, 0, len(v))
		for _, kind := range v {
			if err := checkKindName(kind); err != nil {
				return nil, fmt.Errorf("%q: %w", kind, err)
			}
			if !slices.Contains(out, kind) {
				out = append(out, kind)
			}
		}
		return out, nil
	}
	return s
}

// tagListSpec is a list of worker tags: lower-case names, kept sorted
// without repeats.
func tagListSpec(k Key, field func(*Config) *[]string) spec[[]string] {
	s := kindListSpec(k, field)
	s.check = func(v []string, _ string) ([]string, error) {
		out := make([]string, 0, len(v))
		for _, tag := range v {
			if err := checkTag(tag); err != nil {
				return nil, fmt.Errorf("%q: %w", tag, err)
			}
			out = append(out, tag)
		}
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	return s
}

// checkTag accepts what store.ValidTag does.
func checkTag(tag string) error {
	if tag == "" || len(tag) > 64 {
		return errors.New("a tag is 1 to 64 characters")
	}
	for i, c := range []byte(tag) {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return errors.New("a tag is made of a-z, 0-9, '.', '_', '-' and starts with a letter or digit")
		}
	}
	return nil
}

// checkNodeName accepts 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'.
func checkNodeName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("must be 1 to 64 characters")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q is not allowed (use A-Z, a-z, 0-9, '.', '_', '-')", string(c))
		}
	}
	return nil
}

func boolSpec(k Key, field func(*Config) *bool) spec[bool] {
	return spec[bool]{
		k: k,
		parse: func(raw string) (bool, error) {
			b, err := strconv.ParseBool(strings.TrimSpace(raw))
			if err != nil {
				return false, errors.New("not a boolean (use true or false)")
			}
			return b, nil
		},
		decode: func(v any) (bool, error) {
			b, ok := v.(bool)
			if !ok {
				return false, fmt.Errorf("must be true or false, not %s", tomlType(v))
			}
			return b, nil
		},
		field: field,
		text:  strconv.FormatBool,
	}
}

// hostListSpec is a list of host names: a TOML array of strings, or a
// comma-separated environment or flag value.
// CommaList splits a comma-separated list as the list settings read it
// from the environment and flags: items trimmed, empty ones dropped (nil
// when none is left).
func CommaList(raw string) []string {
	var out []string
	for part := range strings.SplitSeq(raw, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func hostListSpec(k Key, field func(*Config) *[]string) spec[[]string] {
	return spec[[]string]{
		k:     k,
		parse: func(raw string) ([]string, error) { return CommaList(raw), nil },
		decode: func(v any) ([]string, error) {
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("must be an array of strings, not %s", tomlType(v))
			}
			out := make([]string, len(list))
			for i, e := range list {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("entry %d must be a string, not %s", i+1, tomlType(e))
				}
				out[i] = s
			}
			return out, nil
		},
		check: func(v []string, _ string) ([]string, error) { return checkHosts(v) },
		field: field,
		text: func(v []string) string {
			quoted := make([]string, len(v))
			for i, h := range v {
				quoted[i] = strconv.Quote(h)
			}
			return "[" + strings.Join(quoted, ", ") + "]"
		},
	}
}

// checkHosts normalises host names (lower case, no trailing dot, IPv6
// without brackets) and rejects anything that is not a bare name or
// address: no scheme, port, path or wildcard.
func checkHosts(v []string) ([]string, error) {
	out := make([]string, 0, len(v))
	for _, raw := range v {
		h, ok := NormalizeHost(raw)
		if !ok {
			return nil, fmt.Errorf("%q is not a host name or IP address (write the bare name, without scheme, port, path or wildcard)", raw)
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func decodeString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("must be a string, not %s", tomlType(v))
	}
	return s, nil
}

func decodeInt(v any) (int, error) {
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("must be an integer, not %s", tomlType(v))
	}
	if n < math.MinInt || n > math.MaxInt {
		return 0, errors.New("integer out of range")
	}
	return int(n), nil
}

func checkBind(v, _ string) (string, error) {
	if v == "" {
		return "", errors.New("must not be empty")
	}
	if v != "localhost" && net.ParseIP(v) == nil {
		return "", errors.New(`must be an IP address (e.g. "127.0.0.1", "::1", "0.0.0.0") or "localhost"`)
	}
	return v, nil
}

const minTokenLen = 16

func checkToken(v, _ string) (string, error) {
	if v != "" && len(v) < minTokenLen {
		return "", fmt.Errorf("must be at least %d characters (got %d)", minTokenLen, len(v))
	}
	// The token travels in an HTTP header, where surrounding spaces are
	// trimmed and control characters are refused: such a token could never
	// match, so it is a configuration error, not a daemon nobody can use.
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return "", fmt.Errorf("must consist of visible ASCII characters (no spaces, control or non-ASCII characters; byte %d is %q)", i+1, v[i])
		}
	}
	return v, nil
}

func checkLevel(v, _ string) (string, error) {
	switch l := strings.ToLower(strings.TrimSpace(v)); l {
	case "debug", "info", "warning", "error":
		return l, nil
	case "warn":
		return "warning", nil
	}
	return "", errors.New("must be one of debug, info, warning, error")
}

func checkFormat(v, _ string) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(v)); f {
	case "text", "json":
		return f, nil
	}
	return "", errors.New("must be one of text, json")
}

func checkPath(v, home string) (string, error) {
	if v == "" {
		return "", errors.New("must not be empty")
	}
	if rest, ok := strings.CutPrefix(v, "~/"); ok {
		if home == "" {
			return "", errors.New(`cannot expand "~/": home directory unknown`)
		}
		return filepath.Join(home, rest), nil
	}
	return v, nil
}

// tomlType names the TOML type of a decoded value for error messages.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%T", v)
	}
}
