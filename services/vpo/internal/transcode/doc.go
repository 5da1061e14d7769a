// Package transcode runs the transcode phases of VPO policies with ffmpeg.
// So far it holds the reader of ffmpeg's -progress output, which turns
// the key=value blocks ffmpeg writes to a pipe into a job's progress:
// percent done, a readable message and the time left.
package transcode
