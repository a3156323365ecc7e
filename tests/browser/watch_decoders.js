// Counts what the page's WebCodecs decoders output (the player's own decoders, wrapped; first import).
const counts = { video: 0, audio: 0, audioFrames: 0, vts: [], ats: [], errors: [] };
window.watchCounts = () => ({ ...counts, vts: [...counts.vts], ats: [...counts.ats] });
const keep = (a, v) => { if (a.length < 5000) a.push(v); };  // bounded
const VD = window.VideoDecoder, AD = window.AudioDecoder;
window.VideoDecoder = class extends VD {
  constructor(init) {
    super({ output: (f) => { counts.video++; keep(counts.vts, f.timestamp); init.output(f); },
            error: (e) => { counts.errors.push(String(e)); init.error(e); } });
  }
};
window.AudioDecoder = class extends AD {
  constructor(init) {
    super({ output: (d) => { counts.audio++; counts.audioFrames += d.numberOfFrames; keep(counts.ats, d.timestamp); init.output(d); },
            error: (e) => { counts.errors.push(String(e)); init.error(e); } });
  }
};
