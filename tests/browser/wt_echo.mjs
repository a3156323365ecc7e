// Real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) opens a
// WebTransport session to our server with a pinned certificate hash and echoes a bidirectional
// stream, a unidirectional stream and datagrams, negotiates the WT protocol, and closes the
// session with a code the server must see.
//
// Usage: node wt_echo.mjs PATH/TO/wt_echo_server
import { spawn } from 'node:child_process';
import http from 'node:http';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const serverBin = process.argv[2];
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const deadline = setTimeout(() => fail('timed out after 90 s'), 90_000);
let server, browser, page_server;

function fail(msg) {
  console.error(`wt_echo: FAIL: ${msg}`);
  cleanup().finally(() => process.exit(1));
}
async function cleanup() {
  clearTimeout(deadline);
  try { if (browser) await browser.close(); } catch {}
  try { if (page_server) page_server.close(); } catch {}
  try { if (server) server.stdin.end(); } catch {}
}

// 1. Our server: first stdout line is {"port":..,"sha256":".."}; later lines are events.
server = spawn(serverBin, ['--lifetime=100'], { stdio: ['pipe', 'pipe', 'inherit'] });
const events = [];
const lines = readline.createInterface({ input: server.stdout });
const info = await new Promise((resolve, reject) => {
  lines.on('line', (l) => {
    const j = JSON.parse(l);
    if (j.port) resolve(j); else events.push(j);
  });
  server.on('exit', (c) => reject(new Error(`server exited with ${c}`)));
}).catch((e) => fail(e.message));

// 2. The page comes from http://127.0.0.1 (a secure context for WebTransport).
const page_html = `<!doctype html><meta charset=utf-8><title>wt echo</title><script>
async function run(port, hashHex) {
  const hash = new Uint8Array(hashHex.match(/../g).map((h) => parseInt(h, 16)));
  const out = {};
  const wt = new WebTransport('https://127.0.0.1:' + port + '/echo', {
    serverCertificateHashes: [{ algorithm: 'sha-256', value: hash }],
    protocols: ['moqt-16', 'moqt-18'],
  });
  await wt.ready;
  out.protocol = wt.protocol;
  const payload = new Uint8Array(100000).map((_, i) => (i * 7 + 3) & 255);
  async function readAll(readable) {
    const r = readable.getReader();
    const parts = [];
    let n = 0;
    for (;;) {
      const { value, done } = await r.read();
      if (done) break;
      parts.push(value);
      n += value.length;
    }
    const all = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    return all;
  }
  const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  // Bidirectional stream echo.
  const bidi = await wt.createBidirectionalStream();
  const bw = bidi.writable.getWriter();
  await bw.write(payload);
  await bw.close();
  out.bidi = same(await readAll(bidi.readable), payload);
  // Unidirectional: we send on one, the server answers on a stream it opens.
  const incoming = wt.incomingUnidirectionalStreams.getReader();
  const uni = await wt.createUnidirectionalStream();
  const uw = uni.getWriter();
  await uw.write(payload.subarray(0, 5000));
  await uw.close();
  const { value: back } = await incoming.read();
  out.uni = same(await readAll(back), payload.subarray(0, 5000));
  // Datagrams: unreliable, so send a few until one comes back.
  const dw = wt.datagrams.writable.getWriter();
  const dr = wt.datagrams.readable.getReader();
  const dg = new TextEncoder().encode('moq datagram');
  out.datagram = false;
  for (let i = 0; i < 20 && !out.datagram; ++i) {
    await dw.write(dg);
    const got = await Promise.race([dr.read(), new Promise((r) => setTimeout(() => r(null), 250))]);
    if (got && got.value) out.datagram = new TextDecoder().decode(got.value) === 'moq datagram';
  }
  wt.close({ closeCode: 7, reason: 'bye from chromium' });
  await wt.closed;
  return out;
}
</script>`;
page_server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end(page_html);
});
await new Promise((r) => page_server.listen(0, '127.0.0.1', r));
const pagePort = page_server.address().port;

// 3. Chromium, headless, as root in CI: the flags interop.md lists.
// playwright-core gives every launch a fresh temporary profile of its own.
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    timeout: 60_000,
  });
} catch (e) {
  fail(`cannot start ${CHROMIUM}: ${e.message}`);
}
const page = await browser.newPage();
page.on('console', (m) => console.log(`[page] ${m.text()}`));
await page.goto(`http://127.0.0.1:${pagePort}/`);
let result;
try {
  result = await page.evaluate(([p, h]) => run(p, h), [info.port, info.sha256]);
} catch (e) {
  fail(`page error: ${e.message}`);
}
console.log(`wt_echo: chromium ${browser.version()} result ${JSON.stringify(result)}`);
// The server reports the session's end with the browser's close code.
const closed = await new Promise((resolve) => {
  const check = () => events.find((e) => e.event === 'closed');
  if (check()) return resolve(check());
  const t = setInterval(() => { if (check()) { clearInterval(t); resolve(check()); } }, 50);
  setTimeout(() => { clearInterval(t); resolve(null); }, 5000);
});
const connect = events.find((e) => e.event === 'connect');
const problems = [];
if (!result || result.protocol !== 'moqt-18') problems.push(`protocol ${result && result.protocol} (want moqt-18, the server's preference)`);
if (!result || !result.bidi) problems.push('bidirectional echo mismatch');
if (!result || !result.uni) problems.push('unidirectional echo mismatch');
if (!result || !result.datagram) problems.push('no datagram echo');
if (!connect || connect.origin !== `http://127.0.0.1:${pagePort}`) problems.push(`origin ${connect && connect.origin}`);
if (!closed || closed.code !== 7 || closed.reason !== 'bye from chromium') problems.push(`server saw close ${JSON.stringify(closed)}`);
await cleanup();
if (problems.length) {
  console.error(`wt_echo: FAIL: ${problems.join('; ')}`);
  process.exit(1);
}
console.log('wt_echo: PASS (bidi, uni, datagram, protocol negotiation, close code)');
process.exit(0);
