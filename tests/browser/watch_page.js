// The page of moq_watch.mjs: moq.dev's <moq-watch> player and <moq-publish> publisher (@moq/watch,
// @moq/publish, npm-pinned) with the page's WebCodecs decoders and encoders wrapped first so their
// output can be counted.
import "./watch_decoders.js";
import "@moq/watch/element";
import "@moq/publish/element";

// The draft the player may offer: its bundled @moq/net 0.2.8 encodes -17+ parameters the -16 way,
// so it is used at 14 (no moqt-* protocol offered: CLIENT_SETUP lists 14) or 16.
let draft = 16;
const WT = window.WebTransport;
window.WebTransport = class extends WT {
  constructor(url, options = {}) {
    const protocols = (options.protocols || []).filter((p) => !p.startsWith("moqt-") || (draft === 16 && p === "moqt-16"));
    super(url, { ...options, protocols });
  }
};

window.startWatch = ({ url, name, draft: d, latency }) => {
  draft = d;
  const el = document.createElement("moq-watch");
  el.setAttribute("url", url);
  el.setAttribute("name", name);
  if (latency) el.setAttribute("latency", String(latency));
  el.innerHTML = '<canvas width="320" height="240" style="width:320px;height:240px"></canvas>';
  document.body.appendChild(el);
  return true;
};

// Publishes Chromium's fake camera and microphone (--use-fake-device-for-media-stream).
window.startPublish = ({ url, name, draft: d }) => {
  draft = d;
  const el = document.createElement("moq-publish");
  el.setAttribute("url", url);
  el.setAttribute("name", name);
  el.setAttribute("source", "camera");
  document.body.appendChild(el);
  return true;
};
