// Page side of moqnet_interop.mjs and moqnet_relay.mjs: @moq/net 0.3.4 in Chromium against our
// moqt-clock, GStreamer elements and moqt-relay.
// Bundled with esbuild at test time (never committed); exposes window.moqSub / window.moqPub.
// Both resolve (never reject) with { ok, version, ..., log } so the Node side sees what happened.
import * as Moq from "@moq/net";

function connectOptions({ hash, protocols }) {
  // protocols: ["moqt-16"] / ["moqt-18"] pin the draft through WT-Available-Protocols; [] offers
  // none, so @moq/net falls back to CLIENT_SETUP offering [lite-02, lite-01, 0xff00000e].
  return {
    websocket: { enabled: false },
    webtransport: { serverCertificateHashes: [{ algorithm: "sha-256", value: hash }], protocols },
  };
}

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (bytes) => new TextDecoder().decode(bytes);

// Subscribes to ns/track and collects `want` objects, group by group. A group that fails
// (e.g. a stream that starts mid-group, which @moq/net refuses) is logged and skipped.
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

window.moqSub = async ({ url, hash, protocols, ns, track, want, timeoutMs, binary }) => {
  const log = [];
  const objects = [];
  let conn;
  let version;
  try {
    conn = await withTimeout(Moq.Connection.connect(new URL(url), connectOptions({ hash, protocols })), 10000, "connect");
    version = conn.version;
    log.push(`connected: ${version}`);
    const broadcast = conn.consume(Moq.Path.from(ns));
    const sub = broadcast.subscribe(track, {});
    await withTimeout(
      (async () => {
        while (objects.length < want) {
          const group = await sub.nextGroup();
          if (!group) {
            log.push("track ended");
            return;
          }
          for (let index = 0; objects.length < want; ++index) {
            let frame;
            try {
              frame = await group.readFrame();
            } catch (e) {
              log.push(`group ${group.sequence}: ${e.message || e}`);
              break;
            }
            if (!frame) break;
            objects.push(binary
              ? { group: group.sequence, index, size: frame.payload.length, head: hex(frame.payload.slice(0, 8)) }
              : { group: group.sequence, index, text: text(frame.payload) });
          }
        }
      })(),
      timeoutMs,
      `${want} objects`,
    );
    return { ok: true, version, objects, log };
  } catch (e) {
    log.push(`ERROR ${e.message || e}`);
    return { ok: false, version, objects, log };
  } finally {
    try {
      conn?.close();
    } catch {}
  }
};

// Publishes ns/track as a broadcast (PUBLISH_NAMESPACE, then serving SUBSCRIBE), waits for a
// subscriber, then writes `groups` groups shaped like the clock: object 0 "d<draft>-g<i>:" and
// objects 1..perGroup "00", "01", ... Keeps the session open until the peer closes it, or for
// `lingerMs` (default `timeoutMs`) after the last group (a relay does not close it).
window.moqPub = async ({ url, hash, protocols, ns, track, groups, perGroup, label, timeoutMs, lingerMs }) => {
  const log = [];
  let conn;
  let version;
  try {
    conn = await withTimeout(Moq.Connection.connect(new URL(url), connectOptions({ hash, protocols })), 10000, "connect");
    version = conn.version;
    log.push(`connected: ${version}`);
    const broadcast = new Moq.Broadcast.Producer();
    const producer = broadcast.createTrack(track);
    conn.publish(Moq.Path.from(ns), broadcast);
    // Wait for the peer's SUBSCRIBE to reach the track (a subscriber is attached).
    const start = Date.now();
    while (!producer.used.peek()) {
      if (Date.now() - start > timeoutMs) throw new Error("no subscriber arrived");
      await sleep(20);
    }
    log.push(`subscriber after ${Date.now() - start} ms`);
    for (let g = 0; g < groups; ++g) {
      const group = producer.appendGroup();
      group.writeString(`${label}-g${g}:`);
      for (let i = 0; i < perGroup; ++i) group.writeString(String(i).padStart(2, "0"));
      group.close();
      await sleep(30);
    }
    log.push(`wrote ${groups} groups`);
    const closed = await Promise.race([conn.closed.then(() => true), sleep(lingerMs ?? timeoutMs).then(() => false)]);
    log.push(closed ? "peer closed the session" : "session still open at the timeout");
    return { ok: true, version, log };
  } catch (e) {
    log.push(`ERROR ${e.message || e}`);
    return { ok: false, version, log };
  } finally {
    try {
      conn?.close();
    } catch {}
  }
};
