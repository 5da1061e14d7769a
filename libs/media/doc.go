// Package media is the typed model of a media file as ffprobe describes
// it: the container (format names, duration, size, bit rate) and, per
// stream, its index, type, codec, language (ISO 639-2/B, "und" when
// missing or unknown), title, channels, picture size and disposition
// flags, with commentary tracks recognised by their disposition or by
// title patterns.
//
// FromFFProbe reads ffprobe's JSON (or vpo's reduced stored form of it);
// NormalizeLanguage maps ISO 639-1, ISO 639-2/T and IETF language tags to
// ISO 639-2/B codes. The package does no I/O — running ffprobe is the
// caller's job — and imports no other libs/ package.
package media
