// moq.dev's web player, @moq/watch (npm-pinned; its own bundled @moq/net 0.2.8), plays a moqsink
// A/V broadcast in Chromium: videotestsrc ! x264enc and audiotestsrc ! opusenc into moqsink with
// the default catalog-format=both, so the player finds catalog.json and the hang-framed tracks.
//   - straight from a listener moqsink (WebTransport) at drafts 14 and 16;
//   - through moqt-relay: moqsink PUBLISHes over raw QUIC at draft 18, the browser watches at 14
//     and 16 (the relay re-encodes per session).
// The page wraps its WebCodecs decoders and counts their output: a case passes when, over a
// window of at least 4 s of media, >= 90 % of the video frames (30 fps) and audio samples
// (48 kHz) sent in it were decoded, with timestamps increasing. The player fetches the
// certificate hash from http://HOST:PORT/certificate.sha256 (@moq/net's development path for
// http:// URLs), which the test serves on the same port number over TCP.
// A screenshot of the playing page is written to $MOQ_WATCH_SHOT if set (not kept otherwise).
//
//   node moq_watch.mjs MOQT_RELAY            (env GST_LAUNCH, GST_PLUGIN_PATH; MOQNET_DEBUG=1)
import fs from 'node:fs';
import http from 'node:http';
import { startHarness } from './moqnet_harness.mjs';

const relayBin = process.argv[2];
const GST_LAUNCH = process.env.GST_LAUNCH;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const h = await startHarness('moq_watch', {
  deadlineMs: 110_000, page: 'watch_page.js', ready: 'startWatch',
  chromiumArgs: ['--autoplay-policy=no-user-gesture-required'],
});

// The certificate hash over plain HTTP on `port` (TCP), as @moq/watch asks for it.
async function serveFingerprint(port, sha256) {
  const srv = http.createServer((req, res) => {
    res.writeHead(req.url === '/certificate.sha256' ? 200 : 404, { 'access-control-allow-origin': '*' });
    res.end(req.url === '/certificate.sha256' ? sha256 : '');
  });
  await new Promise((resolve, reject) => { srv.once('error', reject); srv.listen(port, '127.0.0.1', resolve); });
  return srv;
}

const av = (sink) => ['videotestsrc', 'is-live=true', '!', 'video/x-raw,width=320,height=240,framerate=30/1', '!',
  'x264enc', 'tune=zerolatency', 'key-int-max=30', 'speed-preset=ultrafast', '!',
  'video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline', '!', 'moqsink', 'name=s', sink,
  'audiotestsrc', 'is-live=true', '!', 'audioconvert', '!', 'audio/x-raw,rate=48000,channels=2', '!', 'opusenc', '!', 's.'];

// Watches for `seconds`, then judges what the decoders produced.
async function watch(name, url, draft, seconds, extra) {
  await h.openPage();
  await h.evaluate((p) => window.startWatch(p), { url, name: 'live/cam', draft }, 10_000);
  await sleep(seconds * 1000);
  const c = await h.evaluate(() => window.watchCounts(), null, 10_000);
  if (process.env.MOQ_WATCH_SHOT) await h.page().screenshot({ path: process.env.MOQ_WATCH_SHOT });
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
  h.report(name, problems,
    `video ${c.video} frames over ${vSpan.toFixed(2)} s (${(100 * c.video / Math.max(1, vWant)).toFixed(1)} %), ` +
    `audio ${c.audio} buffers / ${c.audioFrames} samples over ${aSpan.toFixed(2)} s ` +
    `(${(100 * c.audioFrames / Math.max(1, aWant)).toFixed(1)} %)${extra ? `; ${extra}` : ''}`);
  return problems.length === 0;
}

async function direct(draft) {
  const name = `@moq/watch draft-${draft} <- listener moqsink (WebTransport)`;
  const g = h.startGst(GST_LAUNCH, av(`uri=https://127.0.0.1:0/live/cam?mode=listener&draft=${draft}`));
  let fp;
  try {
    const { port, sha256 } = await g.ready;
    fp = await serveFingerprint(port, sha256);
    await watch(name, `http://127.0.0.1:${port}/`, draft, 7);
  } catch (e) {
    h.report(name, [String(e.message || e)], '');
  } finally {
    if (fp) fp.close();
    await h.stopGst(g);
  }
}

async function throughRelay(draft) {
  const name = `@moq/watch draft-${draft} <- moqt-relay <- moqsink draft-18 (raw QUIC, PUBLISH)`;
  const relay = h.startListener(relayBin, ['--listen', '127.0.0.1:0', '--hold-ms', '10000', '--linger-ms', '500',
                                           '--drain-ms', '300', '--idle-timeout-ms', '5000'], 'relay');
  let g, fp;
  try {
    const { port, sha256 } = await relay.ready;
    g = h.startGst(GST_LAUNCH, av(`uri=moqt://127.0.0.1:${port}/live/cam?tls-pin=${sha256}&draft=18`), { listening: false });
    fp = await serveFingerprint(port, sha256);
    await sleep(500);
    await watch(name, `http://127.0.0.1:${port}/`, draft, 7);
  } catch (e) {
    h.report(name, [String(e.message || e)], relay.stderr.slice(-800));
  } finally {
    if (fp) fp.close();
    if (g) await h.stopGst(g);
    await h.stopChild(relay, 'SIGTERM', 3000);
  }
}

const version = JSON.parse(fs.readFileSync(new URL('./node_modules/@moq/watch/package.json', import.meta.url))).version;
console.log(`moq_watch: chromium ${h.browser.version()}, @moq/watch ${version}`);
if (!GST_LAUNCH) {
  h.gap('moq_watch', 'gst-launch-1.0 or the plugin not available');
} else {
  for (const d of [14, 16]) await direct(d);
  if (relayBin) for (const d of [14, 16]) await throughRelay(d);
}
await h.finish();
