#include "moqt/relay/auth.h"

#include <json-glib/json-glib.h>
#include <jwt.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace moqt::relay {

namespace {

bool covers(const std::vector<wire::TrackNamespace>& prefixes, const wire::TrackNamespace& ns) {
  for (const wire::TrackNamespace& p : prefixes)
    if (p.size() <= ns.size() && std::equal(p.begin(), p.end(), ns.begin())) return true;
  return false;
}

// A claim that is an array of prefix strings (a lone string is accepted too).
bool prefixes_of(jwt_t* jwt, const char* claim, std::vector<wire::TrackNamespace>* out, std::string* why) {
  char* json = jwt_get_grants_json(jwt, claim);
  if (!json) return true;  // absent: nothing granted
  JsonParser* parser = json_parser_new();
  GError* err = nullptr;
  bool ok = json_parser_load_from_data(parser, json, -1, &err);
  free(json);
  if (ok) {
    JsonNode* root = json_parser_get_root(parser);
    auto add = [&](JsonNode* n) {
      if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) return false;
      out->push_back(namespace_of_path(json_node_get_string(n)));
      return true;
    };
    if (JSON_NODE_HOLDS_ARRAY(root)) {
      JsonArray* a = json_node_get_array(root);
      for (guint i = 0; ok && i < json_array_get_length(a); ++i) ok = add(json_array_get_element(a, i));
    } else {
      ok = add(root);
    }
    if (!ok) *why = std::string("claim '") + claim + "' must be a string or an array of strings";
  } else {
    *why = std::string("claim '") + claim + "': " + err->message;
    g_error_free(err);
  }
  g_object_unref(parser);
  return ok;
}

jwt_alg_t jwt_alg(Authorizer::Alg a) { return a == Authorizer::Alg::kES256 ? JWT_ALG_ES256 : JWT_ALG_HS256; }

}  // namespace

wire::TrackNamespace namespace_of_path(const std::string& prefix) {
  wire::TrackNamespace ns;
  std::stringstream ss(prefix);
  for (std::string part; std::getline(ss, part, '/');)
    if (!part.empty()) ns.push_back(part);
  return ns;
}

bool Grant::may_publish(const wire::TrackNamespace& ns) const { return covers(publish, ns); }
bool Grant::may_subscribe(const wire::TrackNamespace& ns) const { return covers(subscribe, ns); }

std::optional<Authorizer::Alg> Authorizer::parse_alg(const std::string& name) {
  if (name == "HS256" || name == "hs256") return Alg::kHS256;
  if (name == "ES256" || name == "es256") return Alg::kES256;
  return std::nullopt;
}

std::unique_ptr<Authorizer> Authorizer::create(Alg alg, std::string key, std::string* error) {
  if (key.empty()) {
    *error = "empty JWT key";
    return nullptr;
  }
  if (alg == Alg::kES256 && key.find("-----BEGIN PUBLIC KEY-----") == std::string::npos) {
    *error = "ES256 needs the issuer's public key in PEM (-----BEGIN PUBLIC KEY-----)";
    return nullptr;
  }
  if (alg == Alg::kHS256 && key.size() < 32) {
    *error = "an HS256 secret must have at least 32 bytes (RFC 7518 §3.2)";
    return nullptr;
  }
  return std::unique_ptr<Authorizer>(new Authorizer(alg, std::move(key)));
}

std::unique_ptr<Authorizer> Authorizer::from_file(const std::string& path, std::optional<Alg> alg, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "cannot read JWT key file " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string key = ss.str();
  const bool pem = key.find("-----BEGIN PUBLIC KEY-----") != std::string::npos;
  if (!alg) alg = pem ? Alg::kES256 : Alg::kHS256;
  if (*alg == Alg::kHS256 && !key.empty() && key.back() == '\n') key.pop_back();
  auto a = create(*alg, std::move(key), error);
  if (!a) *error = path + ": " + *error;
  return a;
}

Authorizer::Verdict Authorizer::verify(const std::string& token, Grant* grant, std::string* why) const {
  jwt_t* jwt = nullptr;
  const int rc = jwt_decode(&jwt, token.c_str(), reinterpret_cast<const unsigned char*>(key_.data()), int(key_.size()));
  if (rc != 0 || !jwt) {
    *why = "token signature or format invalid (" + std::string(std::strerror(rc ? rc : EINVAL)) + ")";
    return Verdict::kMalformed;
  }
  std::unique_ptr<jwt_t, void (*)(jwt_t*)> hold(jwt, jwt_free);
  if (jwt_get_alg(jwt) != jwt_alg(alg_)) {
    *why = std::string("token algorithm ") + jwt_alg_str(jwt_get_alg(jwt)) + ", expected " + jwt_alg_str(jwt_alg(alg_));
    return Verdict::kMalformed;
  }
  const int64_t now = int64_t(std::time(nullptr));
  errno = 0;
  const long exp = jwt_get_grant_int(jwt, "exp");
  if (errno == 0) {
    if (exp <= now) {
      *why = "token expired " + std::to_string(now - exp) + " s ago";
      return Verdict::kExpired;
    }
    grant->expires = exp;
  }
  errno = 0;
  const long nbf = jwt_get_grant_int(jwt, "nbf");
  if (errno == 0 && nbf > now) {
    *why = "token not valid before " + std::to_string(nbf);
    return Verdict::kMalformed;
  }
  if (!prefixes_of(jwt, "publish", &grant->publish, why) || !prefixes_of(jwt, "subscribe", &grant->subscribe, why))
    return Verdict::kMalformed;
  return Verdict::kOk;
}

std::optional<std::string> Authorizer::mint(Alg alg, const std::string& signing_key,
                                            const std::vector<std::string>& publish,
                                            const std::vector<std::string>& subscribe,
                                            std::optional<int64_t> expires, std::string* error) {
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) {
    *error = "jwt_new failed";
    return std::nullopt;
  }
  std::unique_ptr<jwt_t, void (*)(jwt_t*)> hold(jwt, jwt_free);
  JsonBuilder* b = json_builder_new();
  json_builder_begin_object(b);
  for (auto [name, list] : {std::pair{"publish", &publish}, std::pair{"subscribe", &subscribe}}) {
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (const std::string& p : *list) json_builder_add_string_value(b, p.c_str());
    json_builder_end_array(b);
  }
  json_builder_end_object(b);
  JsonNode* root = json_builder_get_root(b);
  gchar* json = json_to_string(root, FALSE);
  json_node_unref(root);
  g_object_unref(b);
  int rc = jwt_add_grants_json(jwt, json);
  g_free(json);
  if (rc == 0 && expires) rc = jwt_add_grant_int(jwt, "exp", long(*expires));
  if (rc == 0)
    rc = jwt_set_alg(jwt, jwt_alg(alg), reinterpret_cast<const unsigned char*>(signing_key.data()),
                     int(signing_key.size()));
  char* out = rc == 0 ? jwt_encode_str(jwt) : nullptr;
  if (!out) {
    *error = "cannot sign the token (" + std::string(std::strerror(rc ? rc : EINVAL)) + ")";
    return std::nullopt;
  }
  std::string token(out);
  free(out);  // malloc()ed by libjwt
  return token;
}

std::optional<std::string> Authorizer::token_of(const std::optional<std::string>& setup_token, const std::string& path) {
  if (setup_token && !setup_token->empty()) return setup_token;
  const auto q = path.find('?');
  if (q == std::string::npos) return std::nullopt;
  std::stringstream qs(path.substr(q + 1));
  for (std::string kv; std::getline(qs, kv, '&');)
    if (kv.rfind("jwt=", 0) == 0) return kv.substr(4);
  return std::nullopt;
}

}  // namespace moqt::relay
