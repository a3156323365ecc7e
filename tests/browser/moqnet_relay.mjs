// @moq/net (the moq-dev JavaScript library) in headless Chromium through our relay: the real
// moqt-relay daemon (`--listen 127.0.0.1:0`, its generated certificate pinned by hash, a fresh
// relay per case), WebTransport on the browser side, raw QUIC on ours. Per draft 14, 16, 18:
//   pub: the browser publishes (PUBLISH_NAMESPACE; the relay pulls with SUBSCRIBE) and
//        `moqt-clock subscribe --connect` reads it through the relay: exactly the lines written;
//   sub: `moqt-clock publish --connect` pushes the clock (PUBLISH) and the browser subscribes
//        through the relay: 25 objects, whole groups from object 0, clock payloads.
// Then across drafts (the relay re-encodes per downstream session):
//   moqsink (gst-launch, draft 14 / 18 over raw QUIC, PUBLISH) -> the browser at 18 / 14 over
//   WebTransport subscribes to its catalog and video; the browser at 18 publishes ->
//   moqt-clock subscribe at 14 over raw QUIC.
// Each case prints one PASS/FAIL line with counts (the relay's own in/out object counters too).
//
// Usage: node moqnet_relay.mjs PATH/TO/moqt-relay PATH/TO/moqt-clock [DRAFT...]
// GST_LAUNCH / GST_PLUGIN_PATH (set by meson) enable the moqsink cases. MOQNET_DEBUG=1 prints
// the page console and the children's stderr live.
import dgram from 'node:dgram';
import net from 'node:net';
import { moqnetVersion, pad2, protocolsFor, startHarness } from './moqnet_harness.mjs';

const relayBin = process.argv[2];
const clockBin = process.argv[3];
const drafts = process.argv.length > 4 ? process.argv.slice(4).map(Number) : [14, 16, 18];
const GST_LAUNCH = process.env.GST_LAUNCH;
const REDIS_SERVER = process.env.REDIS_SERVER;  // set by meson when Debian's redis-server is there
const h = await startHarness('moqnet_relay', { deadlineMs: 100_000 });
const { openPage, evaluate, report } = h;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A fresh relay: held requests wait up to 10 s for their publisher (so the two sides can start
// together), a short linger and drain. `info` = its {"listening","port","sha256"} line.
async function startRelay() {
  const relay = h.startListener(relayBin, ['--listen', '127.0.0.1:0', '--hold-ms', '10000', '--linger-ms', '500',
                                           '--drain-ms', '300', '--idle-timeout-ms', '5000'], 'relay');
  await relay.ready;
  return relay;
}
// SIGTERM (drain), then the stats line it prints on the way out: objects in/out.
async function stopRelay(relay) {
  await h.stopChild(relay, 'SIGTERM', 3000);
  const m = /in (\d+) objects \/ (\d+) bytes, out (\d+) objects \/ (\d+) bytes/.exec(relay.stderr);
  return { in: m ? Number(m[1]) : -1, out: m ? Number(m[3]) : -1, code: relay.code };
}
// The relay's session log, for a failure report.
const relayLog = (relay) => relay.stderr.trimEnd().replace(/^/gm, '    ');
// Resolves once the relay has logged `n` sessions open.
async function sessionsOpen(relay, n, ms) {
  const end = Date.now() + ms;
  while ((relay.stderr.match(/session \d+ open/g) || []).length < n) {
    if (Date.now() > end) throw new Error(`the relay saw ${n} session(s) open within ${ms} ms: ${relay.stderr}`);
    await sleep(20);
  }
}
const engineErrors = (c) => c.stderr.split('\n').filter((l) => l.includes('moqt session ('));
const uniq = (xs) => [...new Set(xs)];

// (a) The browser publishes to the relay; moqt-clock subscribes through it.
async function browserToClock(browserDraft, clockDraft) {
  const name = `browser draft-${browserDraft} publishes -> relay -> moqt-clock subscribe draft-${clockDraft}`;
  const groups = 3, perGroup = 5;
  const count = groups * (perGroup + 1);
  const label = `d${browserDraft}`;
  await openPage();
  const problems = [];
  let relay, clock, res, stats;
  try {
    relay = await startRelay();
    const { port, sha256 } = relay.info;
    const pub = evaluate((p) => window.moqPub(p), {
      url: `https://127.0.0.1:${port}/moq`, hash: sha256, protocols: protocolsFor(browserDraft),
      ns: 'clock', track: 'now', groups, perGroup, label, timeoutMs: 10_000, lingerMs: 1000,
    }, 30_000);
    pub.catch(() => {});  // awaited below
    // Its SUBSCRIBE is held by the relay until the browser's PUBLISH_NAMESPACE arrives.
    clock = h.startLines(clockBin, ['subscribe', '--connect', `moqt://127.0.0.1:${port}/moq`, '--pin', sha256,
                                    '--draft', String(clockDraft), '--count', String(count), '--timeout', '20'], 'clock');
    const code = await Promise.race([h.waitExit(clock, 25_000), h.crashed().then((why) => ({ why }))]);
    if (code && code.why) problems.push(code.why);
    else if (code !== 0) problems.push(`moqt-clock subscribe exited with ${code}`);
    res = await pub;
  } catch (e) {
    problems.push(e.message);
  }
  if (clock) await h.stopChild(clock, 'SIGTERM', 3000);
  if (relay) stats = await stopRelay(relay);
  if (stats && stats.code !== 0) problems.push(`moqt-relay exited with ${stats.code} after SIGTERM`);
  const expected = [];
  for (let g = 0; g < groups; ++g)
    for (let i = 0; i < perGroup; ++i) expected.push(`${label}-g${g}:${pad2(i)}`);
  const got = clock ? clock.lines : [];
  if (JSON.stringify(got) !== JSON.stringify(expected))
    problems.push(`moqt-clock printed ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
  if (res) {
    if (!res.ok) problems.push(`page: ${res.log.join(' | ')}`);
    if (res.version !== `moq-transport-${browserDraft}`) problems.push(`browser negotiated ${res.version}`);
  }
  if (clock) for (const l of engineErrors(clock)) problems.push(`engine: ${l}`);
  report(name, problems, `${res && res.version}; browser wrote ${count} objects in ${groups} groups, ` +
    `moqt-clock received ${got.length} clock lines (+${got.length ? groups : 0} group heads) ` +
    `('${got[0]}' .. '${got[got.length - 1]}'); relay in ${stats?.in} / out ${stats?.out} objects`);
  if (problems.length) {
    if (res) for (const l of res.log) console.log(`  page: ${l}`);
    if (clock) console.log(`  moqt-clock stderr:\n${clock.stderr.replace(/^/gm, '    ')}`);
    if (relay) console.log(`  moqt-relay stderr:\n${relayLog(relay)}`);
  }
}

// (b) moqt-clock pushes the clock (PUBLISH) into the relay; the browser subscribes through it.
async function clockToBrowser(clockDraft, browserDraft) {
  const name = `moqt-clock publish draft-${clockDraft} -> relay -> browser draft-${browserDraft} subscribes`;
  const want = 25;
  await openPage();
  const problems = [];
  let relay, clock, res, stats;
  try {
    relay = await startRelay();
    const { port, sha256 } = relay.info;
    // 10 ms a tick: a group ("minute") of 61 objects every 0.6 s.
    clock = h.startLines(clockBin, ['publish', '--connect', `moqt://127.0.0.1:${port}/moq`, '--pin', sha256,
                                    '--draft', String(clockDraft), '--interval-ms', '10', '--timeout', '30'], 'clock');
    await sessionsOpen(relay, 1, 5000);
    await sleep(300);  // its PUBLISH_NAMESPACE and PUBLISH reach the relay
    res = await evaluate((p) => window.moqSub(p), {
      url: `https://127.0.0.1:${port}/moq`, hash: sha256, protocols: protocolsFor(browserDraft),
      ns: 'clock', track: 'now', want, timeoutMs: 15_000,
    }, 30_000);
  } catch (e) {
    problems.push(e.message);
  }
  if (clock) await h.stopChild(clock, 'SIGTERM', 3000);
  if (relay) stats = await stopRelay(relay);
  if (stats && stats.code !== 0) problems.push(`moqt-relay exited with ${stats.code} after SIGTERM`);
  if (res) {
    if (!res.ok) problems.push(`page: ${res.log.join(' | ')}`);
    if (res.version !== `moq-transport-${browserDraft}`) problems.push(`browser negotiated ${res.version}`);
    if (res.objects.length < want) problems.push(`only ${res.objects.length} of ${want} objects`);
    if (res.objects.length && res.objects[0].index !== 0) problems.push('the first group did not start at object 0');
    for (const o of res.objects) {
      const expected = o.index === 0 ? /^\d{4}-\d\d-\d\d \d\d:\d\d:$/ : new RegExp(`^${pad2(o.index - 1)}$`);
      if (!expected.test(o.text)) {
        problems.push(`group ${o.group} object ${o.index}: payload '${o.text}' (want ${expected})`);
        break;
      }
    }
    const gs = uniq(res.objects.map((o) => o.group));
    if (gs.some((g, i) => i > 0 && g !== gs[i - 1] + 1)) problems.push(`groups not consecutive: ${gs}`);
  }
  if (clock) for (const l of engineErrors(clock)) problems.push(`engine: ${l}`);
  report(name, problems, res && `${res.version}; browser received ${res.objects.length} objects in groups ` +
    `${uniq(res.objects.map((o) => o.group)).join(',')}, first '${res.objects[0]?.text}'; ` +
    `relay in ${stats?.in} / out ${stats?.out} objects`);
  if (problems.length) {
    if (res) for (const l of res.log) console.log(`  page: ${l}`);
    if (clock) console.log(`  moqt-clock stderr:\n${clock.stderr.replace(/^/gm, '    ')}`);
    if (relay) console.log(`  moqt-relay stderr:\n${relayLog(relay)}`);
  }
}

// (c) A moqsink broadcast (x264, caller: PUBLISH over raw QUIC) at one draft, watched by the
// browser at another through the relay: the catalog lists the video track, the video objects are
// H.264 access units in whole groups from object 0.
async function moqsinkToBrowser(sinkDraft, browserDraft, keyInt = 15) {
  const name = `moqsink draft-${sinkDraft} (raw QUIC) -> relay -> browser draft-${browserDraft} (WebTransport) watches` +
    (keyInt > 60 ? `, joining a ${keyInt / 30} s group` : '');
  const want = 40;
  await openPage();
  const problems = [];
  let relay, g, cat, vid, stats;
  try {
    relay = await startRelay();
    const { port, sha256 } = relay.info;
    g = h.startGst(GST_LAUNCH, ['videotestsrc', 'is-live=true', '!',
      'video/x-raw,format=I420,width=320,height=240,framerate=30/1', '!',
      'x264enc', 'tune=zerolatency', `key-int-max=${keyInt}`, 'speed-preset=ultrafast', '!',
      'video/x-h264,stream-format=byte-stream,alignment=au', '!',
      'moqsink', `uri=moqt://127.0.0.1:${port}/cam?tls-pin=${sha256}&draft=${sinkDraft}`], { listening: false });
    await sessionsOpen(relay, 1, 10_000);
    await sleep(keyInt > 60 ? 1000 : 500);  // its PUBLISHes (catalog, video) reach the relay
    const common = { url: `https://127.0.0.1:${port}/moq`, hash: sha256, protocols: protocolsFor(browserDraft), ns: 'cam' };
    cat = await evaluate((p) => window.moqSub(p), { ...common, track: 'catalog', want: 1, timeoutMs: 8000 }, 20_000);
    // With long groups (keyInt 300: 10 s) the 40 objects within 5 s can only come from the live
    // group's start out of the relay's cache (fast join), not from the next keyframe.
    vid = await evaluate((p) => window.moqSub(p), { ...common, track: 'video', want, timeoutMs: keyInt > 60 ? 5000 : 10_000, binary: true }, 20_000);
  } catch (e) {
    problems.push(e.message);
  }
  if (g) await h.stopGst(g);
  if (relay) stats = await stopRelay(relay);
  if (stats && stats.code !== 0) problems.push(`moqt-relay exited with ${stats.code} after SIGTERM`);
  let codec;
  if (cat) {
    if (!cat.ok) problems.push(`catalog: ${cat.log.join(' | ')}`);
    if (cat.version !== `moq-transport-${browserDraft}`) problems.push(`browser negotiated ${cat.version}`);
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
    if (vid.objects.length < want) problems.push(`only ${vid.objects.length} of ${want} video objects`);
    const bad = vid.objects.find((o) => !/^(00000001|000001)/.test(o.head));
    if (bad) problems.push(`group ${bad.group} object ${bad.index} is not an Annex B access unit: ${bad.head}`);
    if (vid.objects.length && vid.objects[0].index !== 0) problems.push('the first group did not start at object 0');
    const gs = uniq(vid.objects.map((o) => o.group));
    if (gs.some((x, i) => i > 0 && x !== gs[i - 1] + 1)) problems.push(`groups not consecutive: ${gs}`);
  }
  if (g) for (const l of h.gstErrors(g)) problems.push(`gst: ${l}`);
  report(name, problems, vid && `${vid.version}; catalog codec ${codec}; browser received ${vid.objects.length} ` +
    `video objects in groups ${uniq(vid.objects.map((o) => o.group)).join(',')}, ` +
    `${vid.objects.reduce((n, o) => n + o.size, 0)} bytes; relay in ${stats?.in} / out ${stats?.out} objects`);
  if (problems.length) {
    if (g) console.log(`  gst-launch output:\n${(g.out + g.stderr).slice(-3000).replace(/^/gm, '    ')}`);
    if (relay) console.log(`  moqt-relay stderr:\n${relayLog(relay)}`);
  }
}


// (d) A relay cluster (docs/cluster.md): three moqt-relay processes on 127.0.0.11, .12, .13 and a
// redis-server of our own. moqsink publishes on A; the browser watches on C, which pulls the
// tracks from A over a relay-to-relay session it found through Redis.
const freeUdpPort = (ip) => new Promise((resolve) => {
  const s = dgram.createSocket('udp4');
  s.bind(0, ip, () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const freeTcpPort = () => new Promise((resolve) => {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
});
async function startRedis() {
  const port = await freeTcpPort();
  const proc = h.spawnChild(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
                                          '--appendonly', 'no', '--loglevel', 'warning'], 'redis');
  proc.proc.stdout.resume();  // its banner: not read, not piling up
  const end = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return { proc, url: `redis://127.0.0.1:${port}/0` };
    if (Date.now() > end) { await h.stopChild(proc, 'SIGKILL', 2000); throw new Error('redis-server did not start'); }
    await sleep(50);
  }
}
async function moqsinkToBrowserThroughCluster(browserDraft) {
  const name = `cluster: moqsink on relay A (127.0.0.11) -> Redis finds it -> relay C (127.0.0.13) -> browser draft-${browserDraft} watches`;
  const want = 40;
  await openPage();
  const problems = [];
  let redis, g, vid;
  const relays = [];
  try {
    redis = await startRedis();
    for (const [id, ip] of [['a', '127.0.0.11'], ['b', '127.0.0.12'], ['c', '127.0.0.13']]) {
      const port = await freeUdpPort(ip);
      const r = h.startListener(relayBin, ['--listen', `${ip}:${port}`, '--loops', '1', '--linger-ms', '500',
        '--drain-ms', '300', '--cluster', redis.url, '--node-id', id, '--advertise', `moqt://${ip}:${port}/`,
        '--cluster-insecure', '--cluster-ttl-ms', '1000'], `relay-${id}`);
      await r.ready;
      r.ip = ip;
      relays.push(r);
    }
    const [a, , c] = relays;
    g = h.startGst(GST_LAUNCH, ['videotestsrc', 'is-live=true', '!',
      'video/x-raw,format=I420,width=320,height=240,framerate=30/1', '!',
      'x264enc', 'tune=zerolatency', 'key-int-max=15', 'speed-preset=ultrafast', '!',
      'video/x-h264,stream-format=byte-stream,alignment=au', '!',
      'moqsink', `uri=moqt://${a.ip}:${a.info.port}/cam?tls-insecure=true&draft=18`], { listening: false });
    await sessionsOpen(a, 1, 10_000);
    await sleep(1000);  // A claims the namespace in Redis; C hears of it
    vid = await evaluate((p) => window.moqSub(p), {
      url: `https://${c.ip}:${c.info.port}/moq`, hash: c.info.sha256, protocols: protocolsFor(browserDraft), ns: 'cam',
      track: 'video', want, timeoutMs: 10_000, binary: true }, 20_000);
  } catch (e) {
    problems.push(e.message);
  }
  if (g) await h.stopGst(g);
  const logs = relays.map((r) => r.stderr);
  for (const r of relays) await h.stopChild(r, 'SIGTERM', 3000);
  if (redis) await h.stopChild(redis.proc, 'SIGTERM', 3000);
  if (vid) {
    if (!vid.ok) problems.push(`video: ${vid.log.join(' | ')}`);
    if (vid.version !== `moq-transport-${browserDraft}`) problems.push(`browser negotiated ${vid.version}`);
    if (vid.objects.length < want) problems.push(`only ${vid.objects.length} of ${want} video objects`);
    const bad = vid.objects.find((o) => !/^(00000001|000001)/.test(o.head));
    if (bad) problems.push(`group ${bad.group} object ${bad.index} is not an Annex B access unit: ${bad.head}`);
    if (vid.objects.length && vid.objects[0].index !== 0) problems.push('the first group did not start at object 0');
  }
  const cLog = logs[2] || '';
  if (!/cluster peer a \(moqt:\/\/127\.0\.0\.11:\d+\/\) connected/.test(cLog)) problems.push('C did not pull from A');
  if (g) for (const l of h.gstErrors(g)) problems.push(`gst: ${l}`);
  report(name, problems, vid && `${vid.version}; browser on C received ${vid.objects.length} video objects in groups ` +
    `${uniq(vid.objects.map((o) => o.group)).join(',')}`);
  if (problems.length) logs.forEach((l, i) => console.log(`  relay ${'abc'[i]} stderr:\n${l.trimEnd().replace(/^/gm, '    ')}`));
}

console.log(`moqnet_relay: chromium ${h.browser.version()}, @moq/net ${moqnetVersion()}, drafts ${drafts.join(', ')}`);
for (const d of drafts) {
  await browserToClock(d, d);
  await clockToBrowser(d, d);
}
// Across drafts.
if (GST_LAUNCH) {
  await moqsinkToBrowser(14, 18);
  await moqsinkToBrowser(18, 14);
  await moqsinkToBrowser(16, 18, 300);
  if (REDIS_SERVER) await moqsinkToBrowserThroughCluster(18);
  else h.gap('cluster: moqsink on A -> browser on C', 'redis-server not installed');
} else {
  h.gap('moqsink -> relay -> browser across drafts', 'GST_LAUNCH / GST_PLUGIN_PATH not set (plugin not built)');
}
await browserToClock(18, 14);
await h.finish();
