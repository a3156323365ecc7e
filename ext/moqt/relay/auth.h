// JWT authorization for the relay (libjwt-gnutls): HS256 (shared secret) or ES256 (the issuer's
// P-256 public key, PEM). A token names the namespace prefixes its bearer may publish and may
// subscribe to:
//
//   {"exp": 1767225600, "publish": ["live/cam"], "subscribe": ["live"]}
//
// Prefixes are whole namespace fields joined by '/' ("live" covers live/cam and live/cam/hd, not
// livestream); "" covers everything. "exp" and "nbf" (seconds since the epoch) are checked when
// present; the algorithm must be the configured one (no "none", no HS256 signed with a public key).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "moqt/wire/types.h"

namespace moqt::relay {

struct Grant {
  std::vector<wire::TrackNamespace> publish, subscribe;
  std::optional<int64_t> expires;  // seconds since the epoch
  bool may_publish(const wire::TrackNamespace& ns) const;
  bool may_subscribe(const wire::TrackNamespace& ns) const;
};

class Authorizer {
 public:
  enum class Alg { kHS256, kES256 };
  // `key`: the HS256 secret, or the ES256 public key in PEM.
  static std::unique_ptr<Authorizer> create(Alg alg, std::string key, std::string* error);
  // The key file's contents decide when no algorithm is named: a PEM public key is ES256,
  // anything else an HS256 secret (one trailing newline dropped).
  static std::unique_ptr<Authorizer> from_file(const std::string& path, std::optional<Alg> alg, std::string* error);
  static std::optional<Alg> parse_alg(const std::string& name);

  enum class Verdict { kOk, kMalformed, kExpired };
  // Checks the signature, algorithm and times of `token`; on kOk fills `grant`.
  Verdict verify(const std::string& token, Grant* grant, std::string* why) const;
  // Signs a token (for tests and `moqt-relay --mint`): needs the HS256 secret or the ES256
  // private key (PEM) as `signing_key`.
  static std::optional<std::string> mint(Alg alg, const std::string& signing_key, const std::vector<std::string>& publish,
                                         const std::vector<std::string>& subscribe, std::optional<int64_t> expires,
                                         std::string* error);

  // The token a client presents: the SETUP AUTHORIZATION TOKEN, else `jwt=` in the path's query.
  static std::optional<std::string> token_of(const std::optional<std::string>& setup_token, const std::string& path);

 private:
  Authorizer(Alg alg, std::string key) : alg_(alg), key_(std::move(key)) {}
  Alg alg_;
  std::string key_;
};

wire::TrackNamespace namespace_of_path(const std::string& prefix);  // "live/cam" -> (live, cam)

}  // namespace moqt::relay
