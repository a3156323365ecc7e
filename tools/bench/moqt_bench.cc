// moqt-bench: load generator and meter for MoQT relays (docs/benchmarks.md, "Relay").
//
//   moqt-bench SCENARIO [options]      SCENARIO: fanout | ingest | chain | join | churn
//
//   fanout  1 publisher -> relay -> N subscribers
//   ingest  M publishers (one namespace and track each) -> relay -> S subscribers per track
//   chain   publisher -> relay 1 -> ... -> relay H -> N subscribers; one probe subscriber on every
//           relay gives each hop's added latency per object
//   join    subscribers join a live track one by one: SUBSCRIBE -> SUBSCRIBE_OK, SUBSCRIBE_OK ->
//           first object (in RTTs), and whether that object starts a group (a join from cache)
//   churn   N subscribers stay while others join and leave at --churn-rate per second; the relay's
//           memory before, during and after (the leak check)
//
// By default the benchmark starts the moqt-relay daemon(s) itself (--relay-bin, default: next to
// this binary); `--relay URL [--relay-pid PID]` drives a relay started separately (CPU and memory
// need its pid). Subscribers run on --client-loops threads in this process, or in --client-procs
// worker processes (this binary with --worker) so that the load generator is not the bottleneck.
// Before the run it measures the machine's ceiling (moqt-quic-bench --ceiling: plain UDP with GSO,
// AES-128-GCM seal, one raw QUIC stream) and prints the relay's figures as ratios of it.
//
// Nothing about speed is asserted: the exit status is 1 only when the run itself failed (relay
// did not start, subscriptions refused) or, with --check, when a subscriber missed an object.
#include <glib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "clients.h"
#include "process.h"

using namespace moqt;
using namespace moqt::bench;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string scenario;
  std::string relay_url, relay_bin, relay_log, quic_bench, transport = "mix", drafts = "14,16,18", sizes_file;
  std::vector<std::string> relay_args;
  int relay_pid = 0, relay_loops = 1;
  int subscribers = -1, publishers = 10, hops = 3, kbps = 2000, fps = 25, gop = 50, subgroups = 1;
  int duration = 10, settle = 5, client_loops = 1, client_procs = 0, join_interval_ms = 100, churn_rate = 20;
  bool json = false, no_ceiling = false, quiet = false, check = false;
  // --worker
  bool worker = false;
  std::string worker_tracks;
  int worker_offset = 0;
};

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

std::string track_text(const wire::FullTrackName& t) { return t.ns.at(0) + "/" + t.name; }
wire::FullTrackName track_parse(const std::string& s) {
  const size_t slash = s.find('/');
  return {{s.substr(0, slash)}, s.substr(slash + 1)};
}

std::vector<wire::Draft> parse_drafts(const std::string& s, std::string* error) {
  std::vector<wire::Draft> out;
  std::istringstream in(s);
  std::string d;
  while (std::getline(in, d, ',')) {
    if (d == "14") out.push_back(wire::Draft::k14);
    else if (d == "16") out.push_back(wire::Draft::k16);
    else if (d == "18") out.push_back(wire::Draft::k18);
    else *error = "--drafts: unknown draft '" + d + "' (14, 16, 18)";
  }
  if (out.empty() && error->empty()) *error = "--drafts: empty";
  return out;
}

// Object sizes from a file: IVF (VP8/VP9/AV1 frames, e.g. from avmux_ivf) or one number per line.
bool read_sizes(const std::string& path, std::vector<size_t>* out, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "--object-sizes: cannot open " + path;
    return false;
  }
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (data.size() >= 32 && data.compare(0, 4, "DKIF") == 0) {
    size_t pos = uint8_t(data[6]) | size_t(uint8_t(data[7])) << 8;  // header length
    while (pos + 12 <= data.size()) {
      uint32_t len = 0;
      std::memcpy(&len, data.data() + pos, 4);  // little-endian frame size, then an 8-byte pts
      out->push_back(len);
      pos += 12 + len;
    }
  } else {
    std::istringstream in(data);
    size_t n;
    while (in >> n) out->push_back(n);
  }
  if (out->empty()) *error = "--object-sizes: no frame sizes in " + path;
  return !out->empty();
}

// ---- the audience: subscribers in this process or in worker processes ----------------------------

class Audience {
 public:
  Audience(const Options& o, ClientMix mix, std::vector<wire::FullTrackName> tracks, const std::string& self)
      : tracks_(tracks) {
    if (o.client_procs <= 0) {
      local_ = std::make_unique<SubscriberGroup>(mix, tracks, o.client_loops, "subscribers");
      return;
    }
    std::string list;
    for (auto& t : tracks) list += (list.empty() ? "" : ",") + track_text(t);
    for (int p = 0; p < o.client_procs; ++p) {
      auto c = std::make_unique<Child>();
      const std::vector<std::string> argv = {self, "worker", "--worker", "--relay", mix.quic_url, "--transport",
                                             o.transport, "--drafts", o.drafts, "--client-loops",
                                             std::to_string(o.client_loops), "--worker-tracks", list,
                                             "--worker-offset", std::to_string(p)};
      if (!c->spawn(argv, "")) throw std::runtime_error("cannot start a worker process");
      workers_.push_back(std::move(c));
    }
  }
  ~Audience() {
    for (auto& w : workers_) {
      std::string line;
      w->write_line("quit");
      w->read_line(&line, 5000);
      w->stop(1000);
    }
  }
  // Adds `count` subscribers; returns how many got SUBSCRIBE_OK.
  size_t add(size_t count, std::string* error) {
    if (local_) return local_->add(count, error);
    // Spread evenly; worker p's k-th subscriber is index k * procs + p over the run.
    size_t ok = 0;
    for (size_t p = 0; p < workers_.size(); ++p)
      workers_[p]->write_line("add " + std::to_string(count / workers_.size() + (p < count % workers_.size())));
    for (auto& w : workers_) {
      std::string line;
      if (!w->read_line(&line, 300000) || line.rfind("added ", 0) != 0) {
        *error = "a worker process did not answer";
        continue;
      }
      ok += std::stoull(line.substr(6));
      const size_t sp = line.find(' ', 6);
      if (sp != std::string::npos && error->empty()) *error = line.substr(sp + 1);
    }
    return ok;
  }
  void remove(size_t i) {
    if (local_) local_->remove(i);
  }
  size_t size() const { return local_ ? local_->size() : 0; }
  Tally tally(uint64_t expected) {
    if (local_) return local_->tally(expected);
    Tally total;
    for (auto& w : workers_) w->write_line("tally " + std::to_string(expected));
    for (auto& w : workers_) {
      std::string line;
      Tally t;
      if (w->read_line(&line, 30000) && line.rfind("tally ", 0) == 0 && Tally::decode(line.substr(6), &t))
        total.merge(t);
    }
    return total;
  }
  double workers_cpu_s() const {
    double s = 0;
    for (auto& w : workers_) s += proc_cpu_s(w->pid);
    return s;
  }
  void close() {
    if (local_) local_->close_all();
  }

 private:
  std::vector<wire::FullTrackName> tracks_;
  std::unique_ptr<SubscriberGroup> local_;
  std::vector<std::unique_ptr<Child>> workers_;
};

int run_worker(const Options& o) {
  ClientMix mix;
  std::string error;
  mix.quic_url = o.relay_url;
  mix.wt_url = "https" + o.relay_url.substr(o.relay_url.find("://"));
  mix.transport = o.transport;
  mix.drafts = parse_drafts(o.drafts, &error);
  std::vector<wire::FullTrackName> tracks;
  std::istringstream in(o.worker_tracks);
  std::string t;
  while (std::getline(in, t, ',')) tracks.push_back(track_parse(t));
  if (tracks.empty() || !error.empty()) return 2;
  // Shifted per worker so that every worker gets every combination of draft and transport.
  mix.offset = size_t(o.worker_offset);
  SubscriberGroup group(mix, tracks, o.client_loops, "worker-subs");
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.rfind("add ", 0) == 0) {
      std::string err;
      const size_t ok = group.add(std::stoull(line.substr(4)), &err);
      std::printf("added %zu %s\n", ok, err.c_str());
    } else if (line.rfind("tally ", 0) == 0) {
      std::printf("tally %s\n", group.tally(std::stoull(line.substr(6))).encode().c_str());
    } else if (line == "quit") {
      group.close_all();
      std::printf("bye\n");
      std::fflush(stdout);
      return 0;
    }
    std::fflush(stdout);
  }
  return 0;
}

// ---- the machine's ceiling ------------------------------------------------------------------------

struct Ceiling {
  bool ok = false;
  double udp_gbps = 0, udp_snd_s_per_gb = 0, seal_gbps = 0, quic_gbps = 0, quic_snd_s_per_gb = 0, ratio = 0;
};

Ceiling measure_ceiling(const std::string& quic_bench) {
  Ceiling c;
  Child child;
  if (!child.spawn({quic_bench, "--ceiling", "--json", "--bytes", "256M"}, "/dev/null")) return c;
  std::string line;
  const bool got = child.read_line(&line, 120000);
  child.stop(2000);
  if (!got) return c;
  double bytes = 0, snd = 0;
  c.ok = json_number(line, "udp_gbps", &c.udp_gbps) && json_number(line, "seal_gbps", &c.seal_gbps) &&
         json_number(line, "quic_gbps", &c.quic_gbps);
  json_number(line, "udp_snd_cpu_s_per_gb", &c.udp_snd_s_per_gb);
  json_number(line, "quic_udp_ratio", &c.ratio);
  // The QUIC sender's CPU per GB: its thread's CPU over the stream's bytes.
  const size_t at = line.find("\"sender_thread\"");
  if (at != std::string::npos && json_number(line.substr(at), "cpu_s", &snd) && json_number(line, "bytes", &bytes) &&
      bytes > 0)
    c.quic_snd_s_per_gb = snd / (bytes / 1e9);
  return c;
}

// ---- reporting --------------------------------------------------------------------------------------

class Report {
 public:
  void num(const std::string& key, double v, int decimals, const std::string& label = "",
           const std::string& unit = "") {
    json_.push_back("\"" + key + "\":" + fmt("%.*f", decimals, v));
    if (!label.empty()) text_.push_back(fmt("%-34s %.*f%s%s", label.c_str(), decimals, v, unit.empty() ? "" : " ",
                                            unit.c_str()));
  }
  void str(const std::string& key, const std::string& v, const std::string& label = "") {
    json_.push_back("\"" + key + "\":\"" + v + "\"");
    if (!label.empty()) text_.push_back(fmt("%-34s %s", label.c_str(), v.c_str()));
  }
  void line(const std::string& s) { text_.push_back(s); }
  void print(bool json) const {
    if (json) {
      std::string s = "{";
      for (size_t i = 0; i < json_.size(); ++i) s += (i ? "," : "") + json_[i];
      std::printf("%s}\n", s.c_str());
    } else {
      for (auto& l : text_) std::printf("%s\n", l.c_str());
    }
    std::fflush(stdout);
  }

 private:
  std::vector<std::string> json_, text_;
};

void report_latency(Report& r, const std::string& key, const char* label, const Histogram& h) {
  r.num(key + "_p50_ms", h.percentile_ms(50), 3);
  r.num(key + "_p90_ms", h.percentile_ms(90), 3);
  r.num(key + "_p99_ms", h.percentile_ms(99), 3);
  r.num(key + "_max_ms", h.percentile_ms(100), 3);
  r.line(fmt("%-34s p50 %.3f  p90 %.3f  p99 %.3f  max %.3f ms (%llu samples)", label, h.percentile_ms(50),
             h.percentile_ms(90), h.percentile_ms(99), h.percentile_ms(100), (unsigned long long)h.count()));
}

// ---- the run ------------------------------------------------------------------------------------------

struct Relays {
  std::vector<RelayProcess> spawned;
  std::vector<pid_t> pids;  // what CPU and memory are read from
  std::vector<std::string> quic_urls;
  double cpu(double* sys_s = nullptr) const {
    double s = 0, sys = 0;
    for (pid_t p : pids) {
      double k = 0;
      s += proc_cpu_s(p, &k);
      sys += k;
    }
    if (sys_s) *sys_s = sys;
    return s;
  }
  long kb(const char* key) const {
    long s = 0;
    for (pid_t p : pids) s += std::max(0L, proc_status_kb(p, key));
    return s;
  }
  void stop() {
    for (auto it = spawned.rbegin(); it != spawned.rend(); ++it) it->child.stop(3000);
  }
};

int run(const Options& o, const std::string& self) {
  const bool fanout = o.scenario == "fanout", ingest = o.scenario == "ingest", chain = o.scenario == "chain",
             join = o.scenario == "join", churn = o.scenario == "churn";
  std::string error;
  ClientMix mix;
  mix.transport = o.transport;
  mix.drafts = parse_drafts(o.drafts, &error);
  if (!error.empty()) return std::fprintf(stderr, "moqt-bench: %s\n", error.c_str()), 2;
  std::vector<size_t> sizes;
  if (!o.sizes_file.empty() && !read_sizes(o.sizes_file, &sizes, &error))
    return std::fprintf(stderr, "moqt-bench: %s\n", error.c_str()), 2;
  if (sizes.empty()) sizes.push_back(std::max<size_t>(16, size_t(o.kbps) * 1000 / 8 / size_t(o.fps)));
  const int default_subs = fanout ? 100 : ingest ? 1 : chain ? 10 : join ? 50 : 100;
  const size_t subs_arg = size_t(o.subscribers >= 0 ? o.subscribers : default_subs);
  const size_t tracks_n = ingest ? size_t(o.publishers) : 1;
  const size_t n = ingest ? subs_arg * tracks_n : subs_arg;  // subscribers in the audience
  const uint64_t total_objects = uint64_t(o.fps) * uint64_t(o.duration);
  const auto log = [&](const std::string& s) {
    if (!o.quiet) std::fprintf(stderr, "[moqt-bench] %s\n", s.c_str());
  };
  raise_fd_limit(n + 1024);
  signal(SIGPIPE, SIG_IGN);
  Report r;
  r.str("scenario", o.scenario, "scenario");

  // 1. The machine's ceiling, measured now (absolute numbers move between runs on a shared VM).
  Ceiling ceiling;
  if (!o.no_ceiling) {
    log("measuring the machine's ceiling (moqt-quic-bench --ceiling)");
    ceiling = measure_ceiling(o.quic_bench);
    if (!ceiling.ok) log("could not measure the ceiling with " + o.quic_bench + " (continuing without)");
  }

  // 2. The relay(s).
  Relays relays;
  if (!o.relay_url.empty()) {
    if (chain) return std::fprintf(stderr, "moqt-bench: chain starts its own relays (no --relay)\n"), 2;
    relays.quic_urls.push_back(o.relay_url);
    if (o.relay_pid > 0) relays.pids.push_back(o.relay_pid);
  } else {
    const int count = chain ? std::max(1, o.hops) : 1;
    for (int k = 0; k < count; ++k) {
      std::vector<std::string> args = {"--max-sessions", std::to_string(n + tracks_n + 64), "--drain-ms", "500",
                                       "--idle-timeout-ms", "30000", "--loops", std::to_string(o.relay_loops)};
      if (k > 0) args.insert(args.end(), {"--upstream", relays.spawned.back().url(false), "--upstream-insecure"});
      args.insert(args.end(), o.relay_args.begin(), o.relay_args.end());
      RelayProcess rp;
      const std::string log_file = o.relay_log.empty() ? "/dev/null" : o.relay_log + (k ? "." + std::to_string(k) : "");
      if (!start_relay(o.relay_bin, args, log_file, &rp, &error)) {
        relays.stop();
        return std::fprintf(stderr, "moqt-bench: %s\n", error.c_str()), 1;
      }
      relays.pids.push_back(rp.child.pid);
      relays.quic_urls.push_back(rp.url(false));
      relays.spawned.push_back(std::move(rp));
    }
  }
  auto wt_of = [](const std::string& url) { return "https" + url.substr(url.find("://")); };
  mix.quic_url = relays.quic_urls.back();
  mix.wt_url = wt_of(mix.quic_url);
  const bool measured = !relays.pids.empty();

  // 3. The publisher(s), announced at the first relay.
  std::vector<wire::FullTrackName> tracks;
  for (size_t i = 0; i < tracks_n; ++i)
    tracks.push_back(ingest ? wire::FullTrackName{{"bench-p" + std::to_string(i)}, "video"}
                            : wire::FullTrackName{{"bench"}, "video"});
  Publisher::Shape shape{o.fps, o.gop, o.subgroups, sizes};
  // join and churn publish for the whole scenario; give them a long enough track.
  const uint64_t publish_objects = (join || churn) ? total_objects * 4 + uint64_t(o.fps) * 120 : total_objects;
  auto publisher = std::make_unique<Publisher>(relays.quic_urls.front(), tracks, shape);
  if (!publisher->announce(&error)) {
    relays.stop();
    return std::fprintf(stderr, "moqt-bench: the publisher could not announce: %s\n", error.c_str()), 1;
  }
  std::this_thread::sleep_for(200ms);
  const long rss_before_kb = relays.kb("VmRSS");

  // 4. Subscribers (chain: plus one probe per relay, in this process).
  std::unique_ptr<Audience> audience;
  try {
    audience = std::make_unique<Audience>(o, mix, tracks, self);
  } catch (const std::exception& e) {
    relays.stop();
    return std::fprintf(stderr, "moqt-bench: %s\n", e.what()), 1;
  }
  std::vector<std::unique_ptr<SubscriberGroup>> probes;
  std::vector<std::vector<int64_t>> arrivals;
  bool failed = false;
  if (chain) {
    arrivals.assign(relays.quic_urls.size(), std::vector<int64_t>(total_objects, 0));
    for (size_t k = 0; k < relays.quic_urls.size(); ++k) {
      ClientMix pm;
      pm.quic_url = relays.quic_urls[k];
      pm.wt_url = wt_of(pm.quic_url);
      pm.transport = "quic";
      pm.drafts = {wire::Draft::k16};
      probes.push_back(std::make_unique<SubscriberGroup>(pm, tracks, 1, "probe"));
      if (probes.back()->add(1, &error, &arrivals[k]) != 1) failed = true;
    }
  }
  if (join) {
    // The relay's first viewer, before publishing starts: the relay then has the track (and its
    // cache) from the first object on, as a relay with an audience does. The joiners come later.
    ClientMix wm = mix;
    wm.transport = "quic";
    probes.push_back(std::make_unique<SubscriberGroup>(wm, tracks, 1, "warm"));
    if (probes.back()->add(1, &error) != 1) failed = true;
  }
  const auto connect_start = Clock::now();
  size_t subscribed = 0;
  if (!join && !failed) {
    log(fmt("connecting %zu subscribers (%s, drafts %s)", n, o.transport.c_str(), o.drafts.c_str()));
    subscribed = audience->add(n, &error);
    if (subscribed != n) failed = true;
  }
  const double connect_s = std::chrono::duration<double>(Clock::now() - connect_start).count();
  std::this_thread::sleep_for(300ms);
  const long rss_subscribed_kb = relays.kb("VmRSS");
  if (failed) {
    std::fprintf(stderr, "moqt-bench: subscribing failed: %s\n", error.c_str());
    audience.reset();
    probes.clear();
    publisher.reset();
    relays.stop();
    return 1;
  }

  // 5. The measured window.
  if (!o.quiet) {
    const double busy = wait_for_idle(5);
    if (busy > 0.03) log(fmt("the machine is %.0f%% busy with other work: numbers will be noisy", 100 * busy));
  }
  double relay_sys0 = 0;
  const double relay_cpu0 = relays.cpu(&relay_sys0), self_cpu0 = self_cpu_s(), workers_cpu0 = audience->workers_cpu_s();
  const MachineCpu machine0 = MachineCpu::now();
  const auto t0 = Clock::now();
  log(fmt("publishing %zu track(s): %d objects/s, %zu-byte objects%s, groups of %d, %d subgroup(s), %d s", tracks_n,
          o.fps, sizes.size() == 1 ? sizes[0] : size_t(0), sizes.size() == 1 ? "" : " (sizes from file)", o.gop,
          o.subgroups, o.duration));
  publisher->start(publish_objects);
  std::mt19937 rng(42);
  std::vector<size_t> churnable;  // churn: subscribers that may leave
  uint64_t churned = 0, churn_failed = 0, joins = 0;
  std::vector<long> rss_samples;
  const auto window_end = t0 + std::chrono::seconds(o.duration);
  auto next_progress = t0 + 1s, next_join = t0 + 500ms;
  const auto churn_period = std::chrono::nanoseconds(1'000'000'000LL / std::max(1, o.churn_rate));
  auto next_churn = t0 + 1s;
  uint64_t last_objects = 0;
  double last_cpu = relay_cpu0;
  while (Clock::now() < window_end) {
    const auto now = Clock::now();
    if (join && joins < n && now >= next_join) {
      std::string err;
      joins += 1;
      if (audience->add(1, &err) != 1) failed = true, error = err;
      next_join += std::chrono::milliseconds(o.join_interval_ms);
    }
    if (churn && now >= next_churn) {
      // One leaves (never one of the first half, which stays for the whole run), one joins.
      if (churnable.empty())
        for (size_t i = n / 2; i < audience->size(); ++i) churnable.push_back(i);
      if (!churnable.empty()) {
        const size_t k = rng() % churnable.size();
        audience->remove(churnable[k]);
        churnable[k] = churnable.back();
        churnable.pop_back();
      }
      churnable.push_back(audience->size());  // the one that joins now
      std::string err;
      if (audience->add(1, &err) != 1) {
        ++churn_failed;
        log("a churn join failed: " + err);
      }
      ++churned;
      next_churn += churn_period;
    }
    if (now >= next_progress) {
      const Tally t = audience->tally(UINT64_MAX);
      const double cpu = relays.cpu();
      const long rss = relays.kb("VmRSS");
      rss_samples.push_back(rss);
      log(fmt("%2.0f s: %.0f objects/s delivered, %.1f Mbit/s%s", std::chrono::duration<double>(now - t0).count(),
              double(t.objects - last_objects), double(t.objects - last_objects) * 8 * double(sizes[0]) / 1e6,
              measured ? fmt(", relay %.0f%% CPU, RSS %.1f MB", 100 * (cpu - last_cpu), rss / 1024.0).c_str() : ""));
      last_objects = t.objects, last_cpu = cpu;
      next_progress += 1s;
    }
    std::this_thread::sleep_for(2ms);
  }
  // fanout/ingest/chain: wait for the last objects, until every subscriber has them all or --settle.
  const uint64_t expected = (join || churn) ? UINT64_MAX : total_objects;
  Tally tally = audience->tally(expected);
  if (!join && !churn) {
    const auto settle_end = Clock::now() + std::chrono::seconds(o.settle);
    while (!publisher->done() && Clock::now() < settle_end + 5s) std::this_thread::sleep_for(10ms);
    while (tally.complete < tally.subscribers && Clock::now() < settle_end) {
      std::this_thread::sleep_for(50ms);
      tally = audience->tally(expected);
    }
  }
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double relay_sys = 0;
  const double relay_cpu = relays.cpu(&relay_sys) - relay_cpu0;
  relay_sys -= relay_sys0;
  const double clients_cpu = (self_cpu_s() - self_cpu0) + (audience->workers_cpu_s() - workers_cpu0);
  const MachineCpu machine1 = MachineCpu::now();
  const double others = std::max(0.0, (machine1.busy_s - machine0.busy_s) - relay_cpu - clients_cpu);
  const long rss_end_kb = relays.kb("VmRSS"), hwm_kb = relays.kb("VmHWM");

  // 6. Figures.
  const double pub_s = double(std::min<uint64_t>(publisher->written(), total_objects)) / o.fps;
  // Over the publishing time, or the time the last subscriber took to get everything if longer
  // (a saturated relay falls behind: its rate is what it delivered, not what was offered).
  const double deliver_s = (join || churn) ? pub_s : std::max(pub_s, wall);
  const double egress_gbps = deliver_s > 0 ? double(tally.bytes) * 8 / deliver_s / 1e9 : 0;
  const double ingress_gbps = pub_s > 0 ? double(publisher->bytes_per_track()) * double(tracks_n) * 8 /
                                              (double(publisher->written()) / o.fps) / 1e9
                                        : 0;
  const double gb = double(tally.bytes) / 1e9;
  const double share = relay_cpu / wall;
  r.num("subscribers", double(n), 0, "subscribers");
  r.str("transport", o.transport + " / drafts " + o.drafts, "transport / drafts");
  r.num("client_loops", o.client_loops, 0);
  r.num("client_procs", o.client_procs, 0);
  r.num("relay_loops", o.relay_loops, 0);
  if (chain) r.num("hops", double(relays.quic_urls.size()), 0, "relays in the chain");
  r.num("tracks", double(tracks_n), 0, "tracks");
  r.num("fps", o.fps, 0);
  r.num("object_bytes", double(sizes[0]), 0);
  r.line(fmt("%-34s %d objects/s, %s, groups of %d objects, %d subgroup(s)", "track shape", o.fps,
             sizes.size() == 1 ? fmt("%zu-byte objects (%d kbit/s)", sizes[0], o.kbps).c_str()
                               : fmt("%zu object sizes from %s", sizes.size(), o.sizes_file.c_str()).c_str(),
             o.gop, o.subgroups));
  r.num("duration_s", o.duration, 0);
  r.num("connect_s", connect_s, 2, "connect + subscribe, all", "s");
  if (!join && !churn) {
    r.num("published_per_track", double(publisher->written()), 0, "objects published per track");
    r.num("delivered_objects", double(tally.objects), 0, "objects delivered (sum)");
    r.num("delivered_objects_per_s", double(tally.objects) / deliver_s, 0, "delivered objects/s", "");
    r.num("delivery_s", deliver_s, 2, "publishing -> last object delivered", "s");
    r.num("complete_subscribers", double(tally.complete), 0, "subscribers with every object");
    r.num("min_objects", tally.min_objects == UINT64_MAX ? 0 : double(tally.min_objects), 0,
          "fewest objects one subscriber got");
    r.num("duplicates", double(tally.duplicates), 0, "duplicate objects");
    r.num("subscriptions_ended_early", double(tally.ended), 0, "subscriptions ended early");
  }
  r.num("egress_gbps", egress_gbps, 3, "egress (payload)", "Gbit/s");
  if (ingest) r.num("ingress_gbps", ingress_gbps, 3, "ingress (payload)", "Gbit/s");
  if (measured) {
    r.num("relay_cpu_s", relay_cpu, 2);
    r.num("relay_cpu_share", share, 3);
    r.line(fmt("%-34s %.2f s in %.1f s = %.0f%% of one core", "relay CPU (user+sys)", relay_cpu, wall, 100 * share));
    r.num("relay_sys_s", relay_sys, 2);
    if (gb > 0) {
      r.num("relay_cpu_s_per_gb", relay_cpu / gb, 2);
      r.num("relay_user_s_per_gb", (relay_cpu - relay_sys) / gb, 2);
      r.num("relay_sys_s_per_gb", relay_sys / gb, 2);
      // On loopback the kernel time includes delivering into the subscribers' sockets.
      r.line(fmt("%-34s %.2f s (user %.2f + kernel %.2f)", "relay CPU per GB of egress", relay_cpu / gb,
                 (relay_cpu - relay_sys) / gb, relay_sys / gb));
    }
    if (ingest && ingress_gbps > 0)
      r.num("relay_cpu_s_per_gb_ingress", relay_cpu / (ingress_gbps * pub_s / 8), 2, "relay CPU per GB of ingress", "s");
    if (share > 0) r.num("relay_core_per_gbps", share / std::max(1e-9, egress_gbps), 3, "relay cores per Gbit/s egress");
    r.num("relay_rss_before_kb", double(rss_before_kb), 0);
    r.num("relay_rss_subscribed_kb", double(rss_subscribed_kb), 0);
    r.num("relay_rss_end_kb", double(rss_end_kb), 0);
    r.num("relay_vmhwm_kb", double(hwm_kb), 0);
    r.line(fmt("%-34s %.1f MB before subscribers, %.1f MB subscribed, %.1f MB at the end, max %.1f MB",
               "relay memory (RSS)", rss_before_kb / 1024.0, rss_subscribed_kb / 1024.0, rss_end_kb / 1024.0,
               hwm_kb / 1024.0));
    if (n > 0 && !join) {
      const double per = double(rss_subscribed_kb - rss_before_kb) / double(n);
      r.num("relay_kb_per_idle_subscriber", per, 1, "relay memory per idle subscriber", "KiB");
    }
  }
  r.num("clients_cpu_share", clients_cpu / wall, 3, "load generator CPU (share of one core)");
  r.num("others_cpu_s", others, 2, "CPU used by everything else", "s");
  if (!join && !churn) report_latency(r, "latency", "latency publish -> subscriber", tally.latency);
  if (chain) {
    // Hop k's added latency per object: its probe's receive time minus the previous hop's (the
    // publisher's send time for the first).
    const auto& sent = publisher->sent_ns();
    for (size_t k = 0; k < arrivals.size(); ++k) {
      Histogram h;
      for (size_t s = 0; s < total_objects && s < sent.size(); ++s) {
        const int64_t prev = k == 0 ? sent[s] : arrivals[k - 1][s];
        if (prev && arrivals[k][s]) h.add(uint64_t(std::max<int64_t>(0, arrivals[k][s] - prev)) / 1000);
      }
      report_latency(r, "hop" + std::to_string(k + 1), fmt("hop %zu added latency", k + 1).c_str(), h);
    }
  }
  if (join) {
    r.num("joined", double(tally.joined), 0, "joins measured");
    report_latency(r, "join_ok", "SUBSCRIBE -> SUBSCRIBE_OK", tally.join_ok);
    report_latency(r, "first_object", "SUBSCRIBE_OK -> first object", tally.first_obj);
    report_latency(r, "rtt", "smoothed RTT at the first object", tally.rtt);
    if (tally.joined) {
      r.num("first_within_rtt_pct", 100.0 * double(tally.first_within_rtt) / double(tally.joined), 1,
            "first object within one RTT of OK", "%");
      r.num("first_from_group_start_pct", 100.0 * double(tally.first_from_group_start) / double(tally.joined), 1,
            "first object starts a group (cache)", "%");
    }
  }
  if (churn) {
    r.num("churned", double(churned), 0, "subscribers replaced (leave + join)");
    r.num("churn_join_failures", double(churn_failed), 0, "joins refused during churn");
    std::string samples;
    for (long s : rss_samples) samples += fmt("%s%.1f", samples.empty() ? "" : " ", s / 1024.0);
    r.line(fmt("%-34s %s", "relay RSS each second (MB)", samples.c_str()));
  }
  if (ceiling.ok) {
    r.num("ceiling_udp_gbps", ceiling.udp_gbps, 2, "ceiling: UDP GSO, one sender core", "Gbit/s");
    r.num("ceiling_seal_gbps", ceiling.seal_gbps, 1, "ceiling: AES-128-GCM seal, one core", "Gbit/s");
    r.num("ceiling_quic_gbps", ceiling.quic_gbps, 2, "ceiling: one raw QUIC stream", "Gbit/s");
    if (ceiling.quic_snd_s_per_gb > 0)
      r.num("ceiling_quic_snd_s_per_gb", ceiling.quic_snd_s_per_gb, 2, "ceiling: QUIC sender CPU per GB", "s");
    if (ceiling.udp_snd_s_per_gb > 0)
      r.num("ceiling_udp_snd_s_per_gb", ceiling.udp_snd_s_per_gb, 2, "ceiling: UDP sender CPU per GB", "s");
    if (measured && gb > 0 && ceiling.quic_snd_s_per_gb > 0)
      r.num("relay_vs_quic_sender", (relay_cpu / gb) / ceiling.quic_snd_s_per_gb, 2,
            "relay s/GB / one QUIC stream's", "x");
    if (measured && share > 0 && ceiling.udp_gbps > 0)
      r.num("relay_egress_per_core_vs_udp_pct", 100 * (egress_gbps / share) / ceiling.udp_gbps, 1,
            "relay egress per core / UDP ceiling", "%");
  }
  r.print(o.json);
  if (o.check && !join && !churn && (tally.complete != tally.subscribers || tally.duplicates)) failed = true;

  // 7. Tear down: clients first, so the relays are not left with sessions to time out.
  audience.reset();
  probes.clear();
  publisher.reset();
  relays.stop();
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  gchar *relay = nullptr, *relay_bin = nullptr, *relay_log = nullptr, *quic_bench = nullptr, *transport = nullptr,
        *drafts = nullptr, *sizes = nullptr, *worker_tracks = nullptr;
  gchar** relay_args = nullptr;
  gboolean json = FALSE, no_ceiling = FALSE, quiet = FALSE, check = FALSE, worker = FALSE;
  GOptionEntry entries[] = {
      {"relay", 'r', 0, G_OPTION_ARG_STRING, &relay, "Drive this relay (moqt://HOST:PORT/PATH) instead of starting one", "URL"},
      {"relay-pid", 0, 0, G_OPTION_ARG_INT, &o.relay_pid, "With --relay: its pid, for CPU and memory", "PID"},
      {"relay-bin", 0, 0, G_OPTION_ARG_FILENAME, &relay_bin, "The moqt-relay to start (default: next to this binary)", "PATH"},
      {"relay-loops", 0, 0, G_OPTION_ARG_INT, &o.relay_loops, "The started relay's --loops (default 1)", "N"},
      {"relay-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &relay_args, "One more argument for the started relay (repeat)", "ARG"},
      {"relay-log", 0, 0, G_OPTION_ARG_FILENAME, &relay_log, "The started relay's stderr (default /dev/null)", "FILE"},
      {"subscribers", 'n', 0, G_OPTION_ARG_INT, &o.subscribers,
       "Subscribers (fanout 100, chain 10, join 50, churn 100; ingest: per track, 1)", "N"},
      {"publishers", 'm', 0, G_OPTION_ARG_INT, &o.publishers, "ingest: publishers, one track each (default 10)", "M"},
      {"hops", 0, 0, G_OPTION_ARG_INT, &o.hops, "chain: relays (default 3)", "H"},
      {"kbps", 'b', 0, G_OPTION_ARG_INT, &o.kbps, "Track bitrate in kbit/s (default 2000)", "K"},
      {"fps", 'f', 0, G_OPTION_ARG_INT, &o.fps, "Objects per second (default 25)", "N"},
      {"gop", 'g', 0, G_OPTION_ARG_INT, &o.gop, "Objects per group (default 50)", "N"},
      {"subgroups", 0, 0, G_OPTION_ARG_INT, &o.subgroups, "Subgroups per group: object k goes to k mod S (default 1)", "S"},
      {"object-sizes", 0, 0, G_OPTION_ARG_FILENAME, &sizes, "Object sizes from an IVF file's frames or a list of numbers", "FILE"},
      {"duration", 'd', 0, G_OPTION_ARG_INT, &o.duration, "Seconds of publishing (default 10)", "S"},
      {"settle", 0, 0, G_OPTION_ARG_INT, &o.settle, "Seconds to wait for the last objects (default 5)", "S"},
      {"transport", 't', 0, G_OPTION_ARG_STRING, &transport, "quic, wt or mix (default mix)", "T"},
      {"drafts", 0, 0, G_OPTION_ARG_STRING, &drafts, "Subscribers' drafts, round-robin (default 14,16,18)", "LIST"},
      {"client-loops", 'l', 0, G_OPTION_ARG_INT, &o.client_loops, "Subscriber loop threads (per process; default 1)", "N"},
      {"client-procs", 'p', 0, G_OPTION_ARG_INT, &o.client_procs, "Subscriber worker processes (default 0: in this one)", "N"},
      {"join-interval-ms", 0, 0, G_OPTION_ARG_INT, &o.join_interval_ms, "join: one subscriber every MS (default 100)", "MS"},
      {"churn-rate", 0, 0, G_OPTION_ARG_INT, &o.churn_rate, "churn: subscribers replaced per second (default 20)", "R"},
      {"quic-bench", 0, 0, G_OPTION_ARG_FILENAME, &quic_bench, "moqt-quic-bench for the ceiling (default: next to this binary)", "PATH"},
      {"no-ceiling", 0, 0, G_OPTION_ARG_NONE, &no_ceiling, "Do not measure the machine's ceiling first", nullptr},
      {"json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print one JSON object instead of text", nullptr},
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress lines, no idle wait", nullptr},
      {"check", 0, 0, G_OPTION_ARG_NONE, &check, "Exit 1 unless every subscriber got every object once", nullptr},
      {"worker", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &worker, "internal", nullptr},
      {"worker-tracks", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &worker_tracks, "internal", nullptr},
      {"worker-offset", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &o.worker_offset, "internal", nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* ctx = g_option_context_new("fanout|ingest|chain|join|churn - load and measure a MoQT relay");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  GError* gerr = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
    std::fprintf(stderr, "moqt-bench: %s\n", gerr->message);
    g_error_free(gerr);
    g_option_context_free(ctx);
    return 2;
  }
  g_option_context_free(ctx);
  auto take = [](gchar* s, std::string* out) {
    if (s) *out = s;
    g_free(s);
  };
  take(relay, &o.relay_url);
  take(relay_log, &o.relay_log);
  take(transport, &o.transport);
  take(drafts, &o.drafts);
  take(sizes, &o.sizes_file);
  take(worker_tracks, &o.worker_tracks);
  for (gchar** a = relay_args; a && *a; ++a) o.relay_args.push_back(*a);
  g_strfreev(relay_args);
  o.json = json, o.no_ceiling = no_ceiling, o.quiet = quiet, o.check = check, o.worker = worker;
  // This binary's own path (workers re-run it), and its neighbours.
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string self_path = len > 0 ? std::string(self, size_t(len)) : std::string(argv[0]);
  const std::string dir = self_path.substr(0, self_path.rfind('/') + 1);
  o.relay_bin = relay_bin ? relay_bin : dir + "moqt-relay";
  o.quic_bench = quic_bench ? quic_bench : dir + "moqt-quic-bench";
  g_free(relay_bin);
  g_free(quic_bench);
  if (o.worker) return run_worker(o);

  o.scenario = argc > 1 ? argv[1] : "";
  const std::vector<std::string> scenarios = {"fanout", "ingest", "chain", "join", "churn"};
  if (std::find(scenarios.begin(), scenarios.end(), o.scenario) == scenarios.end()) {
    std::fprintf(stderr, "moqt-bench: name a scenario: fanout, ingest, chain, join or churn (see --help)\n");
    return 2;
  }
  if (o.kbps < 1 || o.fps < 1 || o.gop < 1 || o.subgroups < 1 || o.duration < 1 || o.client_loops < 1 ||
      o.client_procs < 0 || o.publishers < 1 || o.hops < 1 || o.relay_loops < 1 || o.churn_rate < 1 ||
      o.join_interval_ms < 1) {
    std::fprintf(stderr, "moqt-bench: every count, rate and duration must be >= 1\n");
    return 2;
  }
  if (o.transport != "quic" && o.transport != "wt" && o.transport != "mix") {
    std::fprintf(stderr, "moqt-bench: --transport must be quic, wt or mix\n");
    return 2;
  }
  if ((o.scenario == "join" || o.scenario == "churn") && o.client_procs > 0) {
    std::fprintf(stderr, "moqt-bench: join and churn keep their subscribers in this process (no --client-procs)\n");
    return 2;
  }
  if (!o.relay_url.empty() && o.relay_url.rfind("moqt://", 0) != 0) {
    std::fprintf(stderr, "moqt-bench: --relay takes the moqt:// URL (WebTransport subscribers use https:// on the same port)\n");
    return 2;
  }
  return run(o, self_path);
}
