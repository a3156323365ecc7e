// moqsrc's timestamps and gap handling against a publisher the test controls (the engine's
// Server with a TrackPublisher on loopback): PTS follow the LOC capture times, a skipped group
// gives DISCONT plus a GAP event covering the hole, and a sender Timescale is honoured.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "moqt/session/endpoint.h"

namespace {

using namespace moqt;
using namespace moqt::session;
using namespace std::chrono_literals;

const FullTrackName kTrack{{"t", "gap"}, "data"};

struct Seen {
  std::mutex mu;
  std::vector<std::pair<GstClockTime, GstClockTime>> gaps;  // (timestamp, duration)
};

GstPadProbeReturn on_event(GstPad*, GstPadProbeInfo* info, gpointer data) {
  GstEvent* ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(ev) == GST_EVENT_GAP) {
    GstClockTime ts, dur;
    gst_event_parse_gap(ev, &ts, &dur);
    auto* seen = static_cast<Seen*>(data);
    std::lock_guard<std::mutex> l(seen->mu);
    seen->gaps.emplace_back(ts, dur);
  }
  return GST_PAD_PROBE_OK;
}

class MoqsrcTiming : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_.start("timing-test");
    track_ = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
    registry_.add(track_);
    std::string err;
    auto cert = quic::generate_self_signed({"127.0.0.1"}, 1, &err);
    ASSERT_TRUE(cert) << err;
    ServerConfig sc;
    sc.listen = "127.0.0.1:0";
    sc.cert = *cert;
    loop_.run_sync([&] { server_ = Server::start(loop_, sc, &registry_, nullptr, &err); });
    ASSERT_TRUE(server_) << err;
    GError* gerr = nullptr;
    pipeline_ = gst_parse_launch(("moqsrc uri=moqt://127.0.0.1:" + std::to_string(server_->address().port()) +
                                  "/t/gap?tls-insecure=true track=data caps=application/x-test ! "
                                  "appsink name=out sync=false max-buffers=1000")
                                     .c_str(),
                                 &gerr);
    ASSERT_TRUE(pipeline_) << (gerr ? gerr->message : "?");
    sink_ = gst_bin_get_by_name(GST_BIN(pipeline_), "out");
    GstPad* pad = gst_element_get_static_pad(sink_, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_event, &seen_, nullptr);
    gst_object_unref(pad);
    ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    // Publish only once moqsrc is subscribed.
    for (int i = 0; i < 500 && subscribers() == 0; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(subscribers(), 1u);
  }
  void TearDown() override {
    if (sink_) gst_object_unref(sink_);
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
    }
    loop_.run_sync([&] {
      server_.reset();
      track_.reset();
    });
    loop_.stop();
  }
  size_t subscribers() {
    size_t n = 0;
    loop_.run_sync([&] { n = track_->subscriber_count(); });
    return n;
  }
  // One object with a LOC Timestamp (µs), optionally with a Timescale.
  void write(uint64_t group, uint64_t object, uint64_t ts, std::optional<uint64_t> timescale = {}) {
    loop_.run_sync([&] {
      Object o;
      o.location = {group, object};
      if (timescale) o.properties.push_back(wire::KeyValuePair::integer(0x08, *timescale));
      o.properties.push_back(wire::KeyValuePair::integer(0x10, ts));
      o.payload = quic::SendBuffer::take(std::vector<uint8_t>(10, uint8_t(object)));
      track_->write(std::move(o));
    });
  }
  std::vector<GstBuffer*> pull(size_t n) {
    std::vector<GstBuffer*> out;
    while (out.size() < n) {
      GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink_), 5 * GST_SECOND);
      if (!s) break;
      out.push_back(gst_buffer_ref(gst_sample_get_buffer(s)));
      gst_sample_unref(s);
    }
    return out;
  }

  quic::EventLoop loop_;
  TrackRegistry registry_;
  std::shared_ptr<TrackPublisher> track_;
  std::unique_ptr<Server> server_;
  GstElement* pipeline_ = nullptr;
  GstElement* sink_ = nullptr;
  Seen seen_;
};

TEST_F(MoqsrcTiming, PtsFollowCaptureTimesAndASkippedGroupIsDiscontAndGap) {
  const uint64_t t0 = 1'800'000'000'000'000;  // µs since the epoch
  for (uint64_t o = 0; o < 3; ++o) write(0, o, t0 + o * 20'000);        // group 0: 0, 20, 40 ms
  for (uint64_t o = 0; o < 3; ++o) write(2, o, t0 + 100'000 + o * 20'000);  // group 1 never comes
  auto bufs = pull(6);
  ASSERT_EQ(bufs.size(), 6u);
  const GstClockTime base = GST_BUFFER_PTS(bufs[0]);
  const GstClockTime want[] = {0, 20, 40, 100, 120, 140};
  for (size_t i = 0; i < bufs.size(); ++i)
    EXPECT_EQ(GST_BUFFER_PTS(bufs[i]) - base, want[i] * GST_MSECOND) << i;
  EXPECT_FALSE(GST_BUFFER_FLAG_IS_SET(bufs[1], GST_BUFFER_FLAG_DISCONT));
  EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(bufs[3], GST_BUFFER_FLAG_DISCONT)) << "group 1 was skipped";
  {
    std::lock_guard<std::mutex> l(seen_.mu);
    ASSERT_EQ(seen_.gaps.size(), 1u);
    EXPECT_EQ(seen_.gaps[0].first, base + 40 * GST_MSECOND);  // from the last buffer's PTS...
    EXPECT_EQ(seen_.gaps[0].second, 60 * GST_MSECOND);        // ...to the first after the hole
  }
  for (GstBuffer* b : bufs) gst_buffer_unref(b);
}

TEST_F(MoqsrcTiming, SenderTimescaleIsHonoured) {
  // Media time in 90 kHz units (3000 = 33.3 ms), declared per object with LOC Timescale.
  for (uint64_t o = 0; o < 4; ++o) write(0, o, 90'000 + o * 3000, 90'000);
  auto bufs = pull(4);
  ASSERT_EQ(bufs.size(), 4u);
  for (size_t i = 1; i < bufs.size(); ++i)
    EXPECT_NEAR(double(GST_BUFFER_PTS(bufs[i]) - GST_BUFFER_PTS(bufs[i - 1])), double(GST_SECOND) / 30, 1.0) << i;
  GstCaps* media = gst_caps_new_empty_simple("timestamp/x-moq-media");
  GstReferenceTimestampMeta* m = gst_buffer_get_reference_timestamp_meta(bufs[1], media);
  gst_caps_unref(media);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->timestamp, GST_SECOND + GST_SECOND / 30);
  for (GstBuffer* b : bufs) gst_buffer_unref(b);
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
