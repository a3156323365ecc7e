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

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace moqtest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The moqt-relay daemon on 127.0.0.1, port 0; stopped (SIGTERM: drain) when this goes.
struct RelayProcess {
  GPid pid = 0;
  guint port = 0;
  std::string sha256;
  explicit RelayProcess(std::vector<std::string> extra = {}) {
    const char* bin = g_getenv("MOQT_RELAY");
    EXPECT_TRUE(bin) << "MOQT_RELAY: the moqt-relay binary";
    if (!bin) return;
    std::vector<std::string> args = {bin, "--listen", "127.0.0.1:0", "--drain-ms", "500"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    gint out = -1;
    GError* err = nullptr;
    if (!g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, G_SPAWN_DEFAULT, nullptr, nullptr, &pid, nullptr,
                                  &out, nullptr, &err)) {
      ADD_FAILURE() << "spawn moqt-relay: " << err->message;
      g_error_free(err);
      return;
    }
    FILE* f = fdopen(out, "r");
    char line[512] = {};
    if (f && std::fgets(line, sizeof line, f)) {
      const char* p = std::strstr(line, "\"port\":");
      if (p) port = guint(std::atoi(p + 7));
      const char* h = std::strstr(line, "\"sha256\":\"");
      if (h) sha256 = std::string(h + 10, 64);
    }
    if (f) std::fclose(f);
    EXPECT_GT(port, 0u) << "moqt-relay did not print its port: " << line;
  }
  ~RelayProcess() {
    if (!pid) return;
    kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(50ms);
    if (waitpid(pid, &status, WNOHANG) == 0) {
      ADD_FAILURE() << "moqt-relay did not drain and exit within 5 s of SIGTERM";
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    } else {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "moqt-relay exit status " << status;
    }
    g_spawn_close_pid(pid);
  }
  std::string url(const char* scheme, const std::string& query) const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + "/live/cam?" + query;
  }
};

// gst_parse_launch gives a lone element itself: put it in a pipeline (which has a bus).
inline GstElement* in_pipeline(GstElement* e) {
  if (!e || GST_IS_PIPELINE(e)) return e;
  GstElement* p = gst_pipeline_new(nullptr);
  gst_bin_add(GST_BIN(p), e);
  return p;
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
  std::string bus_error() {
    std::string text;
    GstBus* bus = gst_element_get_bus(p);
    while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError* e = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(m, &e, &dbg);
      text = std::string(e->message) + " (" + (dbg ? dbg : "") + ")";
      g_error_free(e);
      g_free(dbg);
      gst_message_unref(m);
    }
    gst_object_unref(bus);
    return text;
  }
  // Pulls up to `want` samples from the appsink `name`; stops early on an error.
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

}  // namespace moqtest
