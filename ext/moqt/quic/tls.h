// TLS 1.3 for QUIC with GnuTLS: certificates (PEM files or a generated short-lived self-signed
// ECDSA P-256 one that browsers accept through serverCertificateHashes), server and client
// credentials, ALPN, and peer verification (system CA store, a pinned SHA-256, or insecure).
// SSLKEYLOGFILE is honoured by GnuTLS itself (the file gets the QUIC handshake secrets); GnuTLS
// reads the variable once per process, when the first secret is logged.
#pragma once

#include <gnutls/gnutls.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace moqt::quic {

// Must contain %DISABLE_TLS13_COMPAT_MODE for QUIC; AES-GCM first (no SIMD ChaCha on this CPU).
inline constexpr const char* kQuicPriority =
    "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1";

struct CertificatePem {
  std::string cert;         // PEM
  std::string key;          // PEM
  std::string sha256_hex;   // SHA-256 of the DER certificate (what browsers pin), lowercase hex
};

// Self-signed ECDSA P-256, valid from one hour ago for `days` days in all (browsers pinning by
// hash accept at most 14), with the given DNS names / IP addresses as subjectAltNames.
std::optional<CertificatePem> generate_self_signed(const std::vector<std::string>& names, int days,
                                                   std::string* error);
std::optional<CertificatePem> load_pem_files(const std::string& cert_file, const std::string& key_file,
                                             std::string* error);
// SHA-256 of a DER blob as lowercase hex.
std::string sha256_hex(const void* der, size_t len);

class ServerTls {
 public:
  static std::shared_ptr<ServerTls> create(const CertificatePem& cert, std::vector<std::string> alpns,
                                           std::string* error);
  ~ServerTls();
  // A new server session for one connection (ALPN from our list, server's order wins).
  gnutls_session_t new_session(std::string* error) const;
  const std::vector<std::string>& alpns() const { return alpns_; }
  const std::string& cert_sha256() const { return sha256_; }

 private:
  ServerTls() = default;
  gnutls_certificate_credentials_t cred_ = nullptr;
  gnutls_priority_t priority_ = nullptr;  // parsed once, not per connection (~7 KB and a parse each)
  std::vector<std::string> alpns_;
  std::string sha256_;
};

enum class VerifyMode { kSystemCa, kPinnedSha256, kInsecure };

struct ClientTlsConfig {
  std::vector<std::string> alpns;
  std::string server_name;            // SNI and the name checked against the certificate
  VerifyMode verify = VerifyMode::kSystemCa;
  std::string pinned_sha256;          // kPinnedSha256: hex of the server certificate's DER hash
  std::string ca_file;                // kSystemCa: an extra trusted CA file (PEM), optional
};

class ClientTls {
 public:
  static std::shared_ptr<ClientTls> create(ClientTlsConfig cfg, std::string* error);
  ~ClientTls();
  gnutls_session_t new_session(std::string* error) const;
  // After the handshake: checks a pinned hash (CA verification happens inside the handshake).
  // Returns why the peer is rejected, or nullopt.
  std::optional<std::string> verify_peer(gnutls_session_t s) const;
  const ClientTlsConfig& config() const { return cfg_; }

 private:
  ClientTls() = default;
  gnutls_certificate_credentials_t cred_ = nullptr;
  gnutls_priority_t priority_ = nullptr;
  ClientTlsConfig cfg_;
};

// The ALPN the handshake selected ("" if none).
std::string negotiated_alpn(gnutls_session_t s);

}  // namespace moqt::quic
