#include "moqt/quic/tls.h"

#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace moqt::quic {
namespace {

bool set_err(std::string* error, const std::string& what, int rc) {
  if (error) *error = what + ": " + gnutls_strerror(rc);
  return false;
}

std::string read_file(const std::string& path, bool* ok) {
  std::ifstream f(path, std::ios::binary);
  *ok = bool(f);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool is_ip(const std::string& s, unsigned char* out, size_t* len) {
  if (inet_pton(AF_INET, s.c_str(), out) == 1) {
    *len = 4;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out) == 1) {
    *len = 16;
    return true;
  }
  return false;
}

std::string to_hex(const unsigned char* p, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(k[p[i] >> 4]);
    s.push_back(k[p[i] & 15]);
  }
  return s;
}

}  // namespace

std::string sha256_hex(const void* der, size_t len) {
  unsigned char digest[32];
  gnutls_hash_fast(GNUTLS_DIG_SHA256, der, len, digest);
  return to_hex(digest, sizeof digest);
}

std::optional<CertificatePem> generate_self_signed(const std::vector<std::string>& names, int days,
                                                   std::string* error) {
  gnutls_x509_privkey_t key = nullptr;
  gnutls_x509_crt_t crt = nullptr;
  std::optional<CertificatePem> out;
  int rc;
  auto cleanup = [&] {
    if (crt) gnutls_x509_crt_deinit(crt);
    if (key) gnutls_x509_privkey_deinit(key);
  };
  if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
      (rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0) {
    set_err(error, "generating an ECDSA P-256 key", rc);
    cleanup();
    return out;
  }
  if ((rc = gnutls_x509_crt_init(&crt)) < 0) {
    set_err(error, "creating a certificate", rc);
    cleanup();
    return out;
  }
  const time_t now = time(nullptr);
  unsigned char serial[16];
  gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  const std::string cn = names.empty() ? "localhost" : names[0];
  gnutls_x509_crt_set_version(crt, 3);
  gnutls_x509_crt_set_serial(crt, serial, sizeof serial);
  // The whole validity period is `days` (from one hour ago, for clock skew): browsers pinning
  // by hash (WebTransport serverCertificateHashes) refuse a period over 14 days, so 14 must fit.
  gnutls_x509_crt_set_activation_time(crt, now - 3600);
  gnutls_x509_crt_set_expiration_time(crt, now - 3600 + time_t(days) * 86400);
  gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn.data(), unsigned(cn.size()));
  gnutls_x509_crt_set_key(crt, key);
  gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
  gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
  gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
  for (const std::string& n : names) {
    unsigned char ip[16];
    size_t iplen = 0;
    if (is_ip(n, ip, &iplen))
      gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, unsigned(iplen), GNUTLS_FSAN_APPEND);
    else
      gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, n.data(), unsigned(n.size()), GNUTLS_FSAN_APPEND);
  }
  if ((rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0) {
    set_err(error, "self-signing the certificate", rc);
    cleanup();
    return out;
  }
  gnutls_datum_t pem{}, kpem{}, der{};
  if ((rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem)) < 0 ||
      (rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kpem)) < 0 ||
      (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der)) < 0) {
    set_err(error, "exporting the certificate", rc);
  } else {
    out = CertificatePem{std::string(reinterpret_cast<char*>(pem.data), pem.size),
                         std::string(reinterpret_cast<char*>(kpem.data), kpem.size), sha256_hex(der.data, der.size)};
  }
  gnutls_free(pem.data);
  gnutls_free(kpem.data);
  gnutls_free(der.data);
  cleanup();
  return out;
}

std::optional<CertificatePem> load_pem_files(const std::string& cert_file, const std::string& key_file,
                                             std::string* error) {
  bool ok1, ok2;
  CertificatePem c;
  c.cert = read_file(cert_file, &ok1);
  c.key = read_file(key_file, &ok2);
  if (!ok1 || !ok2) {
    if (error) *error = "cannot read " + (!ok1 ? cert_file : key_file);
    return std::nullopt;
  }
  gnutls_x509_crt_t crt;
  gnutls_x509_crt_init(&crt);
  gnutls_datum_t d{reinterpret_cast<unsigned char*>(c.cert.data()), unsigned(c.cert.size())};
  int rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
  if (rc < 0) {
    gnutls_x509_crt_deinit(crt);
    set_err(error, "parsing " + cert_file, rc);
    return std::nullopt;
  }
  gnutls_datum_t der{};
  gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
  c.sha256_hex = sha256_hex(der.data, der.size);
  gnutls_free(der.data);
  gnutls_x509_crt_deinit(crt);
  return c;
}

std::shared_ptr<ServerTls> ServerTls::create(const CertificatePem& cert, std::vector<std::string> alpns,
                                             std::string* error) {
  std::shared_ptr<ServerTls> t(new ServerTls());
  int rc = gnutls_certificate_allocate_credentials(&t->cred_);
  if (rc < 0) return set_err(error, "allocating credentials", rc), nullptr;
  if ((rc = gnutls_priority_init(&t->priority_, kQuicPriority, nullptr)) < 0)
    return set_err(error, "the TLS priority string", rc), nullptr;
  gnutls_datum_t c{reinterpret_cast<unsigned char*>(const_cast<char*>(cert.cert.data())), unsigned(cert.cert.size())};
  gnutls_datum_t k{reinterpret_cast<unsigned char*>(const_cast<char*>(cert.key.data())), unsigned(cert.key.size())};
  rc = gnutls_certificate_set_x509_key_mem(t->cred_, &c, &k, GNUTLS_X509_FMT_PEM);
  if (rc < 0) return set_err(error, "loading the certificate/key", rc), nullptr;
  t->alpns_ = std::move(alpns);
  t->sha256_ = cert.sha256_hex;
  return t;
}

ServerTls::~ServerTls() {
  if (cred_) gnutls_certificate_free_credentials(cred_);
  if (priority_) gnutls_priority_deinit(priority_);  // sessions hold their own reference
}

namespace {
void set_alpns(gnutls_session_t s, const std::vector<std::string>& alpns, unsigned flags) {
  std::vector<gnutls_datum_t> d;
  for (const std::string& a : alpns)
    d.push_back({reinterpret_cast<unsigned char*>(const_cast<char*>(a.data())), unsigned(a.size())});
  gnutls_alpn_set_protocols(s, d.data(), unsigned(d.size()), flags);
}
}  // namespace

gnutls_session_t ServerTls::new_session(std::string* error) const {
  gnutls_session_t s = nullptr;
  int rc = gnutls_init(&s, GNUTLS_SERVER | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_AUTO_SEND_TICKET |
                               GNUTLS_NO_END_OF_EARLY_DATA);
  if (rc < 0) return set_err(error, "gnutls_init", rc), nullptr;
  if ((rc = gnutls_priority_set(s, priority_)) < 0 ||
      (rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred_)) < 0 ||
      (rc = ngtcp2_crypto_gnutls_configure_server_session(s)) != 0) {
    gnutls_deinit(s);
    set_err(error, "configuring the TLS server session", rc);
    return nullptr;
  }
  set_alpns(s, alpns_, GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE);
  return s;
}

std::shared_ptr<ClientTls> ClientTls::create(ClientTlsConfig cfg, std::string* error) {
  std::shared_ptr<ClientTls> t(new ClientTls());
  int rc = gnutls_certificate_allocate_credentials(&t->cred_);
  if (rc < 0) return set_err(error, "allocating credentials", rc), nullptr;
  if ((rc = gnutls_priority_init(&t->priority_, kQuicPriority, nullptr)) < 0)
    return set_err(error, "the TLS priority string", rc), nullptr;
  if (cfg.verify == VerifyMode::kSystemCa) {
    rc = gnutls_certificate_set_x509_system_trust(t->cred_);
    if (rc < 0) return set_err(error, "loading the system CA store", rc), nullptr;
    if (!cfg.ca_file.empty()) {
      rc = gnutls_certificate_set_x509_trust_file(t->cred_, cfg.ca_file.c_str(), GNUTLS_X509_FMT_PEM);
      if (rc < 0) return set_err(error, "loading " + cfg.ca_file, rc), nullptr;
    }
  }
  if (cfg.verify == VerifyMode::kPinnedSha256) {
    std::string h;
    for (char c : cfg.pinned_sha256)
      if (c != ':' && c != ' ') h.push_back(char(tolower(c)));
    if (h.size() != 64 || h.find_first_not_of("0123456789abcdef") != std::string::npos) {
      if (error) *error = "pinned certificate hash must be 64 hex digits (SHA-256)";
      return nullptr;
    }
    cfg.pinned_sha256 = h;
  }
  t->cfg_ = std::move(cfg);
  return t;
}

ClientTls::~ClientTls() {
  if (cred_) gnutls_certificate_free_credentials(cred_);
  if (priority_) gnutls_priority_deinit(priority_);  // sessions hold their own reference
}

gnutls_session_t ClientTls::new_session(std::string* error) const {
  gnutls_session_t s = nullptr;
  int rc = gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA);
  if (rc < 0) return set_err(error, "gnutls_init", rc), nullptr;
  if ((rc = gnutls_priority_set(s, priority_)) < 0 ||
      (rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred_)) < 0 ||
      (rc = ngtcp2_crypto_gnutls_configure_client_session(s)) != 0) {
    gnutls_deinit(s);
    set_err(error, "configuring the TLS client session", rc);
    return nullptr;
  }
  set_alpns(s, cfg_.alpns, GNUTLS_ALPN_MANDATORY);
  if (!cfg_.server_name.empty()) {
    unsigned char ip[16];
    size_t iplen;
    if (!is_ip(cfg_.server_name, ip, &iplen))  // SNI carries names only
      gnutls_server_name_set(s, GNUTLS_NAME_DNS, cfg_.server_name.data(), cfg_.server_name.size());
  }
  if (cfg_.verify == VerifyMode::kSystemCa) gnutls_session_set_verify_cert(s, cfg_.server_name.c_str(), 0);
  return s;
}

std::optional<std::string> ClientTls::verify_peer(gnutls_session_t s) const {
  if (cfg_.verify != VerifyMode::kPinnedSha256) return std::nullopt;  // CA: checked in the handshake
  unsigned n = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(s, &n);
  if (!certs || n == 0) return std::string("the server sent no certificate");
  const std::string got = sha256_hex(certs[0].data, certs[0].size);
  if (got != cfg_.pinned_sha256)
    return "server certificate SHA-256 " + got + " does not match the pinned " + cfg_.pinned_sha256;
  return std::nullopt;
}

std::string negotiated_alpn(gnutls_session_t s) {
  gnutls_datum_t d{};
  if (gnutls_alpn_get_selected_protocol(s, &d) != 0) return {};
  return std::string(reinterpret_cast<char*>(d.data), d.size);
}

}  // namespace moqt::quic
