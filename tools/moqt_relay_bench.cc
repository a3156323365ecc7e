// moqt-relay-bench: fan-out cost of the real moqt-relay daemon (issue 17).
//
//   moqt-relay-bench [--relay PATH] [--subscribers 500] [--kbps 2000] [--fps 25] [--gop 50]
//                    [--duration 10] [--client-loops 1] [--relay-log FILE] [--json]
//
// Spawns the daemon (default: moqt-relay next to this binary) on 127.0.0.1:0, reads its first
// stdout line ({"listening":..,"port":..,"sha256":..}), connects one publisher and N subscribers
// from this process (raw QUIC and WebTransport, drafts 14/16/18 round-robin), and once every
// subscriber has its SUBSCRIBE_OK publishes one track at --kbps (--fps objects per second, a new
// group every --gop objects) for --duration seconds. Each payload starts with the publish time
// (steady clock of this process), so every receipt gives a publish -> receive latency.
//
// Prints: subscribers, objects/s delivered (sum over subscribers), egress payload Mbit/s, the
// relay's CPU (utime + stime from /proc/PID/stat, before/after the publishing window) as a share
// of one core and per GB of egress payload, the relay's max RSS (VmHWM), this process's CPU (the
// clients: on a small machine they may be the bottleneck, not the relay), delivery completeness
// per subscriber and latency percentiles. Nothing about speed is asserted; the exit status is 1
// only if the run itself failed (relay did not start, subscriptions refused).
#include <glib.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "moqt/session/client.h"

using namespace moqt;
using namespace moqt::session;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const TrackNamespace kNs{"bench"};
const FullTrackName kTrack{kNs, "video"};

int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

// One subscriber's receipts; touched only on its loop thread while the run goes.
struct Sub : SubscriptionHandler {
  bool ok = false, failed = false;
  uint64_t objects = 0, bytes = 0;
  std::vector<uint32_t> latency_us;
  void on_subscribe_ok(const SubscribeResult&) override { ok = true; }
  void on_subscribe_error(uint64_t, const std::string&) override { failed = true; }
  void on_object(const ReceivedObject& o) override {
    ++objects;
    bytes += o.payload.size();
    if (o.payload.size() >= 8) {
      int64_t sent = 0;
      std::memcpy(&sent, o.payload.data(), 8);
      latency_us.push_back(uint32_t(std::clamp<int64_t>((now_ns() - sent) / 1000, 0, UINT32_MAX)));
    }
  }
};

// The daemon's CPU seconds (utime + stime) from /proc/PID/stat.
double proc_cpu_s(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
  std::istringstream in(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

// A /proc/PID/status field in kB (VmHWM, VmRSS).
long proc_status_kb(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  return -1;
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Every subscriber's client endpoint holds a UDP socket here.
void raise_fd_limit(rlim_t want) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
  rl.rlim_cur = std::min(want, rl.rlim_max);
  setrlimit(RLIMIT_NOFILE, &rl);
}

struct Relay {
  pid_t pid = -1;
  uint16_t port = 0;
};

// Starts the daemon and waits (at most 10 s) for its first stdout line.
bool spawn_relay(const std::string& path, int max_sessions, int loops, const std::string& log, Relay* out) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    FILE* err = std::fopen(log.c_str(), "w");
    if (err) dup2(fileno(err), 2);
    const std::string ms = std::to_string(max_sessions), lp = std::to_string(loops);
    execl(path.c_str(), path.c_str(), "--listen", "127.0.0.1:0", "--max-sessions", ms.c_str(), "--drain-ms", "500",
          "--idle-timeout-ms", "30000", "--loops", lp.c_str(), (char*)nullptr);
    std::fprintf(stderr, "exec %s: %s\n", path.c_str(), std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  out->pid = pid;
  std::string line;
  const auto deadline = Clock::now() + 10s;
  char c;
  while (Clock::now() < deadline) {
    const ssize_t n = read(fds[0], &c, 1);
    if (n <= 0 || c == '\n') break;
    line.push_back(c);
  }
  close(fds[0]);  // the daemon prints nothing else on stdout
  const auto p = line.find("\"port\":");
  if (p == std::string::npos) return false;
  out->port = uint16_t(std::atoi(line.c_str() + p + 7));
  return out->port != 0;
}

double percentile(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, size_t(p / 100.0 * double(v.size())));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  gchar* relay_path = nullptr;
  gchar* relay_log = nullptr;
  int subscribers = 500, kbps = 2000, fps = 25, gop = 50, duration = 10, client_loops = 1, settle = 5, relay_loops = 1;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      {"relay", 'r', 0, G_OPTION_ARG_FILENAME, &relay_path, "The moqt-relay binary (default: next to this one)", "PATH"},
      {"subscribers", 'n', 0, G_OPTION_ARG_INT, &subscribers, "Subscribers (default 500)", "N"},
      {"kbps", 'b', 0, G_OPTION_ARG_INT, &kbps, "Track bitrate in kbit/s (default 2000)", "K"},
      {"fps", 'f', 0, G_OPTION_ARG_INT, &fps, "Objects per second (default 25)", "N"},
      {"gop", 'g', 0, G_OPTION_ARG_INT, &gop, "Objects per group (default 50)", "N"},
      {"duration", 'd', 0, G_OPTION_ARG_INT, &duration, "Seconds of publishing (default 10)", "S"},
      {"settle", 0, 0, G_OPTION_ARG_INT, &settle, "Seconds to wait for the last objects after publishing (default 5)", "S"},
      {"client-loops", 'l', 0, G_OPTION_ARG_INT, &client_loops, "Loop threads for the subscribers (default 1)", "N"},
      {"relay-loops", 0, 0, G_OPTION_ARG_INT, &relay_loops, "The daemon's --loops (default 1)", "N"},
      {"relay-log", 0, 0, G_OPTION_ARG_FILENAME, &relay_log, "The daemon's stderr goes here (default /dev/null)", "FILE"},
      {"json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print one JSON object instead of text", nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* ctx = g_option_context_new("- fan-out cost of the moqt-relay daemon");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  GError* gerr = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
    std::fprintf(stderr, "moqt-relay-bench: %s\n", gerr->message);
    g_error_free(gerr);
    g_option_context_free(ctx);
    return 2;
  }
  g_option_context_free(ctx);
  if (subscribers < 1 || kbps < 1 || fps < 1 || gop < 1 || duration < 1 || client_loops < 1) {
    std::fprintf(stderr, "moqt-relay-bench: every number must be >= 1\n");
    return 2;
  }
  std::string path;
  if (relay_path) {
    path = relay_path;
  } else {
    gchar* dir = g_path_get_dirname(argv[0]);
    path = std::string(dir) + "/moqt-relay";
    g_free(dir);
  }
  const size_t n = size_t(subscribers);
  const size_t object_bytes = std::max<size_t>(8, size_t(kbps) * 1000 / 8 / size_t(fps));
  const uint64_t total_objects = uint64_t(fps) * uint64_t(duration);
  raise_fd_limit(rlim_t(n + 256));
  signal(SIGPIPE, SIG_IGN);

  Relay relay;
  if (!spawn_relay(path, subscribers + 16, relay_loops, relay_log ? relay_log : "/dev/null", &relay)) {
    std::fprintf(stderr, "moqt-relay-bench: could not start %s\n", path.c_str());
    if (relay.pid > 0) kill(relay.pid, SIGKILL), waitpid(relay.pid, nullptr, 0);
    return 1;
  }
  auto stop_relay = [&] {
    kill(relay.pid, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      if (waitpid(relay.pid, nullptr, WNOHANG) == relay.pid) return;
      std::this_thread::sleep_for(10ms);
    }
    kill(relay.pid, SIGKILL);
    waitpid(relay.pid, nullptr, 0);
  };
  auto url = [&](bool wt) {
    return std::string(wt ? "https" : "moqt") + "://127.0.0.1:" + std::to_string(relay.port) + "/moq";
  };

  quic::EventLoop pub_loop;
  pub_loop.start("publisher");
  std::vector<std::unique_ptr<quic::EventLoop>> loops;
  for (int i = 0; i < client_loops; ++i) {
    loops.push_back(std::make_unique<quic::EventLoop>());
    loops.back()->start("subscribers");
  }
  auto loop_of = [&](size_t i) -> quic::EventLoop& { return *loops[i % loops.size()]; };
  std::deque<Sub> subs(n);
  // f(sub) for subscribers first..last-1, each on its loop thread (one task per loop).
  auto for_each = [&](size_t first, size_t last, auto f) {
    for (size_t k = 0; k < loops.size(); ++k)
      loops[k]->run_sync(
          [&] {
            for (size_t i = first; i < last; ++i)
              if (i % loops.size() == k) f(subs[i]);
          },
          30s);
  };

  // The publisher announces the namespace; the relay subscribes once.
  TrackRegistry registry;
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  std::unique_ptr<Client> pub;
  auto announced = std::make_shared<std::promise<bool>>();
  std::string err;
  pub_loop.run_sync([&] {
    registry.add(track);
    ClientConfig cc;
    cc.verify = quic::VerifyMode::kInsecure;
    cc.drafts = {Draft::k16};
    pub = Client::connect(pub_loop, url(false), cc, nullptr, &registry, &err);
    if (pub) pub->publish_namespace(kNs, [announced](bool ok, uint64_t) { announced->set_value(ok); });
  });
  auto af = announced->get_future();
  if (!pub || af.wait_for(10s) != std::future_status::ready || !af.get()) {
    std::fprintf(stderr, "moqt-relay-bench: the publisher could not announce: %s\n", err.c_str());
    pub_loop.run_sync([&] { pub.reset(); });
    stop_relay();
    return 1;
  }

  // Subscribers in batches: every combination of draft and transport, round-robin.
  const Draft drafts[] = {Draft::k14, Draft::k16, Draft::k18};
  std::vector<std::unique_ptr<Client>> clients(n);
  const auto connect_start = Clock::now();
  bool failed = false;
  for (size_t first = 0; first < n && !failed; first += 50) {
    const size_t last = std::min(n, first + 50);
    for (size_t i = first; i < last; ++i) {
      loop_of(i).run_sync([&, i] {
        ClientConfig cc;
        cc.verify = quic::VerifyMode::kInsecure;
        cc.drafts = {drafts[i % 3]};
        clients[i] = Client::connect(loop_of(i), url((i / 3) % 2), cc, nullptr, nullptr, &err);
        if (clients[i]) clients[i]->subscribe(kTrack, SubscribeOptions{}, &subs[i]);
      });
      if (!clients[i]) failed = true;
    }
    // Until each has its answer (at most 30 s a batch).
    const auto deadline = Clock::now() + 30s;
    size_t answered = 0, ok = 0;
    while (Clock::now() < deadline) {
      answered = ok = 0;
      for_each(first, last, [&](Sub& s) { answered += s.ok || s.failed, ok += s.ok; });
      if (answered == last - first) break;
      std::this_thread::sleep_for(5ms);
    }
    if (ok != last - first) {
      std::fprintf(stderr, "moqt-relay-bench: %zu of subscribers %zu..%zu not subscribed\n", last - first - ok, first,
                   last - 1);
      failed = true;
    }
  }
  const double connect_s = std::chrono::duration<double>(Clock::now() - connect_start).count();

  uint64_t published = 0;
  if (!failed) {
    std::fprintf(stderr, "moqt-relay-bench: %zu subscribers up in %.1f s; publishing %d kbit/s (%zu-byte objects at %d/s) for %d s\n",
                 n, connect_s, kbps, object_bytes, fps, duration);
    const double relay_cpu0 = proc_cpu_s(relay.pid), self_cpu0 = self_cpu_s();
    const auto t0 = Clock::now();
    // Objects on a fixed schedule (not drifting with timer lateness).
    std::atomic<bool> done{false};
    std::function<void()> tick = [&] {
      const uint64_t k = published;
      std::vector<uint8_t> payload(object_bytes, uint8_t(k));
      const int64_t t = now_ns();
      std::memcpy(payload.data(), &t, 8);
      Object o;
      o.location = {k / uint64_t(gop), k % uint64_t(gop)};
      o.payload = quic::SendBuffer::take(std::move(payload));
      track->write(std::move(o));
      if (++published >= total_objects) {
        done = true;
        return;
      }
      pub_loop.add_timer(t0 + std::chrono::nanoseconds(1'000'000'000LL * int64_t(published) / fps), [&] { tick(); });
    };
    pub_loop.run_sync([&] { tick(); });
    while (!done) std::this_thread::sleep_for(10ms);
    // The last objects: until every subscriber has them all, or --settle.
    const auto settle_end = Clock::now() + std::chrono::seconds(settle);
    while (Clock::now() < settle_end) {
      size_t behind = 0;
      for_each(0, n, [&](Sub& s) { behind += s.objects < total_objects; });
      if (behind == 0) break;
      std::this_thread::sleep_for(20ms);
    }
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double relay_cpu = proc_cpu_s(relay.pid) - relay_cpu0, self_cpu = self_cpu_s() - self_cpu0;
    const long hwm_kb = proc_status_kb(relay.pid, "VmHWM");

    uint64_t objects = 0, bytes = 0;
    size_t complete = 0;
    double min_pct = 100;
    std::vector<uint32_t> lat;
    for_each(0, n, [&](Sub& s) {
      objects += s.objects;
      bytes += s.bytes;
      min_pct = std::min(min_pct, 100.0 * double(s.objects) / double(total_objects));
      if (s.objects >= total_objects) ++complete;
      lat.insert(lat.end(), s.latency_us.begin(), s.latency_us.end());
    });
    // Rates over the publishing time (the settle wait only catches stragglers).
    const double pub_s = double(total_objects) / fps;
    const double egress_mbps = double(bytes) * 8 / pub_s / 1e6;
    const double gb = double(bytes) / 1e9;
    const double mean_pct = 100.0 * double(objects) / double(total_objects * n);
    const double p50 = percentile(lat, 50), p99 = percentile(lat, 99), pmax = percentile(lat, 100);
    if (json) {
      std::printf(
          "{\"subscribers\":%zu,\"kbps\":%d,\"fps\":%d,\"object_bytes\":%zu,\"duration_s\":%d,\"published\":%llu,"
          "\"delivered_objects_per_s\":%.0f,\"egress_mbps\":%.1f,\"relay_cpu_s\":%.2f,\"relay_cpu_share\":%.3f,"
          "\"relay_cpu_s_per_gb\":%.2f,\"relay_vmhwm_kb\":%ld,\"bench_cpu_share\":%.3f,\"complete_subscribers\":%zu,"
          "\"completeness_mean_pct\":%.2f,\"completeness_min_pct\":%.2f,\"latency_ms_p50\":%.2f,"
          "\"latency_ms_p99\":%.2f,\"latency_ms_max\":%.2f,\"connect_s\":%.1f}\n",
          n, kbps, fps, object_bytes, duration, (unsigned long long)total_objects, double(objects) / pub_s,
          egress_mbps, relay_cpu, relay_cpu / wall, gb > 0 ? relay_cpu / gb : 0, hwm_kb, self_cpu / wall, complete,
          mean_pct, min_pct, p50, p99, pmax, connect_s);
    } else {
      std::printf("subscribers              %zu (drafts 14/16/18, raw QUIC and WebTransport, round-robin)\n", n);
      std::printf("track                    %d kbit/s, %d objects/s of %zu bytes, groups of %d, %d s (%llu objects)\n",
                  kbps, fps, object_bytes, gop, duration, (unsigned long long)total_objects);
      std::printf("delivered                %.0f objects/s (sum over subscribers)\n", double(objects) / pub_s);
      std::printf("egress (payload)         %.1f Mbit/s\n", egress_mbps);
      std::printf("relay CPU                %.2f s in %.1f s wall = %.0f%% of one core; %.2f CPU s per GB egress\n",
                  relay_cpu, wall, 100 * relay_cpu / wall, gb > 0 ? relay_cpu / gb : 0);
      std::printf("relay max RSS (VmHWM)    %.1f MB\n", hwm_kb / 1024.0);
      std::printf("bench (clients) CPU      %.2f s = %.0f%% of one core\n", self_cpu, 100 * self_cpu / wall);
      std::printf("completeness             %zu of %zu subscribers got every object; mean %.2f%%, min %.2f%%\n",
                  complete, n, mean_pct, min_pct);
      std::printf("latency publish->receive p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", p50, p99, pmax);
      std::printf("connect + subscribe      %.1f s for all subscribers\n", connect_s);
    }
  }

  // Close (so the daemon is not left with sessions to time out), then stop it.
  for (size_t first = 0; first < n; first += 50)
    for (size_t i = first; i < std::min(n, first + 50); ++i)
      loop_of(i).run_sync([&] {
        if (clients[i]) clients[i]->close(0, "bench done");
      });
  pub_loop.run_sync([&] { pub->close(0, "bench done"); });
  std::this_thread::sleep_for(200ms);
  for (size_t i = 0; i < n; ++i) loop_of(i).run_sync([&] { clients[i].reset(); });
  pub_loop.run_sync([&] { pub.reset(); });
  stop_relay();
  for (auto& l : loops) l->stop();
  pub_loop.stop();
  return failed ? 1 : 0;
}
