#include "samples.h"

namespace moqt::wire::test {
namespace {

AuthToken use_value(std::string v) { return AuthToken{TokenAliasType::kUseValue, 0, 1, std::move(v)}; }

FullTrackName track() { return FullTrackName{{"example.net", "live", "cam"}, "video"}; }

SubscriptionFilter range(uint64_t g0, uint64_t o0, uint64_t g1) {
  return SubscriptionFilter{FilterType::kAbsoluteRange, {g0, o0}, g1};
}

}  // namespace

std::vector<ControlMessage> sample_messages(Draft d) {
  const bool d14 = d == Draft::k14, d16 = d == Draft::k16, d18 = d == Draft::k18;
  std::vector<ControlMessage> out;

  SetupParams sp;
  sp.max_auth_token_cache_size = 4096;
  sp.implementation = "moq-gst/0.1";
  sp.auth_tokens.push_back(AuthToken{TokenAliasType::kRegister, 7, 0, "secret"});
  if (!d18) sp.max_request_id = 100;
  SetupParams client = sp;
  client.path = "/moq?room=1";
  client.authority = "relay.example.net:4443";
  client.unknown.push_back(KeyValuePair::integer(0x7a, 9));  // GREASE-like, ignored by peers
  if (d18) {
    out.push_back(Setup{client});
    out.push_back(Setup{sp});
  } else {
    ClientSetup cs{{}, client};
    ServerSetup ss{0, sp};
    if (d14) {
      cs.versions = {0xff00000e, 0xff00000d};
      ss.selected_version = 0xff00000e;
    }
    out.push_back(cs);
    out.push_back(ss);
  }

  Goaway g{"moqt://other.example.net:4443/moq", {}, {}};
  if (d18) {
    g.timeout_ms = 5000;
    out.push_back(Goaway{"", 100, 4});  // on the control stream: with Request ID
  }
  out.push_back(g);
  if (!d18) {
    out.push_back(MaxRequestId{201});
    out.push_back(RequestsBlocked{200});
  }

  // SUBSCRIBE with each filter type.
  for (FilterType ft : {FilterType::kNextGroupStart, FilterType::kLargestObject, FilterType::kAbsoluteStart,
                        FilterType::kAbsoluteRange}) {
    Subscribe s;
    s.request_id = 2 + 2 * static_cast<uint64_t>(ft);
    s.track = track();
    s.params.subscriber_priority = 10;
    s.params.group_order = GroupOrder::kDescending;
    s.params.forward = ft != FilterType::kNextGroupStart;
    s.params.filter = SubscriptionFilter{ft, {}, {}};
    if (ft == FilterType::kAbsoluteStart) s.params.filter->start = {5, 1};
    if (ft == FilterType::kAbsoluteRange) s.params.filter = range(5, 0, 9);
    s.params.delivery_timeout = 1500;
    s.params.auth_tokens = {use_value("tok-a"), use_value("tok-b")};
    if (!d14) s.params.new_group_request = 0;
    if (d18) {
      s.params.subgroup_delivery_timeout = 900;
      s.params.rendezvous_timeout = 2000;
    }
    out.push_back(s);
  }
  if (d14) {  // -14 unknown parameters are ignored and kept
    Subscribe s;
    s.request_id = 40;
    s.track = {{"a"}, ""};
    s.params = {.forward = true, .subscriber_priority = 128, .filter = SubscriptionFilter{}, .group_order = GroupOrder::kPublisher};
    s.params.unknown = {KeyValuePair::integer(0x3e, 1), KeyValuePair::bytes(0x41, "opaque")};
    out.push_back(s);
  }

  SubscribeOk ok;
  ok.request_id = 2;
  ok.track_alias = 17;
  ok.params.expires = 60000;
  ok.params.largest_object = Location{42, 7};
  if (d14) {
    ok.params.group_order = GroupOrder::kAscending;
    ok.params.max_cache_duration = 30000;
    ok.params.delivery_timeout = 800;
  } else {
    ok.track_properties = {KeyValuePair::integer(0x04, 30000), KeyValuePair::bytes(0x0B, "immutable"),
                           KeyValuePair::integer(0x0E, 64)};
  }
  if (d18) ok.request_id = 0;
  out.push_back(ok);
  SubscribeOk empty_ok;  // no content yet
  empty_ok.track_alias = 1;
  if (d14) {
    empty_ok.params.expires = 0;
    empty_ok.params.group_order = GroupOrder::kDescending;
  }
  out.push_back(empty_ok);

  // Replies.
  const std::vector<RequestKind> errors_of =
      d14 ? std::vector<RequestKind>{RequestKind::kSubscribe, RequestKind::kPublish, RequestKind::kFetch,
                                     RequestKind::kTrackStatus, RequestKind::kPublishNamespace,
                                     RequestKind::kSubscribeNamespace}
          : std::vector<RequestKind>{RequestKind::kUnspecified};
  for (RequestKind of : errors_of) {
    RequestError e;
    e.of = of;
    e.request_id = d18 ? 0 : 6;
    e.error_code = 0x10;
    e.reason = "track does not exist";
    if (!d14) e.retry_interval = 1001;
    out.push_back(e);
  }
  if (d18) {
    RequestError e;
    e.error_code = kRequestErrorRedirect;
    e.retry_interval = 1;
    e.reason = "moved";
    e.redirect = Redirect{"moqt://edge2.example.net/moq", FullTrackName{{"live", "cam2"}, "video"}};
    out.push_back(e);
    RequestError same;  // empty Connect URI / track = same as the request
    same.error_code = kRequestErrorRedirect;
    same.redirect = Redirect{};
    out.push_back(same);
  }
  if (d14) {
    RequestOk pub_ok{RequestKind::kPublish, 12, {}, {}};
    pub_ok.params = {.delivery_timeout = 700, .forward = true, .subscriber_priority = 3,
                     .filter = range(1, 0, 4), .group_order = GroupOrder::kAscending};
    out.push_back(pub_ok);
    RequestOk ts_ok{RequestKind::kTrackStatus, 14, {}, {}};
    ts_ok.params = {.max_cache_duration = 1000, .expires = 0, .largest_object = Location{9, 3},
                    .group_order = GroupOrder::kAscending};
    out.push_back(ts_ok);
    out.push_back(RequestOk{RequestKind::kPublishNamespace, 16, {}, {}});
    out.push_back(RequestOk{RequestKind::kSubscribeNamespace, 18, {}, {}});
  } else {
    RequestOk generic{RequestKind::kUnspecified, d18 ? 0u : 20u, {}, {}};
    generic.params.largest_object = Location{100, 0};
    generic.params.expires = 1234;
    if (d18) generic.track_properties = {KeyValuePair::integer(0x22, 2), KeyValuePair::integer(0x30, 1)};
    out.push_back(generic);
    RequestOk pub_ok{d16 ? RequestKind::kPublish : RequestKind::kUnspecified, d18 ? 0u : 12u, {}, {}};
    pub_ok.params = {.delivery_timeout = 700, .forward = false, .subscriber_priority = 255,
                     .filter = range(1, 0, 4), .group_order = GroupOrder::kAscending, .new_group_request = 8};
    out.push_back(pub_ok);
  }

  RequestUpdate up;
  up.request_id = 22;
  up.existing_request_id = d18 ? 0 : 2;
  up.params.filter = SubscriptionFilter{FilterType::kAbsoluteStart, {50, 0}, {}};
  up.params.subscriber_priority = 20;
  up.params.forward = true;
  if (!d14) up.params.delivery_timeout = 300;
  out.push_back(up);
  RequestUpdate up2 = up;
  up2.request_id = 24;
  up2.params.filter = range(50, 0, 60);
  out.push_back(up2);
  if (d18) {
    RequestUpdate ns_up;
    ns_up.request_id = 26;
    ns_up.params.namespace_prefix = TrackNamespace{"live", "new"};
    out.push_back(ns_up);
  }

  if (!d18) out.push_back(Unsubscribe{2});

  Publish pub;
  pub.request_id = 12;
  pub.track = track();
  pub.track_alias = 99;
  pub.params.group_order = GroupOrder::kAscending;
  pub.params.forward = true;
  pub.params.largest_object = Location{7, 30};
  pub.params.auth_tokens = {AuthToken{TokenAliasType::kUseAlias, 7, 0, ""}};
  if (d14) pub.params.max_cache_duration = 5000;
  if (!d14) {
    pub.params.group_order.reset();  // a track property from -16 on
    pub.params.expires = 10;
    pub.track_properties = {KeyValuePair::integer(0x0E, 200), KeyValuePair::integer(0x22, 1)};
  }
  out.push_back(pub);

  out.push_back(PublishDone{d18 ? 0u : 12u, 0x2, 3, "track ended"});

  Fetch sf;
  sf.request_id = 28;
  sf.type = FetchType::kStandalone;
  sf.track = track();
  sf.start = {3, 0};
  sf.end = {5, 0};
  sf.params.subscriber_priority = 1;
  sf.params.group_order = GroupOrder::kDescending;
  sf.params.auth_tokens = {use_value("fetch-token")};
  if (d18) sf.params.fill_timeout = 250;
  out.push_back(sf);
  for (FetchType ft : {FetchType::kRelativeJoining, FetchType::kAbsoluteJoining}) {
    Fetch jf;
    jf.request_id = ft == FetchType::kRelativeJoining ? 30 : 32;
    jf.type = ft;
    jf.joining_request_id = 2;
    jf.joining_start = ft == FetchType::kRelativeJoining ? 2 : 40;
    jf.params.subscriber_priority = 0;
    if (d14) jf.params.group_order = GroupOrder::kPublisher;
    out.push_back(jf);
  }

  FetchOk fok;
  fok.request_id = d18 ? 0 : 28;
  fok.end_of_track = true;
  fok.end_location = {5, 0};
  if (d14) {
    fok.params.group_order = GroupOrder::kDescending;
    fok.params.max_cache_duration = 100;
  } else {
    fok.track_properties = {KeyValuePair::integer(0x04, 100)};
  }
  out.push_back(fok);
  if (!d18) out.push_back(FetchCancel{30});

  TrackStatus ts;
  ts.request_id = 34;
  ts.track = track();
  if (d14) ts.params = {.forward = false, .subscriber_priority = 128, .filter = SubscriptionFilter{},
                        .group_order = GroupOrder::kPublisher};
  ts.params.auth_tokens = {use_value("ts")};
  out.push_back(ts);

  PublishNamespace pn;
  pn.request_id = 36;
  pn.ns = {"example.net", "live"};
  pn.params.auth_tokens = {use_value("announce")};
  out.push_back(pn);
  if (!d18) {
    PublishNamespaceDone done;
    PublishNamespaceCancel cancel;
    cancel.error_code = 0x1;
    cancel.reason = "unauthorized";
    if (d14) done.ns = cancel.ns = {"example.net", "live"};
    else done.request_id = cancel.request_id = 36;
    out.push_back(done);
    out.push_back(cancel);
  }

  SubscribeNamespace sn;
  sn.request_id = 38;
  sn.prefix = {"example.net"};
  sn.params.auth_tokens = {use_value("ns")};
  if (d16) {
    sn.options = SubscribeOptions::kNamespace;
    sn.params.forward = true;
  }
  out.push_back(sn);
  if (!d14) {
    SubscribeNamespace all;  // an empty prefix is allowed from -16
    all.request_id = 40;
    if (d16) all.options = SubscribeOptions::kBoth;
    out.push_back(all);
    out.push_back(Namespace{{"live", "cam"}});
    out.push_back(NamespaceDone{{"live", "cam"}});
  }
  if (d14) out.push_back(UnsubscribeNamespace{{"example.net"}});
  if (d18) {
    SubscribeTracks st;
    st.request_id = 42;
    st.prefix = {"example.net", "live"};
    st.params.forward = false;
    out.push_back(st);
    out.push_back(PublishBlocked{{"cam"}, "video"});
  }
  return out;
}

}  // namespace moqt::wire::test
