// moqt-torture: a publisher on our engine that emits every legal but unusual form a MoQT
// publisher may send, so subscribers (moqt-clock, moqsrc) can be checked against them. It listens
// (raw QUIC and WebTransport on one port, drafts 14/16/18) and serves namespace "torture":
//
//   forms  every object status (END_OF_GROUP / END_OF_TRACK on streams and as datagrams,
//          DOES_NOT_EXIST at -14), zero-length Normal objects, gaps in group and object ids,
//          unknown properties, each subgroup header form (compact, explicit id, first-object
//          id, end-of-group), 200 subgroups in one group, a 4 MB object, a group ended by a
//          stream reset; then END_OF_TRACK as a datagram and PUBLISH_DONE.
//   video  real H.264 (x264enc, 10-frame GOPs) with the same decorations around the frames: a
//          status object ending each group, an empty object, unknown properties, a skipped
//          group, a group cut short by a reset, END_OF_TRACK on a stream.
//
// Each track plays its script once, when its first subscriber arrives. The first stdout line
// says where to connect and what a correct subscriber receives:
//   {"port":P,"sha256":"..","forms_normal":N,"forms_nonempty":M,"forms_uncertain":U,
//    "video_frames":F,"video_uncertain":V}
// (normal = Normal objects incl. empty ones; nonempty = those with payload, i.e. media buffers;
// uncertain = objects written to a subgroup that is then reset: they may or may not arrive.)
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "moqt/session/endpoint.h"

using namespace moqt;
using namespace moqt::session;
using wire::KeyValuePair;
using wire::SubgroupIdMode;

namespace {

std::atomic<bool> g_stop{false};

// One step of a script: objects to write (or a subgroup to reset), then a pause.
struct Step {
  std::vector<Object> objects;
  std::optional<std::pair<uint64_t, uint64_t>> reset;  // (group, subgroup)
  bool finish = false;                                  // PUBLISH_DONE
  std::chrono::milliseconds pause{20};
};

Object object(uint64_t group, uint64_t id, size_t bytes, ObjectStatus status = ObjectStatus::kNormal) {
  Object o;
  o.location = {group, id};
  o.status = status;
  std::vector<uint8_t> payload(bytes);
  for (size_t i = 0; i < bytes; ++i) payload[i] = uint8_t('a' + (group + id + i) % 26);
  o.payload = quic::SendBuffer::take(std::move(payload));
  return o;
}

// Unknown properties (even type: integer, odd: bytes), ascending as drafts >= 16 require.
KeyValueList unknown_properties() {
  return {KeyValuePair::integer(0x3e, 12345), KeyValuePair::bytes(0x3f, "torture")};
}

struct Counts {
  int normal = 0, nonempty = 0, uncertain = 0;
};

// The "forms" script for draft `d`.
std::vector<Step> forms_script(wire::Draft d, Counts* c) {
  std::vector<Step> steps;
  auto add = [&](Step s) {
    for (const Object& o : s.objects) {
      if (o.status != ObjectStatus::kNormal) continue;
      ++c->normal;
      if (!o.payload.data.empty()) ++c->nonempty;
    }
    steps.push_back(std::move(s));
  };
  // Group 0: properties nobody knows, an empty object, END_OF_GROUP on the stream.
  Step g0;
  for (uint64_t i = 0; i < 5; ++i) {
    Object o = object(0, i, 8);
    o.properties = unknown_properties();
    g0.objects.push_back(std::move(o));
  }
  g0.objects.push_back(object(0, 5, 0));
  g0.objects.push_back(object(0, 6, 0, ObjectStatus::kEndOfGroup));
  add(std::move(g0));
  // Group 1 never exists; group 2 skips object ids.
  Step g2;
  for (uint64_t i : {0, 3, 7}) g2.objects.push_back(object(2, i, 8));
  g2.objects.push_back(object(2, 8, 0, ObjectStatus::kEndOfGroup));
  add(std::move(g2));
  // Group 3: each subgroup header form.
  Step g3;
  for (uint64_t i : {0, 1}) {
    Object o = object(3, i, 8);
    o.header_mode = SubgroupIdMode::kExplicit;  // subgroup 0 with an explicit id field
    g3.objects.push_back(std::move(o));
  }
  for (uint64_t i : {5, 6}) {
    Object o = object(3, i, 8);
    o.subgroup = 5;
    o.header_mode = SubgroupIdMode::kFirstObject;  // the id is the first object's
    g3.objects.push_back(std::move(o));
  }
  Object last = object(3, 9, 8);
  last.subgroup = 9;
  last.end_of_group_header = true;  // this subgroup holds the group's last object
  g3.objects.push_back(std::move(last));
  add(std::move(g3));
  // Group 4: 200 subgroups, one object each.
  Step g4;
  for (uint64_t i = 0; i < 200; ++i) {
    Object o = object(4, i, 4);
    o.subgroup = i;
    g4.objects.push_back(std::move(o));
  }
  g4.pause = std::chrono::milliseconds(100);
  add(std::move(g4));
  // Group 5: one 4 MB object.
  Step g5;
  g5.objects.push_back(object(5, 0, 4 << 20));
  g5.pause = std::chrono::milliseconds(300);
  add(std::move(g5));
  // Group 6: datagrams, ending with an END_OF_GROUP datagram.
  Step g6;
  for (uint64_t i = 0; i < 3; ++i) {
    Object o = object(6, i, 16);
    o.datagram = true;
    g6.objects.push_back(std::move(o));
  }
  Object eog = object(6, 3, 0, ObjectStatus::kEndOfGroup);
  eog.datagram = true;
  g6.objects.push_back(std::move(eog));
  add(std::move(g6));
  // Group 7: a subgroup that ends with a reset instead of a FIN.
  Step g7;
  for (uint64_t i = 0; i < 3; ++i) g7.objects.push_back(object(7, i, 8));
  g7.pause = std::chrono::milliseconds(200);
  c->uncertain += 3;
  c->normal -= 3;  // counted as uncertain, not as sure
  c->nonempty -= 3;
  add(std::move(g7));
  Step r7;
  r7.reset = std::make_pair(uint64_t(7), uint64_t(0));
  steps.push_back(std::move(r7));
  // Group 8: DOES_NOT_EXIST (-14 only) before a Normal object.
  Step g8;
  if (d == wire::Draft::k14) g8.objects.push_back(object(8, 0, 0, ObjectStatus::kDoesNotExist));
  g8.objects.push_back(object(8, 1, 8));
  g8.pause = std::chrono::milliseconds(1000);  // everything above is delivered before the end
  add(std::move(g8));
  // The end: END_OF_TRACK as a datagram (group 9 is a new group, so group 8's streams FIN), then
  // PUBLISH_DONE for subscribers that lost the datagram.
  Step end;
  Object eot = object(9, 0, 0, ObjectStatus::kEndOfTrack);
  eot.datagram = true;
  end.objects.push_back(std::move(eot));
  end.pause = std::chrono::milliseconds(1000);
  add(std::move(end));
  Step done;
  done.finish = true;
  steps.push_back(std::move(done));
  return steps;
}

// H.264 access units from a real encoder, with their keyframe flags.
std::vector<std::pair<std::vector<uint8_t>, bool>> encode_h264(int frames) {
  std::vector<std::pair<std::vector<uint8_t>, bool>> out;
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(
      ("videotestsrc num-buffers=" + std::to_string(frames) +
       " ! video/x-raw,width=160,height=120,framerate=30/1 ! x264enc tune=zerolatency key-int-max=10 "
       "speed-preset=ultrafast ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=out sync=false")
          .c_str(),
      &err);
  if (!p) {
    std::fprintf(stderr, "moqt-torture: cannot encode H.264: %s\n", err ? err->message : "?");
    if (err) g_error_free(err);
    return out;
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "out");
  gst_element_set_state(p, GST_STATE_PLAYING);
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_SECOND)) {
    GstBuffer* b = gst_sample_get_buffer(s);
    GstMapInfo m;
    if (gst_buffer_map(b, &m, GST_MAP_READ)) {
      out.emplace_back(std::vector<uint8_t>(m.data, m.data + m.size), !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT));
      gst_buffer_unmap(b, &m);
    }
    gst_sample_unref(s);
  }
  gst_object_unref(sink);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return out;
}

// The "video" script: one group per GOP, decorated; group ids skip one; one GOP is cut short by a
// reset after its 4th frame (its later frames are never written).
std::vector<Step> video_script(const std::vector<std::pair<std::vector<uint8_t>, bool>>& aus, int* frames,
                               int* uncertain) {
  std::vector<Step> steps;
  uint64_t group = 0, next = 0;
  int gop = -1;
  bool cut = false;
  for (const auto& [bytes, key] : aus) {
    if (key) {
      if (gop >= 0) {  // close the previous group with END_OF_GROUP
        Step s;
        if (!cut) s.objects.push_back(object(group, next, 0, ObjectStatus::kEndOfGroup));
        steps.push_back(std::move(s));
        group += gop == 1 ? 2 : 1;  // group 2 never exists
      }
      ++gop;
      next = 0;
      cut = false;
    }
    if (cut) continue;
    Step s;
    Object o;
    o.location = {group, next++};
    o.properties = unknown_properties();
    o.payload = quic::SendBuffer::copy(bytes);
    s.objects.push_back(std::move(o));
    if (gop == 1 && next == 3) s.objects.push_back(object(group, next++, 0));  // an empty object mid-GOP
    s.pause = std::chrono::milliseconds(33);
    steps.push_back(std::move(s));
    if (gop == 3 && next == 4) {  // the 4th GOP: reset after 4 frames
      *uncertain += 4;
      Step r;
      r.pause = std::chrono::milliseconds(200);
      steps.back().pause = r.pause;
      r.reset = std::make_pair(group, uint64_t(0));
      steps.push_back(std::move(r));
      cut = true;
      continue;
    }
    ++*frames;
  }
  Step end;
  end.objects.push_back(object(group, next, 0, ObjectStatus::kEndOfGroup));
  end.pause = std::chrono::milliseconds(1000);
  steps.push_back(std::move(end));
  Step eot;
  eot.objects.push_back(object(group + 1, 0, 0, ObjectStatus::kEndOfTrack));
  eot.pause = std::chrono::milliseconds(1000);
  steps.push_back(std::move(eot));
  Step done;
  done.finish = true;
  steps.push_back(std::move(done));
  return steps;
}

// Plays a script on the loop thread, one step per timer.
struct Player {
  quic::EventLoop& loop;
  std::shared_ptr<TrackPublisher> track;
  std::vector<Step> steps;
  size_t next = 0;
  bool started = false, done = false;
  void step() {
    if (next >= steps.size()) {
      done = true;
      return;
    }
    Step& s = steps[next++];
    for (Object& o : s.objects) {
      if (!track->write(std::move(o)))
        std::fprintf(stderr, "moqt-torture: %s refused an object\n", track->name().name.c_str());
    }
    if (s.reset) track->reset_subgroup(s.reset->first, s.reset->second);
    if (s.finish) track->finish();
    loop.add_timer(s.pause, [this] { step(); });
  }
};

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  gchar* listen = nullptr;
  int draft = 0, timeout_s = 60;
  GOptionEntry entries[] = {
      {"listen", 'l', 0, G_OPTION_ARG_STRING, &listen, "Address to listen on (default 127.0.0.1:0)", "ADDR:PORT"},
      {"draft", 'd', 0, G_OPTION_ARG_INT, &draft, "Script for this draft (14, 16, 18; 0 = 18)", "N"},
      {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s, "Exit after this long (s)", "S"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* ctx = g_option_context_new("- MoQT publisher of unusual but legal forms");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  GError* gerr = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
    std::fprintf(stderr, "moqt-torture: %s\n", gerr->message);
    return 2;
  }
  g_option_context_free(ctx);
  const wire::Draft d = draft == 14 ? wire::Draft::k14 : draft == 16 ? wire::Draft::k16 : wire::Draft::k18;
  signal(SIGINT, [](int) { g_stop = true; });
  signal(SIGTERM, [](int) { g_stop = true; });

  Counts forms;
  std::vector<Step> forms_steps = forms_script(d, &forms);
  int frames = 0, frames_uncertain = 0;
  std::vector<Step> video_steps = video_script(encode_h264(60), &frames, &frames_uncertain);

  quic::EventLoop loop;
  loop.start("torture");
  TrackRegistry registry;
  TrackOptions to;
  to.cache_bytes = 64 << 20;
  Player forms_player{loop, std::make_shared<TrackPublisher>(FullTrackName{{"torture"}, "forms"}, to),
                      std::move(forms_steps)};
  Player video_player{loop, std::make_shared<TrackPublisher>(FullTrackName{{"torture"}, "video"}, to),
                      std::move(video_steps)};
  std::string err;
  auto cert = quic::generate_self_signed({"localhost", "127.0.0.1"}, 1, &err);
  if (!cert) {
    std::fprintf(stderr, "moqt-torture: %s\n", err.c_str());
    return 1;
  }
  ServerConfig sc;
  sc.listen = listen ? listen : "127.0.0.1:0";
  sc.cert = *cert;
  sc.drafts = {d};
  std::unique_ptr<Server> server;
  loop.run_sync([&] {
    for (Player* p : {&forms_player, &video_player}) {
      registry.add(p->track);
      p->track->set_on_subscribers([p](size_t n) {
        if (n > 0 && !std::exchange(p->started, true)) p->step();
      });
    }
    server = Server::start(loop, sc, &registry, nullptr, &err);
  });
  if (!server) {
    std::fprintf(stderr, "moqt-torture: %s\n", err.c_str());
    return 1;
  }
  std::printf(
      "{\"port\":%u,\"sha256\":\"%s\",\"forms_normal\":%d,\"forms_nonempty\":%d,\"forms_uncertain\":%d,"
      "\"video_frames\":%d,\"video_uncertain\":%d}\n",
      unsigned(server->address().port()), cert->sha256_hex.c_str(), forms.normal, forms.nonempty, forms.uncertain,
      frames, frames_uncertain);
  std::fflush(stdout);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    bool all_done = true;
    loop.run_sync([&] { all_done = (forms_player.done || !forms_player.started) && (video_player.done || !video_player.started) &&
                                   (forms_player.started || video_player.started); });
    if (g_stop || all_done || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the last bytes go
  loop.run_sync([&] {
    server.reset();
    forms_player.track.reset();
    video_player.track.reset();
  });
  loop.stop();
  g_free(listen);
  return 0;
}
