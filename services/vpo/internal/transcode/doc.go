// Package transcode holds what vpo needs to re-encode with ffmpeg:
//
//   - Args builds ffmpeg's arguments for a transcode (pure): copied tracks
//     are copied, encoded ones get their encoder and settings. Video
//     encoders: libx265, libx264, libsvtav1 or else libaom-av1 in software;
//     hevc/h264/av1 _vaapi, _nvenc and _qsv in hardware. CRF is -crf in
//     software, -qp (vaapi), -cq (nvenc, with -b:v 0) or -global_quality
//     (qsv); x264/x265 preset names are mapped to SVT-AV1's numbers,
//     libaom's -cpu-used, nvenc's p1..p7 and qsv's names; -tune is passed to
//     x264/x265 only. Scaling is done in software (scale=W:H:flags=ALGO)
//     before any upload to the GPU: simple and right with every driver.
//     Pixel formats: 4:2:0 always; H.264 8-bit (10-bit H.264 plays almost
//     nowhere); HEVC and AV1 keep a 10-bit source 10-bit in software and
//     nvenc (format=yuv420p|yuv420p10le lets ffmpeg pick the one closest to
//     the source); vaapi and qsv upload nv12 (8-bit). MP4 output gets no
//     -movflags +faststart: it rewrites the whole file once more after the
//     encode (twice the writes, and the room for a second copy), for the
//     sake of streaming over HTTP, which a library on disk does not need;
//     HEVC in MP4 is tagged hvc1 for Apple's players.
//   - Prober decides the hardware method (hw: auto/none/vaapi/nvenc/qsv)
//     from device nodes, ffmpeg's encoder list and a one-frame trial
//     encode, once per process and ffmpeg path.
//   - ReadProgress reads ffmpeg's -progress output, which turns the
//     key=value blocks ffmpeg writes to a pipe into a job's progress:
//     percent done, a readable message and the time left.
package transcode
