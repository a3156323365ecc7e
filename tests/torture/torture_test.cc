// Our subscribers against moqt-torture (a publisher of every legal but unusual form, see
// moqt_torture.cc), per draft and transport: moqt-clock counts exactly the Normal objects and
// ends cleanly; moqsrc turns exactly the non-empty Normal objects into buffers (into an appsink)
// and ends with EOS; moqsrc into a real H.264 decoder decodes every frame written. All under
// G_DEBUG=fatal-criticals. Each run gets a fresh publisher (scripts play once).
#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <chrono>
#include <regex>
#include <string>

namespace {

struct Variant {
  const char* name;
  const char* scheme;
  int draft;
};

// A running moqt-torture and what it promises.
class Torture {
 public:
  explicit Torture(int draft) {
    const char* exe = g_getenv("MOQT_TORTURE");
    EXPECT_TRUE(exe) << "MOQT_TORTURE is not set";
    if (!exe) return;
    GError* err = nullptr;
    const std::string d = std::to_string(draft);
    proc_ = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, &err, exe, "--draft", d.c_str(), "--timeout", "90", nullptr);
    EXPECT_TRUE(proc_) << (err ? err->message : "?");
    if (!proc_) return;
    GDataInputStream* in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc_));
    gchar* line = g_data_input_stream_read_line_utf8(in, nullptr, nullptr, nullptr);
    g_object_unref(in);
    EXPECT_TRUE(line) << "moqt-torture printed nothing";
    if (!line) return;
    JsonParser* parser = json_parser_new();
    if (json_parser_load_from_data(parser, line, -1, nullptr)) {
      JsonObject* o = json_node_get_object(json_parser_get_root(parser));
      port = int(json_object_get_int_member(o, "port"));
      forms_normal = int(json_object_get_int_member(o, "forms_normal"));
      forms_nonempty = int(json_object_get_int_member(o, "forms_nonempty"));
      forms_uncertain = int(json_object_get_int_member(o, "forms_uncertain"));
      video_frames = int(json_object_get_int_member(o, "video_frames"));
      video_uncertain = int(json_object_get_int_member(o, "video_uncertain"));
    }
    g_object_unref(parser);
    EXPECT_GT(port, 0) << line;
    g_free(line);
  }
  ~Torture() {
    if (!proc_) return;
    g_subprocess_force_exit(proc_);
    g_subprocess_wait(proc_, nullptr, nullptr);
    g_object_unref(proc_);
  }
  std::string uri(const Variant& v, const std::string& path) const {
    return std::string(v.scheme) + "://127.0.0.1:" + std::to_string(port) + path;
  }
  int port = 0, forms_normal = 0, forms_nonempty = 0, forms_uncertain = 0, video_frames = 0, video_uncertain = 0;

 private:
  GSubprocess* proc_ = nullptr;
};

// Pulls buffers from the appsink "out" until EOS (or `limit`); returns how many, and the sizes seen.
struct Pulled {
  int buffers = 0;
  size_t largest = 0;
  bool eos = false;
  std::string error;
};
Pulled pull_until_eos(GstElement* pipeline, std::chrono::seconds limit) {
  Pulled r;
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  GstBus* bus = gst_element_get_bus(pipeline);
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end && r.error.empty()) {
    if (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 100 * GST_MSECOND)) {
      r.largest = std::max<size_t>(r.largest, gst_buffer_get_size(gst_sample_get_buffer(s)));
      ++r.buffers;
      gst_sample_unref(s);
    } else if (gst_app_sink_is_eos(GST_APP_SINK(sink))) {
      r.eos = true;
      break;
    }
    while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError* e = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(m, &e, &dbg);
      r.error = std::string(e->message) + " | " + (dbg ? dbg : "");
      g_error_free(e);
      g_free(dbg);
      gst_message_unref(m);
    }
  }
  gst_object_unref(bus);
  gst_object_unref(sink);
  return r;
}

Pulled play(const std::string& desc) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  EXPECT_TRUE(p) << desc << ": " << (err ? err->message : "?");
  if (!p) return {};
  EXPECT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Pulled r = pull_until_eos(p, std::chrono::seconds(40));
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return r;
}

class TortureRun : public ::testing::TestWithParam<Variant> {};

TEST_P(TortureRun, MoqtClockCountsExactlyTheNormalObjects) {
  const Variant v = GetParam();
  const char* clock = g_getenv("MOQT_CLOCK");
  if (!clock) GTEST_SKIP() << "moqt-clock not built (tools disabled)";
  Torture t(v.draft);
  ASSERT_GT(t.port, 0);
  GError* err = nullptr;
  const std::string url = t.uri(v, "/moq"), d = std::to_string(v.draft);
  GSubprocess* p = g_subprocess_new(GSubprocessFlags(G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE), &err,
                                    clock, "subscribe", "--connect", url.c_str(), "--insecure", "--draft", d.c_str(),
                                    "--namespace", "torture", "--track", "forms", "--timeout", "40", nullptr);
  ASSERT_TRUE(p) << (err ? err->message : "?");
  gchar* errout = nullptr;
  ASSERT_TRUE(g_subprocess_communicate_utf8(p, nullptr, nullptr, nullptr, &errout, nullptr));
  const std::string log = errout ? errout : "";
  g_free(errout);
  EXPECT_TRUE(g_subprocess_get_successful(p)) << log;
  g_object_unref(p);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("(\\d+) objects received"))) << log;
  const int n = std::stoi(m[1]);
  EXPECT_GE(n, t.forms_normal) << log;
  EXPECT_LE(n, t.forms_normal + t.forms_uncertain) << log;
  EXPECT_NE(log.find("END_OF_GROUP"), std::string::npos) << "status objects are reported as such\n" << log;
  EXPECT_EQ(log.find("closing with"), std::string::npos) << log;
}

TEST_P(TortureRun, MoqsrcMakesBuffersOfExactlyTheMediaObjects) {
  const Variant v = GetParam();
  Torture t(v.draft);
  ASSERT_GT(t.port, 0);
  Pulled r = play("moqsrc uri=\"" + t.uri(v, "/torture") + "?tls-insecure=true&draft=" + std::to_string(v.draft) +
                  "\" track=forms caps=application/x-torture ! appsink name=out sync=false max-buffers=10000");
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.eos) << "END_OF_TRACK / PUBLISH_DONE did not end the pad";
  EXPECT_GE(r.buffers, t.forms_nonempty);
  EXPECT_LE(r.buffers, t.forms_nonempty + t.forms_uncertain);
  EXPECT_EQ(r.largest, size_t(4) << 20) << "the 4 MB object";
}

TEST_P(TortureRun, MoqsrcIntoARealDecoderDecodesEveryFrame) {
  const Variant v = GetParam();
  Torture t(v.draft);
  ASSERT_GT(t.port, 0);
  Pulled r = play("moqsrc uri=\"" + t.uri(v, "/torture") + "?tls-insecure=true&draft=" + std::to_string(v.draft) +
                  "\" track=video caps=video/x-h264,stream-format=byte-stream,alignment=au ! h264parse ! avdec_h264 ! "
                  "appsink name=out sync=false max-buffers=10000");
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.eos) << "END_OF_TRACK did not end the pad";
  EXPECT_GE(r.buffers, t.video_frames);
  EXPECT_LE(r.buffers, t.video_frames + t.video_uncertain);
}

const Variant kVariants[] = {{"quic_14", "moqt", 14}, {"quic_16", "moqt", 16}, {"quic_18", "moqt", 18},
                             {"wt_14", "https", 14},  {"wt_16", "https", 16},  {"wt_18", "https", 18}};
INSTANTIATE_TEST_SUITE_P(Forms, TortureRun, ::testing::ValuesIn(kVariants),
                         [](const auto& i) { return std::string(i.param.name); });

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
