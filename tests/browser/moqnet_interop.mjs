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
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const clockBin = process.argv[2];
const drafts = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [14, 16, 18];
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const children = new Set();
let browser, pageServer, tmp;

const deadline = setTimeout(() => abort('timed out after 270 s'), 270_000);

async function cleanup() {
  clearTimeout(deadline);
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch {}
  }
  try { if (browser) await browser.close(); } catch {}
  try { if (pageServer) pageServer.close(); } catch {}
  try { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); } catch {}
}
function abort(msg) {
  console.error(`moqnet_interop: FAIL: ${msg}`);
  cleanup().finally(() => process.exit(1));
}
process.on('SIGINT', () => abort('interrupted'));
process.on('SIGTERM', () => abort('terminated'));
process.on('uncaughtException', (e) => abort(`uncaught: ${e.stack || e}`));
process.on('unhandledRejection', (e) => abort(`unhandled: ${e && e.stack || e}`));

// A moqt-clock listener: resolves once it printed {"listening":..,"port":..,"sha256":..}.
// A child process killed at cleanup: {proc, stderr, code, exited}; stderr is kept (and shown
// live with MOQNET_DEBUG, tagged).
function spawnChild(bin, args, tag) {
  const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(p);
  const c = { proc: p, stderr: '', code: undefined };
  c.exited = new Promise((resolve) => p.on('exit', (code, signal) => {
    children.delete(p);
    c.code = code ?? signal;
    resolve(c.code);
  }));
  p.stderr.on('data', (d) => {
    c.stderr += d;
    if (process.env.MOQNET_DEBUG) process.stdout.write(`${(performance.now() / 1000).toFixed(3)} [${tag}] ${d}`);
  });
  return c;
}
async function waitExit(c, ms) {
  return Promise.race([c.exited, new Promise((r) => setTimeout(() => r('timeout'), ms))]);
}
// Asks a child to stop with `signal`, then kills it if it does not exit within `ms`.
async function stopChild(c, signal, ms) {
  if (c.code !== undefined) return;
  c.proc.kill(signal);
  if ((await waitExit(c, ms)) === 'timeout') {
    c.proc.kill('SIGKILL');
    await waitExit(c, 3000);
  }
}

function startClock(args) {
  const clock = spawnChild(clockBin, args, 'clock');
  const p = clock.proc;
  clock.lines = [];
  const rl = readline.createInterface({ input: p.stdout });
  clock.ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no listening line within 10 s')), 10_000);
    rl.on('line', (l) => {
      if (!clock.info && l.startsWith('{')) {
        clock.info = JSON.parse(l);
        clearTimeout(timer);
        resolve(clock.info);
      } else {
        clock.lines.push(l);
      }
    });
    clock.exited.then((c) => { clearTimeout(timer); reject(new Error(`moqt-clock exited (${c}): ${clock.stderr}`)); });
  });
  return clock;
}
const stopClock = (clock) => stopChild(clock, 'SIGTERM', 3000);
const engineErrors = (clock) => clock.stderr.split('\n').filter((l) => l.includes('moqt session ('));
const protocolsFor = (d) => (d === 14 ? [] : [`moqt-${d}`]);
const pad2 = (n) => String(n).padStart(2, '0');

// 1. Bundle the page script into a temporary directory and serve it from http://127.0.0.1
//    (a secure context for WebTransport).
tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moqnet-interop-'));
try {
  await esbuild.build({
    entryPoints: [path.join(here, 'moqnet_page.js')],
    bundle: true,
    format: 'iife',
    target: 'es2022',
    outfile: path.join(tmp, 'bundle.js'),
    logLevel: 'warning',
  });
} catch (e) {
  abort(`esbuild: ${e.message}`);
}
fs.writeFileSync(path.join(tmp, 'index.html'),
  '<!doctype html><meta charset=utf-8><title>moq-net interop</title><script src="bundle.js"></script>');
pageServer = http.createServer((req, res) => {
  const file = req.url === '/bundle.js' ? 'bundle.js' : 'index.html';
  res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' });
  res.end(fs.readFileSync(path.join(tmp, file)));
});
await new Promise((r) => pageServer.listen(0, '127.0.0.1', r));

// 2. Chromium with the flags of interop.md (no --disable-quic).
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
} catch (e) {
  abort(`cannot start ${CHROMIUM}: ${e.message}`);
}
// A fresh page per test, so one test's leftovers (or a renderer crash) cannot affect the next.
const pageUrl = `http://127.0.0.1:${pageServer.address().port}/`;
const pageLog = [];
const debug = !!process.env.MOQNET_DEBUG;  // print the page console and moqt-clock stderr live
let page, pageCrashed;
async function openPage() {
  if (page) await page.close().catch(() => {});
  page = await browser.newPage();
  // A renderer crash leaves a pending page.evaluate() unsettled: fail the running test at once.
  pageCrashed = new Promise((resolve) => page.on('crash', () => resolve('the Chromium renderer crashed')));
  page.on('console', (m) => {
    const l = `[page ${m.type()}] ${m.text()}`;
    pageLog.push(l);
    if (debug) console.log(`${(performance.now() / 1000).toFixed(3)} ${l}`);
  });
  await page.goto(pageUrl);
  await page.waitForFunction(() => typeof window.moqSub === 'function', null, { timeout: 10_000 });
}
function evaluate(fn, arg, ms) {
  let timer;
  return Promise.race([
    page.evaluate(fn, arg),
    pageCrashed.then((why) => { throw new Error(why); }),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`page did not answer within ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

const results = [];
function report(name, problems, details) {
  results.push({ name, ok: problems.length === 0 });
  if (problems.length === 0) {
    console.log(`PASS ${name}: ${details}`);
  } else {
    console.log(`FAIL ${name}: ${problems.join('; ')}`);
  }
}

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
    const code = await Promise.race([waitExit(clock, 30_000), pageCrashed.then((why) => ({ why }))]);
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
// A gst-launch pipeline with our plugin; resolves once moqsink/moqsrc posted its "listening"
// element message (gst-launch -m prints it): {port, sha256}.
function startGst(args) {
  const g = spawnChild(GST_LAUNCH, ['-m', ...args], 'gst');
  const p = g.proc;
  g.out = '';
  g.ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening message within 15 s: ${g.out.slice(-500)}`)), 15_000);
    p.stdout.on('data', (d) => {
      g.out += d;
      const m = /event=\(string\)listening, detail=\(string\)"?[^"]*?:(\d+)\\? sha256\\?=([0-9a-f]{64})/.exec(g.out);
      if (m && !g.info) {
        clearTimeout(timer);
        g.info = { port: Number(m[1]), sha256: m[2] };
        resolve(g.info);
      }
    });
    g.exited.then((c) => { clearTimeout(timer); reject(new Error(`gst-launch exited (${c}): ${g.stderr}${g.out.slice(-500)}`)); });
  });
  return g;
}
// -e: SIGINT sends EOS first, so sinks finish their files.
const stopGst = (g) => stopChild(g, 'SIGINT', 5000);
const gstErrors = (g) => (g.out + g.stderr).split('\n').filter((l) => /ERROR|moqt session \(/.test(l));

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
  const out = path.join(tmp, `moqsrc-${draft}.bin`);
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

console.log(`moqnet_interop: chromium ${browser.version()}, @moq/net ${JSON.parse(fs.readFileSync(
  path.join(here, 'node_modules/@moq/net/package.json'), 'utf8')).version}, drafts ${drafts.join(', ')}`);
for (const d of drafts) {
  await browserSubscribes(d);
  await browserPublishes(d);
  if (GST_LAUNCH) {
    await browserWatchesMoqsink(d);
    await browserPublishesToMoqsrc(d);
  }
}
const failed = results.filter((r) => !r.ok).length;
if (failed) for (const l of pageLog.slice(-60)) console.log(l);
console.log(`moqnet_interop: ${results.length - failed} passed, ${failed} failed`);
await cleanup();
process.exit(failed ? 1 : 0);
