// Real interop with @moq/net (the moq-dev JavaScript library) in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core), against our moqt-clock, over WebTransport with
// a pinned certificate hash, at drafts 14, 16 and 18:
//   sub: `moqt-clock publish --listen` publishes the clock; the browser subscribes and checks
//        every payload (object 0 "YYYY-MM-DD HH:MM:", object k "k-1" zero-padded).
//   pub: `moqt-clock subscribe --listen` waits; the browser connects, announces its namespace
//        (PUBLISH_NAMESPACE; @moq/net cannot PUBLISH) and serves our SUBSCRIBE; the CLI must
//        print exactly the lines the browser wrote.
// The draft is forced through @moq/net's connect options: webtransport protocols ["moqt-16"],
// ["moqt-18"], or [] for draft-14 (CLIENT_SETUP offering 0xff00000e). See docs/interop.md.
//
// With GST_LAUNCH (gst-launch-1.0) and GST_PLUGIN_PATH (our plugin) set, also the GStreamer
// elements, each as a real gst-launch pipeline:
//   watch:  moqsink (listener, x264) -> the browser subscribes to its catalog and video track;
//   ingest: the browser publishes -> moqsrc (listener) ! filesink, compared byte for byte.
//
// Usage: node moqnet_interop.mjs PATH/TO/moqt-clock [DRAFT...]
import fs from 'node:fs';
import path from 'node:path';
import { moqnetVersion, pad2, protocolsFor, startHarness } from './moqnet_harness.mjs';

const clockBin = process.argv[2];
const drafts = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [14, 16, 18];
const h = await startHarness('moqnet_interop', { deadlineMs: 270_000 });
const { openPage, evaluate, report, waitExit } = h;

// A moqt-clock listener: `ready` resolves once it printed {"listening":..,"port":..,"sha256":..}.
const startClock = (args) => h.startListener(clockBin, args, 'clock');
const stopClock = (clock) => h.stopChild(clock, 'SIGTERM', 3000);
const engineErrors = (clock) => clock.stderr.split('\n').filter((l) => l.includes('moqt session ('));

// 3a. The browser subscribes to our clock.
async function browserSubscribes(draft) {
  const name = `draft-${draft} browser subscribes to moqt-clock publish`;
  const want = 25;
  await openPage();
  const clock = startClock(['publish', '--listen', '127.0.0.1:0', '--draft', String(draft),
                            '--interval-ms', '10', '--timeout', '60']);
  const problems = [];
  let res;
  try {
    const info = await clock.ready;
    res = await evaluate((p) => window.moqSub(p), {
      url: `https://127.0.0.1:${info.port}/moq`, hash: info.sha256, protocols: protocolsFor(draft),
      ns: 'clock', track: 'now', want, timeoutMs: 15_000,
    }, 30_000);
  } catch (e) {
    problems.push(e.message);
  }
  await stopClock(clock);
  if (res) {
    if (!res.ok) problems.push(`page: ${res.log.join(' | ')}`);
    if (res.version !== `moq-transport-${draft}`) problems.push(`negotiated ${res.version}`);
    if (res.objects.length < want) problems.push(`only ${res.objects.length} of ${want} objects`);
    for (const o of res.objects) {
      const expected = o.index === 0 ? /^\d{4}-\d\d-\d\d \d\d:\d\d:$/ : new RegExp(`^${pad2(o.index - 1)}$`);
      if (!expected.test(o.text)) {
        problems.push(`group ${o.group} object ${o.index}: payload '${o.text}' (want ${expected})`);
        break;
      }
    }
    const groups = [...new Set(res.objects.map((o) => o.group))];
    if (groups.some((g, i) => i > 0 && g !== groups[i - 1] + 1)) problems.push(`groups not consecutive: ${groups}`);
    for (const l of res.log) console.log(`  page: ${l}`);
  }
  for (const l of engineErrors(clock)) problems.push(`engine: ${l}`);
  report(name, problems, res && `${res.version}, ${res.objects.length} objects in groups ` +
    `${[...new Set(res.objects.map((o) => o.group))].join(',')}, first '${res.objects[0]?.text}'`);
  if (problems.length) console.log(`  moqt-clock stderr:\n${clock.stderr.replace(/^/gm, '    ')}`);
}

// 3b. The browser publishes; our CLI subscribes.
async function browserPublishes(draft) {
  const name = `draft-${draft} browser publishes to moqt-clock subscribe`;
  const groups = 3, perGroup = 5;
  const count = groups * (perGroup + 1);
  await openPage();
  const clock = startClock(['subscribe', '--listen', '127.0.0.1:0', '--draft', String(draft),
                            '--count', String(count), '--timeout', '30']);
  const problems = [];
  let res;
  try {
    const info = await clock.ready;
    const pub = evaluate((p) => window.moqPub(p), {
      url: `https://127.0.0.1:${info.port}/moq`, hash: info.sha256, protocols: protocolsFor(draft),
      ns: 'clock', track: 'now', groups, perGroup, label: `d${draft}`, timeoutMs: 10_000,
    }, 30_000);
    pub.catch(() => {});  // awaited below
    const code = await Promise.race([waitExit(clock, 30_000), h.crashed().then((why) => ({ why }))]);
    if (code && code.why) problems.push(code.why);
    else if (code !== 0) problems.push(`moqt-clock subscribe exited with ${code}`);
    res = await pub;
  } catch (e) {
    problems.push(e.message);
  }
  await stopClock(clock);
  const expected = [];
  for (let g = 0; g < groups; ++g)
    for (let i = 0; i < perGroup; ++i) expected.push(`d${draft}-g${g}:${pad2(i)}`);
  const got = clock.lines;
  if (JSON.stringify(got) !== JSON.stringify(expected))
    problems.push(`moqt-clock printed ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
  if (res) {
    if (!res.ok) problems.push(`page: ${res.log.join(' | ')}`);
    if (res.version !== `moq-transport-${draft}`) problems.push(`negotiated ${res.version}`);
    for (const l of res.log) console.log(`  page: ${l}`);
  }
  for (const l of engineErrors(clock)) problems.push(`engine: ${l}`);
  report(name, problems, `${res && res.version}, moqt-clock printed ${got.length} lines ('${got[0]}' .. '${got[got.length - 1]}')`);
  if (problems.length) console.log(`  moqt-clock stderr:\n${clock.stderr.replace(/^/gm, '    ')}`);
}

// --- GStreamer elements (gst-launch-1.0 -m) -------------------------------------------------

const GST_LAUNCH = process.env.GST_LAUNCH;
// A gst-launch pipeline with our plugin; `ready` resolves once moqsink/moqsrc posted its
// "listening" element message (gst-launch -m prints it): {port, sha256}.
const startGst = (args) => h.startGst(GST_LAUNCH, args);
const { stopGst, gstErrors } = h;

// The browser watches a moqsink broadcast: the catalog lists the video track with its codec, and
// the video objects are H.264 access units, whole groups from object 0.
async function browserWatchesMoqsink(draft) {
  const name = `draft-${draft} browser watches a moqsink broadcast`;
  await openPage();
  const g = startGst(['videotestsrc', 'is-live=true', '!', 'video/x-raw,format=I420,width=320,height=240,framerate=30/1', '!',
    'x264enc', 'tune=zerolatency', 'key-int-max=15', 'speed-preset=ultrafast', '!',
    'video/x-h264,stream-format=byte-stream,alignment=au', '!',
    'moqsink', `uri=https://127.0.0.1:0/cam?mode=listener&draft=${draft}`]);
  const problems = [];
  let cat, vid;
  try {
    const info = await g.ready;
    const common = { url: `https://127.0.0.1:${info.port}/cam`, hash: info.sha256, protocols: protocolsFor(draft), ns: 'cam' };
    cat = await evaluate((p) => window.moqSub(p), { ...common, track: 'catalog', want: 1, timeoutMs: 8000 }, 20_000);
    vid = await evaluate((p) => window.moqSub(p), { ...common, track: 'video', want: 40, timeoutMs: 10_000, binary: true }, 20_000);
  } catch (e) {
    problems.push(e.message);
  }
  await stopGst(g);
  let codec;
  if (cat) {
    if (!cat.ok) problems.push(`catalog: ${cat.log.join(' | ')}`);
    if (cat.version !== `moq-transport-${draft}`) problems.push(`negotiated ${cat.version}`);
    try {
      const json = JSON.parse(cat.objects[0].text);
      const v = (json.tracks || []).find((t) => t.name === 'video');
      codec = v && v.codec;
      if (!codec || !codec.startsWith('avc1.')) problems.push(`catalog video codec '${codec}': ${cat.objects[0].text}`);
    } catch (e) {
      problems.push(`catalog is not JSON: ${e.message}`);
    }
  }
  if (vid) {
    if (!vid.ok) problems.push(`video: ${vid.log.join(' | ')}`);
    if (vid.objects.length < 40) problems.push(`only ${vid.objects.length} video objects`);
    const bad = vid.objects.find((o) => !/^(00000001|000001)/.test(o.head));
    if (bad) problems.push(`group ${bad.group} object ${bad.index} is not an Annex B access unit: ${bad.head}`);
    if (vid.objects.length && vid.objects[0].index !== 0) problems.push('the first group did not start at object 0');
    const groups = [...new Set(vid.objects.map((o) => o.group))];
    if (groups.some((x, i) => i > 0 && x !== groups[i - 1] + 1)) problems.push(`groups not consecutive: ${groups}`);
  }
  for (const l of gstErrors(g)) problems.push(`gst: ${l}`);
  report(name, problems, vid && `catalog codec ${codec}; ${vid.objects.length} video objects in groups ` +
    `${[...new Set(vid.objects.map((o) => o.group))].join(',')}, ${vid.objects.reduce((n, o) => n + o.size, 0)} bytes`);
  if (problems.length) console.log(`  gst-launch output:\n${(g.out + g.stderr).slice(-3000).replace(/^/gm, '    ')}`);
}

// The browser publishes (PUBLISH_NAMESPACE, then serves our SUBSCRIBE); moqsrc in listener mode
// subscribes when the namespace is announced and writes what it receives to a file.
async function browserPublishesToMoqsrc(draft) {
  const name = `draft-${draft} moqsrc receives what the browser publishes`;
  const groups = 3, perGroup = 5;
  await openPage();
  const out = path.join(h.tmp, `moqsrc-${draft}.bin`);
  const g = startGst(['-e', 'moqsrc', `uri=https://127.0.0.1:0/clock?mode=listener&draft=${draft}`, 'track=now',
    'caps=application/x-moq-test', '!', 'filesink', `location=${out}`]);
  const problems = [];
  let res;
  try {
    const info = await g.ready;
    res = await evaluate((p) => window.moqPub(p), {
      url: `https://127.0.0.1:${info.port}/clock`, hash: info.sha256, protocols: protocolsFor(draft),
      ns: 'clock', track: 'now', groups, perGroup, label: `d${draft}`, timeoutMs: 3000,
    }, 30_000);
  } catch (e) {
    problems.push(e.message);
  }
  await stopGst(g);
  let expected = '';
  for (let i = 0; i < groups; ++i) {
    expected += `d${draft}-g${i}:`;
    for (let k = 0; k < perGroup; ++k) expected += pad2(k);
  }
  const got = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '(no file)';
  if (got !== expected) problems.push(`filesink got '${got}', want '${expected}'`);
  if (res) {
    if (!res.ok) problems.push(`page: ${res.log.join(' | ')}`);
    if (res.version !== `moq-transport-${draft}`) problems.push(`negotiated ${res.version}`);
  }
  for (const l of gstErrors(g)) problems.push(`gst: ${l}`);
  report(name, problems, `${res && res.version}, ${got.length} bytes, as written`);
  if (problems.length) console.log(`  gst-launch output:\n${(g.out + g.stderr).slice(-3000).replace(/^/gm, '    ')}`);
}

console.log(`moqnet_interop: chromium ${h.browser.version()}, @moq/net ${moqnetVersion()}, drafts ${drafts.join(', ')}`);
for (const d of drafts) {
  await browserSubscribes(d);
  await browserPublishes(d);
  if (GST_LAUNCH) {
    await browserWatchesMoqsink(d);
    await browserPublishesToMoqsrc(d);
  }
}
await h.finish();
