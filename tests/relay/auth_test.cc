// JWT authorization: the Authorizer alone (HS256 and ES256, expiry, wrong keys, algorithm
// confusion, prefix semantics), then a relay requiring tokens over loopback: allowed, refused
// (wrong namespace), missing, expired and forged tokens, at drafts 14, 16 and 18, as a SETUP
// AUTHORIZATION TOKEN or a ?jwt= query.
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include <ctime>

#include "moqt/relay/auth.h"
#include "relay_fixture.h"

namespace moqt::relay::test {
namespace {

using wire::Draft;
using Alg = Authorizer::Alg;

const std::string kSecret = "0123456789abcdef0123456789abcdef-test-secret";

// A fresh P-256 key pair: the private key (PEM, signs) and the public key (PEM, verifies).
std::pair<std::string, std::string> es256_keys() {
  gnutls_x509_privkey_t x = nullptr;
  gnutls_x509_privkey_init(&x);
  EXPECT_EQ(gnutls_x509_privkey_generate(x, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
  gnutls_datum_t priv{}, pub{};
  EXPECT_EQ(gnutls_x509_privkey_export2(x, GNUTLS_X509_FMT_PEM, &priv), 0);
  gnutls_privkey_t pk = nullptr;
  gnutls_privkey_init(&pk);
  EXPECT_EQ(gnutls_privkey_import_x509(pk, x, 0), 0);
  gnutls_pubkey_t pb = nullptr;
  gnutls_pubkey_init(&pb);
  EXPECT_EQ(gnutls_pubkey_import_privkey(pb, pk, 0, 0), 0);
  EXPECT_EQ(gnutls_pubkey_export2(pb, GNUTLS_X509_FMT_PEM, &pub), 0);
  std::pair<std::string, std::string> out{std::string(reinterpret_cast<char*>(priv.data), priv.size),
                                          std::string(reinterpret_cast<char*>(pub.data), pub.size)};
  gnutls_free(priv.data);
  gnutls_free(pub.data);
  gnutls_pubkey_deinit(pb);
  gnutls_privkey_deinit(pk);
  gnutls_x509_privkey_deinit(x);
  return out;
}

int64_t now() { return int64_t(std::time(nullptr)); }

std::string mint(Alg alg, const std::string& key, std::vector<std::string> pub, std::vector<std::string> sub,
                 std::optional<int64_t> exp = now() + 600) {
  std::string err;
  auto t = Authorizer::mint(alg, key, pub, sub, exp, &err);
  EXPECT_TRUE(t) << err;
  return t.value_or("");
}

TEST(Authorizer, Hs256GrantsTheNamedPrefixes) {
  std::string err;
  auto a = Authorizer::create(Alg::kHS256, kSecret, &err);
  ASSERT_TRUE(a) << err;
  Grant g;
  ASSERT_EQ(a->verify(mint(Alg::kHS256, kSecret, {"live/cam"}, {"live", "news"}), &g, &err), Authorizer::Verdict::kOk)
      << err;
  EXPECT_TRUE(g.may_publish({"live", "cam"}));
  EXPECT_TRUE(g.may_publish({"live", "cam", "hd"}));
  EXPECT_FALSE(g.may_publish({"live"}));
  EXPECT_FALSE(g.may_publish({"live", "camera"}));
  EXPECT_TRUE(g.may_subscribe({"live", "anything"}));
  EXPECT_TRUE(g.may_subscribe({"news"}));
  EXPECT_FALSE(g.may_subscribe({"livestream"}));
  EXPECT_FALSE(g.may_subscribe({"sport"}));
  ASSERT_TRUE(g.expires);

  Grant all;
  ASSERT_EQ(a->verify(mint(Alg::kHS256, kSecret, {""}, {}), &all, &err), Authorizer::Verdict::kOk) << err;
  EXPECT_TRUE(all.may_publish({"x", "y"}));
  EXPECT_FALSE(all.may_subscribe({"x"}));
}

TEST(Authorizer, RefusesExpiredForgedAndMalformedTokens) {
  std::string err;
  auto a = Authorizer::create(Alg::kHS256, kSecret, &err);
  ASSERT_TRUE(a) << err;
  Grant g;
  EXPECT_EQ(a->verify(mint(Alg::kHS256, kSecret, {"live"}, {}, now() - 5), &g, &err), Authorizer::Verdict::kExpired);
  EXPECT_EQ(a->verify(mint(Alg::kHS256, kSecret + "x", {"live"}, {}), &g, &err), Authorizer::Verdict::kMalformed);
  EXPECT_EQ(a->verify("not.a.token", &g, &err), Authorizer::Verdict::kMalformed);
  EXPECT_EQ(a->verify("", &g, &err), Authorizer::Verdict::kMalformed);
  // An unsigned token ("alg":"none") with the same claims.
  const std::string good = mint(Alg::kHS256, kSecret, {"live"}, {});
  const std::string unsigned_token =
      "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1) + ".";
  EXPECT_EQ(a->verify(unsigned_token, &g, &err), Authorizer::Verdict::kMalformed);
  EXPECT_FALSE(Authorizer::create(Alg::kHS256, "short", &err)) << "secrets under 32 bytes are refused";
}

TEST(Authorizer, Es256VerifiesWithThePublicKeyOnly) {
  const auto [priv, pub] = es256_keys();
  std::string err;
  auto a = Authorizer::create(Alg::kES256, pub, &err);
  ASSERT_TRUE(a) << err;
  Grant g;
  ASSERT_EQ(a->verify(mint(Alg::kES256, priv, {"studio"}, {"studio"}), &g, &err), Authorizer::Verdict::kOk) << err;
  EXPECT_TRUE(g.may_publish({"studio", "a"}));
  // Another issuer's key.
  const auto [other_priv, other_pub] = es256_keys();
  EXPECT_EQ(a->verify(mint(Alg::kES256, other_priv, {"studio"}, {}), &g, &err), Authorizer::Verdict::kMalformed);
  // Algorithm confusion: HS256 "signed" with the public key as the secret.
  EXPECT_EQ(a->verify(mint(Alg::kHS256, pub, {"studio"}, {}), &g, &err), Authorizer::Verdict::kMalformed);
  EXPECT_FALSE(Authorizer::create(Alg::kES256, kSecret, &err)) << "ES256 wants a PEM public key";
}

TEST(Authorizer, TokenFromSetupOrPathQuery) {
  EXPECT_EQ(Authorizer::token_of(std::string("abc"), "/moq?jwt=def"), "abc");
  EXPECT_EQ(Authorizer::token_of(std::nullopt, "/moq?x=1&jwt=def"), "def");
  EXPECT_EQ(Authorizer::token_of(std::nullopt, "/moq"), std::nullopt);
}

// --- a relay requiring tokens ----------------------------------------------------------------

struct Closed : SessionHandler, Waitable {
  std::optional<uint64_t> code;
  bool ready = false;
  void on_ready(Draft) override { set([&] { ready = true; }); }
  void on_closed(uint64_t c, const std::string&) override { set([&] { code = c; }); }
};

struct AuthRelay : RelayFixture, ::testing::Test {
  std::pair<std::string, std::string> keys = es256_keys();
  void SetUp() override {
    RelayConfig cfg;
    std::string err;
    cfg.auth = Authorizer::create(Alg::kES256, keys.second, &err);
    ASSERT_TRUE(cfg.auth) << err;
    start_relay(cfg);
  }
  void TearDown() override { stop(); }
  std::string token(std::vector<std::string> pub, std::vector<std::string> sub, int64_t ttl = 600) {
    return mint(Alg::kES256, keys.first, pub, sub, now() + ttl);
  }
  // A client presenting `tok` in SETUP (or, with in_path, as ?jwt= in the URL).
  Client* client(quic::EventLoop& loop, Draft d, bool wt, const std::string& tok, bool in_path, SessionHandler* h,
                 TrackSource* tracks) {
    ClientConfig cc;
    cc.verify = quic::VerifyMode::kInsecure;
    cc.drafts = {d};
    if (!tok.empty() && !in_path) cc.auth_token = tok;
    const std::string u = url(wt) + (in_path && !tok.empty() ? "?jwt=" + tok : "");
    std::string err;
    std::unique_ptr<Client> c;
    loop.run_sync([&] { c = Client::connect(loop, u, cc, h, tracks, &err); });
    EXPECT_TRUE(c) << err;
    auto& list = &loop == &pub_loop ? publishers : viewers;
    list.push_back(std::move(c));
    return list.back().get();
  }
  // PUBLISH_NAMESPACE's answer: 0 accepted, else the error code.
  uint64_t announce_with(Client* c, const TrackNamespace& ns) {
    auto res = std::make_shared<std::promise<uint64_t>>();
    pub_loop.run_sync([&] {
      c->publish_namespace(ns, [res](bool ok, uint64_t code) { res->set_value(ok ? 0 : code == 0 ? 0xffff : code); });
    });
    auto f = res->get_future();
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    return f.get();
  }
};

TEST_F(AuthRelay, AllowedPublisherAndViewersAtEveryDraft) {
  auto reg = std::make_unique<TrackRegistry>();
  auto track = std::make_shared<TrackPublisher>(FullTrackName{{"live", "show"}, "video"}, TrackOptions{});
  pub_loop.run_sync([&] { reg->add(track); });
  Client* pub = client(pub_loop, Draft::k16, false, token({"live"}, {}), false, nullptr, reg.get());
  EXPECT_EQ(announce_with(pub, {"live", "show"}), 0u);
  const std::vector<std::tuple<Draft, bool, bool>> viewers_at = {
      {Draft::k14, false, false}, {Draft::k16, true, true}, {Draft::k18, false, true}, {Draft::k18, true, false}};
  std::deque<Recorder> rec(viewers_at.size());
  for (size_t i = 0; i < viewers_at.size(); ++i) {
    auto [d, wt, in_path] = viewers_at[i];
    Client* v = client(view_loop, d, wt, token({}, {"live/show"}), in_path, nullptr, nullptr);
    ASSERT_TRUE(subscribe(v, track->name(), rec[i]));
  }
  for (auto& r : rec) ASSERT_TRUE(r.wait([&] { return r.ok || r.error; }));
  pub_loop.run_sync([&] {
    for (uint64_t o = 0; o < 3; ++o) track->write(make_object(0, o));
  });
  for (size_t i = 0; i < rec.size(); ++i) {
    EXPECT_FALSE(rec[i].error) << "viewer " << i << " refused: " << *rec[i].error;
    ASSERT_TRUE(rec[i].wait([&] { return rec[i].objects.size() == 3; })) << "viewer " << i;
  }
  EXPECT_EQ(stats().auth_refused, 0u);
  pub_loop.run_sync([&] { registries.push_back(std::move(reg)); });
}

TEST_F(AuthRelay, RequestsOutsideTheClaimsAreUnauthorized) {
  auto reg = std::make_unique<TrackRegistry>();
  auto track = std::make_shared<TrackPublisher>(FullTrackName{{"live", "show"}, "video"}, TrackOptions{});
  pub_loop.run_sync([&] { reg->add(track); });
  Client* pub = client(pub_loop, Draft::k18, true, token({"live/show"}, {}), false, nullptr, reg.get());
  EXPECT_EQ(announce_with(pub, {"live", "show"}), 0u);
  EXPECT_EQ(announce_with(pub, {"live", "other"}), 0x1u) << "publishing outside the token: UNAUTHORIZED";
  // A PUBLISH outside the claims.
  auto stray = std::make_shared<TrackPublisher>(FullTrackName{{"sport"}, "t"}, TrackOptions{});
  auto res = std::make_shared<std::promise<std::pair<bool, uint64_t>>>();
  pub_loop.run_sync([&] { pub->publish(stray, [res](bool ok, uint64_t code) { res->set_value({ok, code}); }); });
  auto f = res->get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), std::make_pair(false, uint64_t(0x1)));

  for (Draft d : {Draft::k14, Draft::k16, Draft::k18}) {
    Recorder wrong, none;
    Client* v = client(view_loop, d, d == Draft::k16, token({"live/show"}, {"news"}), false, nullptr, nullptr);
    ASSERT_TRUE(subscribe(v, track->name(), wrong));
    ASSERT_TRUE(wrong.wait([&] { return wrong.ok || wrong.error; }));
    EXPECT_EQ(wrong.error, std::optional<uint64_t>(0x1)) << wire::profile(d).name << ": subscribe outside the claims";
    Client* anon = client(view_loop, d, false, "", false, nullptr, nullptr);
    ASSERT_TRUE(subscribe(anon, track->name(), none));
    ASSERT_TRUE(none.wait([&] { return none.ok || none.error; }));
    EXPECT_EQ(none.error, std::optional<uint64_t>(0x1)) << wire::profile(d).name << ": no token";
  }
  // Nothing is published without a token.
  Client* anon_pub = client(pub_loop, Draft::k16, false, "", false, nullptr, nullptr);
  EXPECT_EQ(announce_with(anon_pub, {"live", "show", "x"}), 0x1u);
  EXPECT_EQ(stats().namespaces, 1u);
  EXPECT_GE(stats().auth_refused, 9u);
  pub_loop.run_sync([&] { registries.push_back(std::move(reg)); });
}

TEST_F(AuthRelay, ExpiredAndForgedTokensCloseTheSession) {
  const auto [other_priv, other_pub] = es256_keys();
  const std::vector<std::pair<std::string, uint64_t>> cases = {
      {mint(Alg::kES256, keys.first, {"live"}, {"live"}, now() - 10), 0x18},  // EXPIRED_AUTH_TOKEN
      {mint(Alg::kES256, other_priv, {"live"}, {"live"}), 0x16},             // MALFORMED_AUTH_TOKEN
      {"garbage", 0x16},
  };
  std::deque<Closed> ev(cases.size() * 2);
  for (size_t i = 0; i < cases.size(); ++i) {
    client(view_loop, Draft::k18, false, cases[i].first, false, &ev[2 * i], nullptr);
    client(view_loop, Draft::k14, true, cases[i].first, true, &ev[2 * i + 1], nullptr);
  }
  for (size_t i = 0; i < ev.size(); ++i) {
    ASSERT_TRUE(ev[i].wait([&] { return ev[i].code.has_value(); })) << "case " << i;
    EXPECT_EQ(*ev[i].code, cases[i / 2].second) << "case " << i;
  }
  ASSERT_TRUE(eventually([&] { return stats().sessions == 0; }));
}

TEST_F(AuthRelay, SessionEndsWhenItsTokenExpires) {
  Closed ev;
  client(view_loop, Draft::k16, false, token({}, {"live"}, 2), false, &ev, nullptr);
  ASSERT_TRUE(ev.wait([&] { return ev.ready; }));
  ASSERT_TRUE(ev.wait([&] { return ev.code.has_value(); }, 6s)) << "closed at expiry";
  EXPECT_EQ(*ev.code, 0x18u);
}


// A request carrying its own token (the AUTHORIZATION TOKEN parameter): what that token grants
// is allowed for that request, even to a session without a SETUP token; a forged one refuses the
// request (UNAUTHORIZED) and the session stays up.
TEST_F(AuthRelay, PerRequestTokensAtEveryDraft) {
  for (Draft d : {Draft::k14, Draft::k16, Draft::k18}) {
    const std::string tag = wire::profile(d).name;
    const TrackNamespace ns{"req", tag};
    auto reg = std::make_unique<TrackRegistry>();
    auto track = std::make_shared<TrackPublisher>(FullTrackName{ns, "video"}, TrackOptions{});
    pub_loop.run_sync([&] { reg->add(track); });
    Client* pub = client(pub_loop, d, d == Draft::k16, "", false, nullptr, reg.get());
    EXPECT_EQ(announce_with(pub, ns), 0x1u) << tag << ": no token at all";
    pub_loop.run_sync([&] { pub->session().set_request_auth_token(token({"req/" + tag}, {})); });
    EXPECT_EQ(announce_with(pub, ns), 0u) << tag << ": the request's token grants it";

    Client* v = client(view_loop, d, false, "", false, nullptr, nullptr);
    Recorder none, granted, forged;
    ASSERT_TRUE(subscribe(v, track->name(), none));
    ASSERT_TRUE(none.wait([&] { return none.ok || none.error; }));
    EXPECT_EQ(none.error, std::optional<uint64_t>(0x1)) << tag;
    const auto [other_priv, other_pub] = es256_keys();
    view_loop.run_sync([&] { v->session().set_request_auth_token(mint(Alg::kES256, other_priv, {}, {"req"})); });
    ASSERT_TRUE(subscribe(v, track->name(), forged));
    ASSERT_TRUE(forged.wait([&] { return forged.ok || forged.error; }));
    EXPECT_EQ(forged.error, std::optional<uint64_t>(0x1)) << tag << ": a forged request token";
    view_loop.run_sync([&] { v->session().set_request_auth_token(token({}, {"req"})); });
    ASSERT_TRUE(subscribe(v, track->name(), granted));
    ASSERT_TRUE(granted.wait([&] { return granted.ok || granted.error; }));
    EXPECT_FALSE(granted.error) << tag;
    pub_loop.run_sync([&] { track->write(make_object(0, 0)); });
    ASSERT_TRUE(granted.wait([&] { return granted.objects.size() == 1; })) << tag;
    pub_loop.run_sync([&] { registries.push_back(std::move(reg)); });
  }
  EXPECT_EQ(stats().sessions, 6u) << "refused requests closed no session";
}

}  // namespace
}  // namespace moqt::relay::test
