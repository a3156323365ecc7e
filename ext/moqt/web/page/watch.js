// The relay's watch page: the live broadcast list (long-polled from /api/broadcasts, which the
// relay fills from its namespace registry) and moq.dev's <moq-watch> player for the one clicked.
// Bundled with esbuild when the relay is built; served by the relay itself (moqt/web/watch_site.h).
import "@moq/watch/element";
import "@moq/watch/ui";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hexBytes = (hex) => new Uint8Array(hex.match(/../g).map((b) => parseInt(b, 16)));

async function main() {
  const cfg = await (await fetch("/api/config")).json();
  // The player's bundled @moq/net (0.2.8) encodes -17+ parameters the -16 way: offer moqt-16 when
  // the relay takes it, else no moqt-* protocol at all (its CLIENT_SETUP then offers 14). A
  // development certificate (valid <= 14 days) is pinned by its hash, which the relay hands us.
  const offer16 = cfg.drafts.includes(16);
  const WT = window.WebTransport;
  if (WT) {
    window.WebTransport = class extends WT {
      constructor(url, options = {}) {
        const protocols = (options.protocols || []).filter((p) => !p.startsWith("moqt-") || (offer16 && p === "moqt-16"));
        const o = { ...options, protocols };
        if (cfg.sha256 && !o.serverCertificateHashes?.length)
          o.serverCertificateHashes = [{ algorithm: "sha-256", value: hexBytes(cfg.sha256) }];
        super(url, o);
      }
    };
  }
  const url = `https://${location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname}:${cfg.port}${cfg.path}`;
  $("relay").textContent = url;
  if (!WT) $("status").textContent = "This browser has no WebTransport: use a recent Chromium, Chrome, Edge or Firefox.";

  let current = null;
  const play = (name) => {
    current = name;
    $("watching").textContent = name;
    const player = $("player");
    player.replaceChildren();
    const ui = document.createElement("moq-watch-ui");
    const w = document.createElement("moq-watch");
    w.setAttribute("url", url);
    w.setAttribute("name", name);
    w.setAttribute("visible", "always");
    // ?latency=MS trades delay for smoothness (the player's default is "real-time").
    const latency = new URLSearchParams(location.search).get("latency");
    if (latency && /^\d+$/.test(latency)) w.setAttribute("latency", latency);
    w.append(document.createElement("canvas"));
    ui.append(w);
    player.append(ui);
    $("status").textContent = `Playing ${name} from ${url}`;
    render(last);
  };

  let last = [];
  const render = (list) => {
    last = list;
    $("empty").hidden = list.length > 0;
    $("broadcasts").replaceChildren(...list.map((b) => {
      const li = document.createElement("li");
      const btn = document.createElement("button");
      btn.textContent = b.name;
      btn.dataset.name = b.name;
      btn.setAttribute("aria-pressed", String(b.name === current));
      btn.onclick = () => play(b.name);
      li.append(btn);
      return li;
    }));
    if (current && !list.some((b) => b.name === current)) $("status").textContent = `${current} has ended`;
  };

  // Long poll: the relay answers at once when the list changed since `since`, else within ~8 s.
  let version = -1;
  for (;;) {
    try {
      const r = await fetch(`/api/broadcasts?since=${version}`, { cache: "no-store" });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const j = await r.json();
      if (j.version !== version) render(j.broadcasts);
      version = j.version;
    } catch (e) {
      $("status").textContent = `Lost the relay (${e.message}); retrying`;
      await sleep(2000);
    }
  }
}

main();
