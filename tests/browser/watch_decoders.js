// Counts what the page's WebCodecs decoders and encoders output (the player's and the publisher's
// own, wrapped before they load: this module is imported first).
const counts = { video: 0, audio: 0, audioFrames: 0, vts: [], ats: [], errors: [], encodedVideo: [], encodedAudio: [] };
window.watchCounts = () => ({ ...counts, vts: [...counts.vts], ats: [...counts.ats], encodedVideo: [...counts.encodedVideo],
                               encodedAudio: [...counts.encodedAudio] });
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
const VE = window.VideoEncoder, AE = window.AudioEncoder;
window.VideoEncoder = class extends VE {
  constructor(init) {
    super({ output: (c, m) => { keep(counts.encodedVideo, c.timestamp); init.output(c, m); }, error: init.error });
  }
};
window.AudioEncoder = class extends AE {
  constructor(init) {
    super({ output: (c, m) => { keep(counts.encodedAudio, c.timestamp); init.output(c, m); }, error: init.error });
  }
};
