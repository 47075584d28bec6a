// TLS termination: one SSL_CTX per certificate, TLS 1.2 and 1.3 only; SNI picks the context
// whose certificate names the requested host (exact, then "*.domain"), else the first one.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/detail/core.h"

namespace berth::proxy::detail {

namespace {

struct Named {
  SSL_CTX* ctx;
  std::vector<std::string> names;
};
std::vector<Named>& sni_table() {
  static std::vector<Named> table;  // loop thread only; filled once at start-up
  return table;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::vector<std::string> certificate_names(SSL_CTX* ctx) {
  std::vector<std::string> names;
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_DNS) continue;
      const auto* s = n->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    }
    GENERAL_NAMES_free(sans);
  }
  char cn[256];
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) {
    names.emplace_back(cn);
  }
  for (auto& n : names) {
    for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return names;
}

int on_servername(SSL* ssl, int*, void*) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  std::string host(name);
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  SSL_CTX* wildcard = nullptr;
  for (const auto& entry : sni_table()) {
    for (const auto& n : entry.names) {
      if (n == host) {
        SSL_set_SSL_CTX(ssl, entry.ctx);
        return SSL_TLSEXT_ERR_OK;
      }
      if (wildcard == nullptr && n.starts_with("*.")) {
        const auto dot = host.find('.');
        if (dot != std::string::npos && host.substr(dot) == n.substr(1)) wildcard = entry.ctx;
      }
    }
  }
  if (wildcard != nullptr) SSL_set_SSL_CTX(ssl, wildcard);
  return SSL_TLSEXT_ERR_OK;
}

Result<std::unique_ptr<asio::ssl::context>> make_context(const TlsCertificate& cert) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(native, cert.cert_file.c_str()) != 1) {
    return Error::make(ErrorKind::invalid_argument, "load TLS certificate '{}': {}", cert.cert_file,
                       openssl_error());
  }
  if (SSL_CTX_use_PrivateKey_file(native, cert.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Error::make(ErrorKind::invalid_argument, "load TLS key '{}': {}", cert.key_file,
                       openssl_error())
        .with_hint("check that --tls-key follows its --tls-cert");
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return Error::make(ErrorKind::invalid_argument,
                       "TLS certificate '{}' does not match its key '{}'", cert.cert_file,
                       cert.key_file)
        .with_hint("give each --tls-cert the --tls-key it was made with");
  }
  return ctx;
}

}  // namespace

Result<void> load_tls(Core& core) {
  if (core.options.certificates.empty()) {
    return Error::make(ErrorKind::invalid_argument,
                       "a TLS listener needs a certificate: give --tls-cert FILE --tls-key FILE");
  }
  for (const auto& cert : core.options.certificates) {
    BERTH_TRY(auto ctx, make_context(cert));
    sni_table().push_back({ctx->native_handle(), certificate_names(ctx->native_handle())});
    core.tls_contexts.push_back(std::move(ctx));
  }
  // The first certificate answers clients without SNI or with an unknown name.
  BERTH_TRY(auto def, make_context(core.options.certificates.front()));
  SSL_CTX_set_tlsext_servername_callback(def->native_handle(), on_servername);
  core.default_tls = std::move(def);
  return {};
}

}  // namespace berth::proxy::detail
