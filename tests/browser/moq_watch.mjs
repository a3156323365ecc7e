// moq.dev's web player, @moq/watch (npm-pinned; its own bundled @moq/net 0.2.8), plays a moqsink
// A/V broadcast in Chromium: videotestsrc ! x264enc and audiotestsrc ! opusenc into moqsink with
// the default catalog-format=both, so the player finds catalog.json and the hang-framed tracks.
//   - straight from a listener moqsink (WebTransport) at drafts 14 and 16;
//   - through moqt-relay: moqsink PUBLISHes over raw QUIC at draft 18, the browser watches at 14
//     and 16 (the relay re-encodes per session).
// And the other way, @moq/publish (Chromium's fake camera and microphone; H.264 + Opus, hang) at
// draft 16 into a listener moqsrc, and through moqt-relay into a caller moqsrc at 18: moqsrc finds
// catalog.json by itself, GStreamer decodes with PTS from the hang timestamps, >= 90 % of what the
// browser encoded over the window received. (@moq/publish at 14 sends an empty-prefix
// SUBSCRIBE_NAMESPACE, a protocol violation our server closes on: reported as a known gap.)
// The page wraps its WebCodecs decoders and counts their output (judged by watch_common.mjs: >= 90 %
// of the frames and samples sent over >= 4 s decoded, timestamps increasing). The player fetches the
// certificate hash from http://HOST:PORT/certificate.sha256 (@moq/net's development path for
// http:// URLs), which the test serves on the same port number over TCP.
// A screenshot of the playing page is written to $MOQ_WATCH_SHOT if set (not kept otherwise).
//
//   node moq_watch.mjs MOQT_RELAY   (env GST_LAUNCH, GST_PLUGIN_PATH; MOQNET_DEBUG=1; ONLY_PUBLISH=1)
import fs from 'node:fs';
import http from 'node:http';
import { startHarness } from './moqnet_harness.mjs';
import { av, judgeWatch, WATCH_LATENCY_MS } from './watch_common.mjs';

const relayBin = process.argv[2];
const GST_LAUNCH = process.env.GST_LAUNCH;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const h = await startHarness('moq_watch', {
  deadlineMs: 140_000, page: 'watch_page.js', ready: 'startWatch',
  chromiumArgs: ['--autoplay-policy=no-user-gesture-required', '--use-fake-device-for-media-stream',
                 '--use-fake-ui-for-media-stream'],
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

// A moqt-relay of the case's own: held requests wait for their publisher, short linger and drain.
const startRelay = () => h.startListener(relayBin, ['--listen', '127.0.0.1:0', '--hold-ms', '10000', '--linger-ms', '500',
                                                    '--drain-ms', '300', '--idle-timeout-ms', '5000'], 'relay');


// Watches for `seconds`, then judges what the decoders produced.
async function watch(name, url, draft, seconds, extra) {
  await h.openPage();
  await h.evaluate((p) => window.startWatch(p), { url, name: 'live/cam', draft, latency: WATCH_LATENCY_MS }, 10_000);
  await sleep(seconds * 1000);
  const c = await h.evaluate(() => window.watchCounts(), null, 10_000);
  if (process.env.MOQ_WATCH_SHOT) await h.page().screenshot({ path: process.env.MOQ_WATCH_SHOT });
  const { problems, details } = judgeWatch(c);
  h.report(name, problems, `${details}${extra ? `; ${extra}` : ''}`);
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
  const relay = startRelay();
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

// GStreamer's side of a publish case: moqsrc's hang pads decoded into two fakesinks whose
// per-buffer "last-message" lines (gst-launch -v) give the decoded count and the PTS.
const receive = (uri) => ['-v', 'moqsrc', 'name=r', `uri=${uri}`,
  'r.src_video_hd', '!', 'queue', '!', 'h264parse', '!', 'avdec_h264', '!', 'fakesink', 'name=vs', 'sync=false', 'silent=false',
  'r.src_audio_data', '!', 'queue', '!', 'opusdec', '!', 'fakesink', 'name=as', 'sync=false', 'silent=false'];
function decoded(out, sink) {
  const pts = [];
  let last = '';
  for (const line of out.split('\n')) {
    const m = new RegExp(`\\(${sink}:sink\\) \\(\\d+ bytes, dts: [^,]*, pts: (\\d+):(\\d+):(\\d+\\.\\d+)`).exec(line);
    if (!m) continue;
    // gst-launch can print one buffer's deep-notify twice: the same line (same buffer address).
    if (line === last) continue;
    last = line;
    pts.push(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]));
  }
  return pts;
}
// Judges a publish case: the browser's encoder output against GStreamer's decoded buffers.
async function judgePublish(name, g, extra) {
  await sleep(10_000);
  const c = await h.evaluate(() => window.watchCounts(), null, 10_000);
  await h.stopGst(g);
  const problems = [];
  const rate = (ts) => (ts.length > 1 ? (ts.length - 1) / ((ts[ts.length - 1] - ts[0]) / 1e6) : 0);  // per s
  const vPts = decoded(g.out, 'vs'), aPts = decoded(g.out, 'as');
  const span = (a) => (a.length > 1 ? a[a.length - 1] - a[0] : 0);
  const vWant = rate(c.encodedVideo) * span(vPts) + 1, aWant = rate(c.encodedAudio) * span(aPts) + 1;
  if (span(vPts) < 4) problems.push(`only ${span(vPts).toFixed(2)} s of video decoded by GStreamer (${vPts.length} frames)`);
  if (span(aPts) < 4) problems.push(`only ${span(aPts).toFixed(2)} s of audio decoded by GStreamer (${aPts.length} buffers)`);
  if (vPts.length < 0.9 * vWant) problems.push(`${vPts.length} of ${Math.round(vWant)} video frames decoded`);
  if (aPts.length < 0.9 * aWant) problems.push(`${aPts.length} of ${Math.round(aWant)} audio frames decoded`);
  for (const [kind, a] of [['video', vPts], ['audio', aPts]]) {
    const i = a.findIndex((v, k) => k > 0 && v <= a[k - 1]);
    if (i > 0) problems.push(`${kind} PTS not increasing at buffer ${i}: ${a[i - 1]} then ${a[i]} s`);
  }
  const errors = h.gstErrors(g).filter((l) => !/Internal data stream error|not-linked/.test(l) || vPts.length === 0);
  if (errors.length) problems.push(`gst: ${errors.slice(0, 2).join(' | ')}`);
  h.report(name, problems,
    `browser encoded ${c.encodedVideo.length} video (${rate(c.encodedVideo).toFixed(1)}/s) and ${c.encodedAudio.length} audio ` +
    `frames; GStreamer decoded ${vPts.length} video over ${span(vPts).toFixed(2)} s ` +
    `(${(100 * vPts.length / vWant).toFixed(1)} %) and ${aPts.length} audio over ${span(aPts).toFixed(2)} s ` +
    `(${(100 * aPts.length / aWant).toFixed(1)} %)${extra ? `; ${extra}` : ''}`);
}

async function publishToListener(draft) {
  const name = `@moq/publish draft-${draft} -> listener moqsrc (WebTransport)`;
  const g = h.startGst(GST_LAUNCH, receive(`https://127.0.0.1:0/ingest/cam.hang?mode=listener&draft=${draft}`));
  let fp;
  try {
    const { port, sha256 } = await g.ready;
    fp = await serveFingerprint(port, sha256);
    await h.openPage();
    await h.evaluate((p) => window.startPublish(p), { url: `http://127.0.0.1:${port}/`, name: 'ingest/cam.hang', draft }, 10_000);
    await judgePublish(name, g);
  } catch (e) {
    h.report(name, [String(e.message || e)], '');
  } finally {
    if (fp) fp.close();
    await h.stopGst(g);
  }
}

async function publishThroughRelay(draft) {
  const name = `@moq/publish draft-${draft} -> moqt-relay -> moqsrc draft-18 (raw QUIC)`;
  const relay = startRelay();
  let g, fp;
  try {
    const { port, sha256 } = await relay.ready;
    fp = await serveFingerprint(port, sha256);
    await h.openPage();
    await h.evaluate((p) => window.startPublish(p), { url: `http://127.0.0.1:${port}/`, name: 'ingest/cam.hang', draft }, 10_000);
    await sleep(1500);  // announced at the relay before moqsrc asks
    g = h.startGst(GST_LAUNCH, receive(`moqt://127.0.0.1:${port}/ingest/cam.hang?tls-pin=${sha256}&draft=18`), { listening: false });
    await judgePublish(name, g);
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
  if (!process.env.ONLY_PUBLISH) for (const d of [14, 16]) await direct(d);
  if (relayBin && !process.env.ONLY_PUBLISH) for (const d of [14, 16]) await throughRelay(d);
  await publishToListener(16);
  if (relayBin) await publishThroughRelay(16);
  h.gap('@moq/publish draft-14', 'its SUBSCRIBE_NAMESPACE has an empty namespace prefix, a protocol violation the draft ' +
        'makes us close on (docs/interop.md)');
}
await h.finish();
