// What the @moq/watch tests (moq_watch.mjs, relay_page.mjs) share.

// gst-launch arguments: a 320x240 30 fps x264 + 48 kHz stereo Opus broadcast into moqsink (`sink`:
// its properties), with the default catalog-format=both.
export const av = (sink) => ['videotestsrc', 'is-live=true', '!', 'video/x-raw,width=320,height=240,framerate=30/1', '!',
  'x264enc', 'tune=zerolatency', 'key-int-max=30', 'speed-preset=ultrafast', '!',
  'video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline', '!', 'moqsink', 'name=s', sink,
  'audiotestsrc', 'is-live=true', '!', 'audioconvert', '!', 'audio/x-raw,rate=48000,channels=2', '!', 'opusenc', '!', 's.'];

// The player's latency target for the judged cases, in ms. Its default, "real-time" (about the
// round trip), skips the rest of a group that falls behind: one CPU stall of a few hundred ms on
// a loaded two-core machine then costs a whole GOP (seen once in CI: 87 % decoded, the player
// logging "26 late frame(s), max 823ms behind"). That is the player's choice, not lost data, so
// the cases give it a second of slack; delivery latency is measured elsewhere (moq-latency).
export const WATCH_LATENCY_MS = 1000;

// How a watch case is judged from what the page's wrapped decoders counted (watch_decoders.js):
// over a window of at least 4 s of media, >= 90 % of the video frames (30 fps) and audio samples
// (48 kHz) sent in it decoded, timestamps increasing, no decoder error.
export function judgeWatch(c) {
  const problems = [];
  const increasing = (a) => a.every((v, i) => i === 0 || v > a[i - 1]);
  const span = (a) => (a.length > 1 ? (a[a.length - 1] - a[0]) / 1e6 : 0);  // µs -> s
  const vSpan = span(c.vts), aSpan = span(c.ats);
  const vWant = Math.round(vSpan * 30) + 1;
  const aWant = Math.round(aSpan * 48000) + (c.audio ? c.audioFrames / c.audio : 0);
  if (c.errors.length) problems.push(`decoder errors: ${c.errors.slice(0, 3).join(' | ')}`);
  if (vSpan < 4) problems.push(`only ${vSpan.toFixed(2)} s of video decoded (${c.video} frames)`);
  if (aSpan < 4) problems.push(`only ${aSpan.toFixed(2)} s of audio decoded (${c.audio} buffers)`);
  if (c.video < 0.9 * vWant) problems.push(`${c.video} of ${vWant} video frames decoded`);
  if (c.audioFrames < 0.9 * aWant) problems.push(`${c.audioFrames} of ${Math.round(aWant)} audio samples decoded`);
  if (!increasing(c.vts)) problems.push('video timestamps not increasing');
  if (!increasing(c.ats)) problems.push('audio timestamps not increasing');
  const details =
    `video ${c.video} frames over ${vSpan.toFixed(2)} s (${(100 * c.video / Math.max(1, vWant)).toFixed(1)} %), ` +
    `audio ${c.audio} buffers / ${c.audioFrames} samples over ${aSpan.toFixed(2)} s ` +
    `(${(100 * c.audioFrames / Math.max(1, aWant)).toFixed(1)} %)` +
    (c.vts.length && c.ats.length ? `, first audio - first video timestamp ${((c.ats[0] - c.vts[0]) / 1000).toFixed(0)} ms` : '');
  return { problems, details };
}
