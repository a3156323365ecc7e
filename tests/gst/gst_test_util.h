// Shared by the GStreamer tests that run the relay daemon and whole pipelines (moq_relay_test,
// studio tests): a moqt-relay process, and a parsed pipeline with its bus and appsinks.
#pragma once

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace moqtest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Starts `args` (argv[0] a path). With `out`, the child's stdout is a pipe whose read end goes
// there; else it is inherited. Returns 0 (and fails the test) if it cannot start.
inline GPid spawn_child(std::vector<std::string> args, gint* out = nullptr, GSpawnFlags flags = G_SPAWN_DEFAULT) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  GPid pid = 0;
  GError* err = nullptr;
  if (!g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, flags, nullptr, nullptr, &pid, nullptr, out, nullptr,
                                &err)) {
    ADD_FAILURE() << "spawn " << args[0] << ": " << err->message;
    g_error_free(err);
    return 0;
  }
  return pid;
}

// The first line a child prints on the pipe `fd` (closed here); blocks until it comes.
inline std::string first_line(gint fd) {
  FILE* f = fdopen(fd, "r");
  char line[1024] = {};
  if (f && !std::fgets(line, sizeof line, f)) line[0] = 0;
  if (f) std::fclose(f);
  return line;
}

// A field of a one-line JSON object such as moqt-relay's first stdout line: a number's digits or a
// string's text (no escapes in either); "" if absent.
inline std::string json_field(const std::string& line, const std::string& key) {
  const size_t at = line.find("\"" + key + "\":");
  if (at == std::string::npos) return "";
  size_t b = at + key.size() + 3;
  if (b < line.size() && line[b] == '"') {
    const size_t e = line.find('"', b + 1);
    return e == std::string::npos ? "" : line.substr(b + 1, e - b - 1);
  }
  size_t e = b;
  while (e < line.size() && std::isdigit(static_cast<unsigned char>(line[e]))) ++e;
  return line.substr(b, e - b);
}

// Sends `sig` and reaps the child within 5 s, else SIGKILLs it. Returns its wait status, or -1
// when it had to be killed. Sets pid to 0.
inline int stop_child(GPid& pid, int sig) {
  if (!pid) return 0;
  kill(pid, sig);
  int status = 0;
  for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(50ms);
  if (waitpid(pid, &status, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    status = -1;
  }
  g_spawn_close_pid(pid);
  pid = 0;
  return status;
}

// The moqt-relay daemon (MOQT_RELAY) with `args` after the binary; `line` is its first stdout
// line (JSON: port, sha256, metrics_port, http_port ...). Returns 0 if it did not start.
inline GPid spawn_relay(std::vector<std::string> args, std::string* line) {
  const char* bin = g_getenv("MOQT_RELAY");
  EXPECT_TRUE(bin) << "MOQT_RELAY: the moqt-relay binary";
  if (!bin) return 0;
  args.insert(args.begin(), bin);
  gint out = -1;
  const GPid pid = spawn_child(args, &out);
  if (pid) *line = first_line(out);
  return pid;
}

// The moqt-relay daemon on 127.0.0.1, port 0; stopped (SIGTERM: drain) when this goes.
struct RelayProcess {
  GPid pid = 0;
  guint port = 0;
  std::string sha256;
  explicit RelayProcess(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--drain-ms", "500"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string line;
    pid = spawn_relay(args, &line);
    port = guint(std::atoi(json_field(line, "port").c_str()));
    sha256 = json_field(line, "sha256");
    EXPECT_GT(port, 0u) << "moqt-relay did not print its port: " << line;
  }
  ~RelayProcess() {
    if (!pid) return;
    const int status = stop_child(pid, SIGTERM);
    EXPECT_NE(status, -1) << "moqt-relay did not drain and exit within 5 s of SIGTERM";
    if (status != -1) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "moqt-relay exit status " << status;
    }
  }
  std::string url(const char* scheme, const std::string& query) const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + "/live/cam?" + query;
  }
};

// Every error message on the bus of `p` so far, "message (debug)" each, joined by `sep`.
inline std::string bus_errors(GstElement* p, const char* sep = " ") {
  std::string text;
  GstBus* bus = gst_element_get_bus(p);
  while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* e = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(m, &e, &dbg);
    if (!text.empty()) text += sep;
    text += std::string(e->message) + " (" + (dbg ? dbg : "") + ")";
    g_error_free(e);
    g_free(dbg);
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return text;
}

// gst_parse_launch gives a lone element itself: put it in a pipeline (which has a bus).
inline GstElement* in_pipeline(GstElement* e) {
  if (!e || GST_IS_PIPELINE(e)) return e;
  GstElement* p = gst_pipeline_new(nullptr);
  gst_bin_add(GST_BIN(p), e);
  return p;
}

// Parses `desc` (a lone element goes into a pipeline), expects going to PLAYING to fail, and
// returns the errors it posted ("no pipeline" if it does not parse).
inline std::string start_failure(const std::string& desc) {
  GstElement* p = in_pipeline(gst_parse_launch(desc.c_str(), nullptr));
  if (!p) return "no pipeline";
  EXPECT_EQ(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE) << desc;
  std::string text = bus_errors(p, "\n");
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return text;
}

// For a failure message: every moqsrc/moqsink in `pipeline` (also inside playbin) with its
// state, its pads and its stats, and the pipeline's state.
inline std::string moq_report(GstElement* pipeline) {
  auto state = [](GstElement* e) {
    GstState cur = GST_STATE_VOID_PENDING, pending = GST_STATE_VOID_PENDING;
    gst_element_get_state(e, &cur, &pending, 0);
    return std::string(gst_element_state_get_name(cur)) +
           (pending != GST_STATE_VOID_PENDING ? std::string("->") + gst_element_state_get_name(pending) : "");
  };
  std::string out = std::string("pipeline ") + state(pipeline);
  GstIterator* it = gst_bin_iterate_recurse(GST_BIN(pipeline));
  GValue v = G_VALUE_INIT;
  while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
    GstElement* e = GST_ELEMENT(g_value_get_object(&v));
    GstElementFactory* f = gst_element_get_factory(e);
    const char* kind = f ? gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(f)) : "";
    if (g_str_equal(kind, "moqsrc") || g_str_equal(kind, "moqsink")) {
      gchar* name = gst_element_get_name(e);
      out += std::string("; ") + kind + " " + name + " " + state(e) + " pads [";
      g_free(name);
      for (GList* l = e->srcpads; l; l = l->next) {
        gchar* pn = gst_pad_get_name(GST_PAD(l->data));
        out += std::string(pn) + (gst_pad_is_linked(GST_PAD(l->data)) ? "" : "(unlinked)") + " ";
        g_free(pn);
      }
      out += "]";
      if (GST_IS_BIN(e))  // moqsrc's appsrcs: a live one left PAUSED sends nothing
        for (GList* l = GST_BIN(e)->children; l; l = l->next)
          out += std::string(" ") + GST_ELEMENT_NAME(l->data) + ":" + state(GST_ELEMENT(l->data));
      GstStructure* st = nullptr;
      g_object_get(e, "stats", &st, nullptr);
      if (st) {
        gchar* text = gst_structure_to_string(st);
        out += std::string(" ") + text;
        g_free(text);
        gst_structure_free(st);
      }
    }
    g_value_reset(&v);
  }
  g_value_unset(&v);
  gst_iterator_free(it);
  return out;
}

struct Pipeline {
  GstElement* p = nullptr;
  explicit Pipeline(const std::string& desc) {
    GError* err = nullptr;
    p = in_pipeline(gst_parse_launch(desc.c_str(), &err));
    EXPECT_TRUE(p) << desc << ": " << (err ? err->message : "?");
    if (err) g_error_free(err);
    if (p) {
      EXPECT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    }
  }
  ~Pipeline() {
    if (!p) return;
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(p);
  }
  std::string bus_error() { return bus_errors(p); }
  // Pulls up to `want` samples from the appsink `name`; stops early on an error. Short of `want`,
  // `error` also gets moq_report() to say where the data stopped.
  int pull(const char* name, int want, std::chrono::seconds limit, std::string* error) {
    GstElement* sink = gst_bin_get_by_name(GST_BIN(p), name);
    EXPECT_TRUE(sink) << name;
    if (!sink) return 0;
    int n = 0;
    const auto end = Clock::now() + limit;
    while (n < want && Clock::now() < end) {
      if (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 50 * GST_MSECOND)) {
        ++n;
        gst_sample_unref(s);
      }
      if (std::string e = bus_error(); !e.empty()) {
        *error = e;
        break;
      }
    }
    gst_object_unref(sink);
    if (n < want) *error += " [" + moq_report(p) + "]";
    return n;
  }
};

// A child in its own process group (xvfb-run and OBS spawn children of their own), its output in
// a log file; killed with the whole group when this goes.
struct Child {
  GPid pid = 0;
  std::string log;
  Child(const std::vector<std::string>& args, const std::string& log_path, const std::vector<std::string>& env = {})
      : log(log_path) {
    std::vector<char*> argv;
    std::vector<std::string> a = args;
    for (auto& x : a) argv.push_back(x.data());
    argv.push_back(nullptr);
    gchar** envp = g_get_environ();
    for (const auto& kv : env) {
      const auto eq = kv.find('=');
      envp = g_environ_setenv(envp, kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str(), TRUE);
    }
    GError* err = nullptr;
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    GSpawnChildSetupFunc setup = [](gpointer p) {
      setpgid(0, 0);
      const int f = GPOINTER_TO_INT(p);
      dup2(f, 1);
      dup2(f, 2);
    };
    if (!g_spawn_async(nullptr, argv.data(), envp, GSpawnFlags(G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH), setup,
                       GINT_TO_POINTER(fd), &pid, &err)) {
      ADD_FAILURE() << "spawn " << args[0] << ": " << err->message;
      g_error_free(err);
      pid = 0;
    }
    close(fd);
    g_strfreev(envp);
  }
  bool running() {
    int st = 0;
    return pid && waitpid(pid, &st, WNOHANG) == 0;
  }
  // SIGTERM to the group, then SIGKILL after `grace`.
  void stop(std::chrono::milliseconds grace = 3000ms) {
    if (!pid) return;
    kill(-pid, SIGTERM);
    int st = 0;
    const auto end = Clock::now() + grace;
    while (waitpid(pid, &st, WNOHANG) == 0 && Clock::now() < end) std::this_thread::sleep_for(50ms);
    kill(-pid, SIGKILL);
    waitpid(pid, &st, 0);
    g_spawn_close_pid(pid);
    pid = 0;
  }
  std::string output() const {
    std::ifstream f(log);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  ~Child() { stop(); }
};


// What the elements logged, shown only when a test fails: GStreamer's ring-buffer logger keeps
// the last lines of each thread (INFO of the MoQ elements and of the playback bins), and a
// failed test prints the newest of them from its own run, in time order. GST_DEBUG set by hand
// keeps GStreamer's usual stderr output instead.
class FailureLog : public ::testing::EmptyTestEventListener {
 public:
  static void install(const char* levels = "*:3,moqsrc:4,moqsink:4,moqrelay:4,playbin:4,uridecodebin:4,"
                                            "decodebin:4,playsink:4") {
    if (g_getenv("GST_DEBUG")) return;
    gst_debug_set_colored(FALSE);
    gst_debug_remove_log_function(nullptr);  // the default (stderr) one
    gst_debug_set_threshold_from_string(levels, TRUE);
    gst_debug_add_ring_buffer_logger(256 * 1024, 60);
    init_time() = gst_util_get_timestamp();  // just after gst_init: the log's time base
    ::testing::UnitTest::GetInstance()->listeners().Append(new FailureLog);
  }
  void OnTestStart(const ::testing::TestInfo&) override { start_ = gst_util_get_timestamp() - init_time(); }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (!info.result() || !info.result()->Failed()) return;
    std::vector<std::pair<GstClockTime, std::string>> lines;
    gchar** logs = gst_debug_ring_buffer_logger_get_logs();
    for (gchar** l = logs; l && *l; ++l) {
      std::string text = *l;
      for (size_t at = 0; at < text.size();) {
        size_t nl = text.find('\n', at);
        if (nl == std::string::npos) nl = text.size();
        std::string line = text.substr(at, nl - at);
        at = nl + 1;
        guint h = 0, m = 0, sec = 0, ns = 0;
        if (sscanf(line.c_str(), "%u:%u:%u.%u", &h, &m, &sec, &ns) != 4) continue;
        const GstClockTime t = ((h * 60 + m) * 60 + sec) * GST_SECOND + ns;
        if (t >= start_) lines.emplace_back(t, line);
      }
    }
    g_strfreev(logs);
    std::stable_sort(lines.begin(), lines.end(), [](auto& a, auto& b) { return a.first < b.first; });
    const size_t show = std::min<size_t>(lines.size(), 120);
    printf("--- the last %zu log lines of %s (of %zu) ---\n", show, info.name(), lines.size());
    for (size_t i = lines.size() - show; i < lines.size(); ++i) printf("%s\n", lines[i].second.c_str());
    printf("--- end of log ---\n");
    fflush(stdout);
  }

 private:
  static GstClockTime& init_time() {
    static GstClockTime t = 0;
    return t;
  }
  GstClockTime start_ = 0;
};

}  // namespace moqtest
