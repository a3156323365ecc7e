// Shared harness of the @moq/net browser tests (moqnet_interop.mjs, moqnet_relay.mjs): bundles
// moqnet_page.js with esbuild, serves it from http://127.0.0.1 (a secure context for
// WebTransport), drives Debian's Chromium with playwright-core (the flags of interop.md, no
// --disable-quic), spawns and stops our processes, and keeps the PASS / FAIL / GAP tally.
//
//   const h = await startHarness('moqnet_relay', { deadlineMs: 55_000 });
//   await h.openPage();                          // a fresh page per case
//   const res = await h.evaluate((p) => window.moqSub(p), {...}, 30_000);
//   h.report(name, problems, details);  h.gap(name, why);  await h.finish();
//
// MOQNET_DEBUG=1 prints the page console and the children's stderr live.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const debug = !!process.env.MOQNET_DEBUG;
export const pad2 = (n) => String(n).padStart(2, '0');
// @moq/net's connect option for a draft: ["moqt-16"] / ["moqt-18"] select it through
// WT-Available-Protocols; [] offers none, so it sends a CLIENT_SETUP offering draft-14.
export const protocolsFor = (d) => (d === 14 ? [] : [`moqt-${d}`]);
export const moqnetVersion = () =>
  JSON.parse(fs.readFileSync(path.join(here, 'node_modules/@moq/net/package.json'), 'utf8')).version;

// `page`: the entry bundled into the page (default moqnet_page.js; null: no page of our own, the
// test opens its pages itself), `ready`: the window function whose presence says the page loaded,
// `chromiumArgs`: more Chromium flags.
export async function startHarness(tag, { deadlineMs = 270_000, page: pageEntry = 'moqnet_page.js', ready = 'moqSub',
                                          chromiumArgs = [] } = {}) {
  const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
  const children = new Set();
  const results = [];
  const pageLog = [];
  let browser, pageServer, page, pageCrashed;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));

  const deadline = setTimeout(() => abort(`timed out after ${deadlineMs / 1000} s`), deadlineMs);
  async function cleanup() {
    clearTimeout(deadline);
    for (const c of children) {
      try { c.kill('SIGKILL'); } catch {}
    }
    try { if (browser) await browser.close(); } catch {}
    try { if (pageServer) pageServer.close(); } catch {}
    try { fs.rmSync(tmp, { recursive: true, force: true }); } catch {}
  }
  function abort(msg) {
    console.error(`${tag}: FAIL: ${msg}`);
    cleanup().finally(() => process.exit(1));
  }
  process.on('SIGINT', () => abort('interrupted'));
  process.on('SIGTERM', () => abort('terminated'));
  process.on('uncaughtException', (e) => abort(`uncaught: ${e.stack || e}`));
  process.on('unhandledRejection', (e) => abort(`unhandled: ${e && e.stack || e}`));

  // 1. The page, bundled into a temporary directory and served from http://127.0.0.1.
  let pageUrl;
  if (pageEntry) try {
    await esbuild.build({
      entryPoints: [path.join(here, pageEntry)],
      bundle: true,
      format: 'esm',
      target: 'es2022',
      outfile: path.join(tmp, 'bundle.js'),
      logLevel: 'warning',
    });
  } catch (e) {
    abort(`esbuild: ${e.message}`);
    await new Promise(() => {});
  }
  if (pageEntry) {
    fs.writeFileSync(path.join(tmp, 'index.html'),
      `<!doctype html><meta charset=utf-8><title>${tag}</title><body><script type="module" src="bundle.js"></script>`);
    pageServer = http.createServer((req, res) => {
      const file = req.url === '/bundle.js' ? 'bundle.js' : 'index.html';
      res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' });
      res.end(fs.readFileSync(path.join(tmp, file)));
    });
    await new Promise((r) => pageServer.listen(0, '127.0.0.1', r));
    pageUrl = `http://127.0.0.1:${pageServer.address().port}/`;
  }

  // 2. Chromium with the flags of interop.md (no --disable-quic).
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync', ...chromiumArgs],
      timeout: 30_000,
    });
  } catch (e) {
    abort(`cannot start ${CHROMIUM}: ${e.message}`);
    await new Promise(() => {});
  }

  const h = {
    tmp, results, pageLog, browser, cleanup, abort,
    page: () => page,
    // A fresh page per case, so one case's leftovers (or a renderer crash) cannot affect the next.
    async openPage() {
      if (page) await page.close().catch(() => {});
      page = await browser.newPage();
      // A renderer crash leaves a pending page.evaluate() unsettled: fail the running case at once.
      pageCrashed = new Promise((resolve) => page.on('crash', () => resolve('the Chromium renderer crashed')));
      page.on('console', (m) => {
        const l = `[page ${m.type()}] ${m.text()}`;
        pageLog.push(l);
        if (debug) console.log(`${(performance.now() / 1000).toFixed(3)} ${l}`);
      });
      await page.goto(pageUrl);
      await page.waitForFunction((fn) => typeof window[fn] === 'function', ready, { timeout: 10_000 });
    },
    // Resolves with the crash reason when the current page's renderer crashes.
    crashed: () => pageCrashed,
    evaluate(fn, arg, ms) {
      let timer;
      return Promise.race([
        page.evaluate(fn, arg),
        pageCrashed.then((why) => { throw new Error(why); }),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`page did not answer within ${ms} ms`)), ms); }),
      ]).finally(() => clearTimeout(timer));
    },

    // A child process killed at cleanup: {proc, stderr, code, exited}; stderr is kept (and shown
    // live with MOQNET_DEBUG, tagged). `env`: variables added to ours.
    spawnChild(bin, args, ctag, env) {
      const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
      children.add(p);
      const c = { proc: p, stderr: '', code: undefined };
      c.exited = new Promise((resolve) => p.on('exit', (code, signal) => {
        children.delete(p);
        c.code = code ?? signal;
        resolve(c.code);
      }));
      p.stderr.on('data', (d) => {
        c.stderr += d;
        if (debug) process.stdout.write(`${(performance.now() / 1000).toFixed(3)} [${ctag}] ${d}`);
      });
      return c;
    },
    waitExit(c, ms) {
      return Promise.race([c.exited, new Promise((r) => setTimeout(() => r('timeout'), ms))]);
    },
    // Asks a child to stop with `signal`, then kills it if it does not exit within `ms`.
    async stopChild(c, signal, ms) {
      if (c.code !== undefined) return;
      c.proc.kill(signal);
      if ((await h.waitExit(c, ms)) === 'timeout') {
        c.proc.kill('SIGKILL');
        await h.waitExit(c, 3000);
      }
    },
    // A tool that prints {"listening":..,"port":..,"sha256":..} first on stdout (moqt-clock
    // --listen, moqt-relay): `ready` resolves with that object; later lines go to `lines`.
    startListener(bin, args, ctag) {
      const c = h.spawnChild(bin, args, ctag);
      c.lines = [];
      const rl = readline.createInterface({ input: c.proc.stdout });
      c.ready = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${ctag}: no listening line within 10 s`)), 10_000);
        rl.on('line', (l) => {
          if (!c.info && l.startsWith('{')) {
            c.info = JSON.parse(l);
            clearTimeout(timer);
            resolve(c.info);
          } else {
            c.lines.push(l);
          }
        });
        c.exited.then((code) => { clearTimeout(timer); reject(new Error(`${ctag} exited (${code}): ${c.stderr}`)); });
      });
      c.ready.catch(() => {});  // awaited by the caller
      return c;
    },
    // A child whose stdout lines are collected (moqt-clock subscribe/publish --connect).
    startLines(bin, args, ctag) {
      const c = h.spawnChild(bin, args, ctag);
      c.lines = [];
      readline.createInterface({ input: c.proc.stdout }).on('line', (l) => c.lines.push(l));
      return c;
    },
    // gst-launch-1.0 -m ARGS. With `listening` (a listener-mode moqsink/moqsrc), `ready` resolves
    // with {port, sha256} from the element's "listening" bus message.
    startGst(gstLaunch, args, { listening = true } = {}) {
      const g = h.spawnChild(gstLaunch, ['-m', ...args], 'gst');
      const p = g.proc;
      g.out = '';
      p.stdout.on('data', (d) => { g.out += d; });
      if (!listening) return g;
      g.ready = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening message within 15 s: ${g.out.slice(-500)}`)), 15_000);
        p.stdout.on('data', () => {
          const m = /event=\(string\)listening, detail=\(string\)"?[^"]*?:(\d+)\\? sha256\\?=([0-9a-f]{64})/.exec(g.out);
          if (m && !g.info) {
            clearTimeout(timer);
            g.info = { port: Number(m[1]), sha256: m[2] };
            resolve(g.info);
          }
        });
        g.exited.then((c) => { clearTimeout(timer); reject(new Error(`gst-launch exited (${c}): ${g.stderr}${g.out.slice(-500)}`)); });
      });
      g.ready.catch(() => {});
      return g;
    },
    // -e: SIGINT sends EOS first, so sinks finish their files.
    stopGst: (g) => h.stopChild(g, 'SIGINT', 5000),
    gstErrors: (g) => (g.out + g.stderr).split('\n').filter((l) => /ERROR|moqt session \(/.test(l)),

    report(name, problems, details) {
      results.push({ name, status: problems.length === 0 ? 'pass' : 'fail' });
      if (problems.length === 0) console.log(`PASS ${name}: ${details}`);
      else console.log(`FAIL ${name}: ${problems.join('; ')}${details ? ` (${details})` : ''}`);
    },
    // A documented known gap: printed and counted apart, neither a pass nor a failure.
    gap(name, why) {
      results.push({ name, status: 'gap' });
      console.log(`GAP  ${name}: ${why}`);
    },
    // Prints the tally, cleans up and exits (1 if anything failed).
    async finish() {
      const failed = results.filter((r) => r.status === 'fail').length;
      const gaps = results.filter((r) => r.status === 'gap').length;
      const passed = results.length - failed - gaps;
      if (failed) for (const l of pageLog.slice(-60)) console.log(l);
      console.log(`${tag}: ${passed} passed, ${failed} failed${gaps ? `, ${gaps} known gaps` : ''}`);
      await cleanup();
      process.exit(failed ? 1 : 0);
    },
  };
  return h;
}
