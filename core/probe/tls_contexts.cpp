#include "core/probe/tls_contexts.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <string>

#include "core/base/text.hpp"
#include "core/probe/certificate_info.hpp"
#include "core/model/certificate_stores.hpp"

namespace certheal {
namespace {

namespace ssl = boost::asio::ssl;

// Windows keeps the machine's trust in its certificate stores, where OpenSSL does not look:
// the roots of LocalMachine\Root are the trust anchors, and LocalMachine\CA supplies the
// intermediates (OpenSSL still requires the chain to end at a root, as Windows does).
Result<Done> load_system_trust(X509_STORE* store, CertificateStores& stores, const std::string& site) {
    for (const char* name : {"Root", "CA"}) {
        auto certificates = stores.list(name);
        if (!certificates) {
            return Failure{certificates.error().code, "Could not read the trusted certificates of " +
                                                          local_machine_store(std::string(name)) + " to verify site " + site + ": " +
                                                          certificates.error().message};
        }
        for (const auto& der : certificates.value()) {
            if (X509Ptr certificate = from_der(der)) {
                if (X509_STORE_add_cert(store, certificate.get()) != 1) ERR_clear_error();  // duplicates are harmless
            }
        }
    }
    return success();
}

class ClientIdentityCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "certheal client identity"; }
    std::string message(int) const override { return "the client certificate cannot be had"; }
};

// What the handshake may use of a key that signs where it lives: only the signature algorithms
// its provider can make, and TLS 1.2 at most when it cannot make RSA-PSS (TLS 1.3 needs it for
// an RSA key; offering TLS 1.3 would end in an empty Certificate message, which a server answers
// as if certheal's certificate had been refused, and that would look like a lost trust).
Result<Done> hold_back_what_the_key_cannot_sign(SSL_CTX* native, const KeyHome& home, const std::string& site) {
    if (!home.signature_algorithms.empty() &&
        SSL_CTX_set1_client_sigalgs_list(native, home.signature_algorithms.c_str()) != 1) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       "Could not limit the client certificate of site " + site + " to the signature algorithms " +
                           home.signature_algorithms + " that " + home.provider + " can make: " +
                           openssl_error_text() + "."};
    }
    if (!home.signs_tls13 && SSL_CTX_set_max_proto_version(native, TLS1_2_VERSION) != 1) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       "Could not limit site " + site + " to TLS 1.2 for a key in " + home.provider + ": " +
                           openssl_error_text() + "."};
    }
    return success();
}

}  // namespace

std::error_code client_identity_unavailable() noexcept {
    static const ClientIdentityCategory category;
    return {1, category};
}

Result<std::shared_ptr<ssl::context>> TlsContextCache::build(const TlsSettings& tls, const SharedIdentity& identity,
                                                             const std::string& site) {
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* native = context->native_handle();

    // Full handshake every time: a resumed session skips the server's check of the client
    // certificate, so it would hide exactly what certheal probes for. No session cache (nothing
    // is kept to resume from) and no tickets; each probe's SSL is new and never given a session.
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION);
    // Sites that ask for the client certificate only after the request (on some paths): IIS and
    // Apache renegotiate on TLS 1.2, so server-initiated renegotiation stays allowed (only
    // secure, RFC 5746, renegotiation: legacy server connect stays off); Apache uses TLS 1.3
    // post-handshake authentication, which certheal offers as curl and browsers do.
    SSL_CTX_clear_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_LEGACY_SERVER_CONNECT |
                                      SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION);
    SSL_CTX_set_post_handshake_auth(native, 1);
    static constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    if (SSL_CTX_set_alpn_protos(native, kAlpnHttp11, sizeof kAlpnHttp11) != 0) {
        return Failure{std::make_error_code(std::errc::protocol_error),
                       "Could not offer ALPN http/1.1 for site " + site + ": " + openssl_error_text() + "."};
    }

    if (tls.verify) {
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
        if (tls.ca_file) {
            auto certificates = material_.certificates(*tls.ca_file);
            if (!certificates) return certificates.error();
            X509_STORE* store = SSL_CTX_get_cert_store(native);
            for (const auto& certificate : *certificates.value()) {
                if (X509_STORE_add_cert(store, certificate.get()) != 1) {
                    ERR_clear_error();  // a duplicate in the bundle is harmless
                }
            }
        } else if (system_stores_ != nullptr && system_stores_->available()) {
            if (auto loaded = load_system_trust(SSL_CTX_get_cert_store(native), *system_stores_, site); !loaded) {
                return loaded.error();
            }
        } else if (SSL_CTX_set_default_verify_paths(native) != 1) {
            return Failure{std::make_error_code(std::errc::io_error),
                           "Could not load the system trust store for site " + site + ": " +
                               openssl_error_text() + "."};
        }
    } else {
        SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
    }

    if (identity) {
        const ClientIdentity& loaded = *identity;
        if (SSL_CTX_use_certificate(native, loaded.certificate.get()) != 1 ||
            SSL_CTX_use_PrivateKey(native, loaded.private_key.get()) != 1 ||
            SSL_CTX_check_private_key(native) != 1) {
            return Failure{std::make_error_code(std::errc::invalid_argument),
                           "Could not install the client certificate of site " + site + ": " +
                               openssl_error_text() + "."};
        }
        for (const auto& intermediate : loaded.chain) {
            if (SSL_CTX_add1_chain_cert(native, intermediate.get()) != 1) ERR_clear_error();
        }
        if (loaded.key_home) {
            if (auto held = hold_back_what_the_key_cannot_sign(native, *loaded.key_home, site); !held) {
                return held.error();
            }
        }
    }
    return context;
}


TlsContextCache::TlsContextCache(TlsMaterialCache& material, CertificateStores* system_stores,
                                 ClientIdentitySource* identities)
    : material_(material), system_stores_(system_stores), identities_(identities) {}

Result<ClientTlsContext> TlsContextCache::context_for(const TlsSettings& tls, const std::string& site) {
    // Which identity (the settings and paths, never what the files hold), and which version of
    // its files: one context per identity, replaced when a file changes.
    std::string identity = std::string("verify=") + (tls.verify ? "1" : "0") + ";ca=";
    identity += tls.ca_file ? tls.ca_file->string() : std::string("(system)");
    std::string stamp = tls.ca_file ? TlsMaterialCache::file_stamp(*tls.ca_file) : std::string();
    SharedIdentity client;
    if (tls.client_cert) {
        identity += ";client=" + TlsMaterialCache::identity_key(*tls.client_cert);
        stamp += ";" + TlsMaterialCache::identity_stamp(*tls.client_cert);
        if (const auto* in_store = std::get_if<StoreClientCert>(&*tls.client_cert)) {
            // The store decides at every probe which certificate this is: a renewal is a new version.
            static NoClientIdentitySource no_stores;
            auto selected = (identities_ != nullptr ? *identities_ : no_stores).select(*in_store);
            if (!selected) {
                return Failure{client_identity_unavailable(),
                               "certheal has no client certificate to present to site " + site + ": " +
                                   as_clause(selected.error().message) + "."};
            }
            client = std::move(selected.value());
            const std::string thumbprint = client->key_home ? client->key_home->thumbprint : std::string();
            stamp += "@" + thumbprint + "#" + std::to_string(reinterpret_cast<std::uintptr_t>(client.get()));
        }
    }
    {
        std::lock_guard lock(mutex_);
        const auto found = contexts_.find(identity);
        if (found != contexts_.end() && found->second.stamp == stamp) return found->second.context;
    }
    if (tls.client_cert && !client) {
        auto loaded = material_.client_identity(*tls.client_cert);
        if (!loaded) return loaded.error();
        client = std::move(loaded.value());
    }
    auto built = build(tls, client, site);
    if (!built) return built.error();
    ClientTlsContext made{std::move(built.value()), std::move(client)};
    std::lock_guard lock(mutex_);
    contexts_[identity] = Entry{stamp, made};
    return made;
}

std::size_t TlsContextCache::size() const {
    std::lock_guard lock(mutex_);
    return contexts_.size();
}

}  // namespace certheal
