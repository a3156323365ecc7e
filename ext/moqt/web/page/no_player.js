// Served as watch.js when the relay was built without the player bundle (no node_modules in
// ext/moqt/web/page at build time): the broadcast list works, playback does not.
const $ = (id) => document.getElementById(id);
$("status").textContent =
  "This relay was built without the player: run `npm ci` in ext/moqt/web/page, then rebuild (scripts/setup.sh does both).";
let version = -1;
(async () => {
  for (;;) {
    try {
      const j = await (await fetch(`/api/broadcasts?since=${version}`, { cache: "no-store" })).json();
      version = j.version;
      $("empty").hidden = j.broadcasts.length > 0;
      $("broadcasts").replaceChildren(...j.broadcasts.map((b) => {
        const li = document.createElement("li");
        li.textContent = b.name;
        return li;
      }));
    } catch {
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
})();
