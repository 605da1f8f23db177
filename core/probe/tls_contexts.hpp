#pragma once
// One OpenSSL client context per distinct TLS identity (verify setting, CA file, client
// certificate and key), shared by every site that uses it: a thousand sites that present the
// same certificate share one SSL_CTX and one decoded key. A context is built again only when
// one of its files changes (size or modification time), from a TlsMaterialCache that config
// validation has usually filled already, or when a store client certificate selects another
// certificate (a renewal), through the ClientIdentitySource.
//
// Used from the prober's dispatching thread; a context it hands out may be used by sessions
// on other threads (OpenSSL's SSL_CTX is safe to create connections from concurrently).

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>

#include <boost/asio/ssl/context.hpp>

#include "core/model/certificate_stores.hpp"
#include "core/model/config_model.hpp"
#include "core/base/result.hpp"
#include "core/probe/client_identity_source.hpp"
#include "core/probe/tls_files.hpp"

namespace certheal {

// A context and the client identity it presents (null without a client certificate).
struct ClientTlsContext {
    std::shared_ptr<boost::asio::ssl::context> context;
    SharedIdentity client_identity;
};

// The code of a context_for() failure because a store client certificate cannot be had (no
// match, only expired matches, a key that cannot be opened): no trust re-sync cures that, so
// the probe reports client_cert_invalid with the failure's message.
std::error_code client_identity_unavailable() noexcept;

class TlsContextCache {
public:
    // `system_stores`: the trusted roots for `verify: true` without a ca_file where the platform
    // has certificate stores (Windows: LocalMachine Root and CA); elsewhere, or null, OpenSSL's
    // default paths. `identities`: where a store client_cert is found (null: nowhere). All must
    // outlive the cache.
    TlsContextCache(TlsMaterialCache& material, CertificateStores* system_stores,
                    ClientIdentitySource* identities = nullptr);

    // The context for these settings. `site` only names the site in a failure's sentence.
    // A failure is not kept: the files may be fixed by the next call. With a store client_cert
    // it asks the store which certificate to present, so it blocks: call it from a probe
    // thread, never the monitor's.
    Result<ClientTlsContext> context_for(const TlsSettings& tls, const std::string& site);

    std::size_t size() const;  // distinct identities with a context

private:
    struct Entry {
        std::string stamp;
        ClientTlsContext context;
    };
    Result<std::shared_ptr<boost::asio::ssl::context>> build(const TlsSettings& tls, const SharedIdentity& identity,
                                                             const std::string& site);

    TlsMaterialCache& material_;
    CertificateStores* system_stores_;
    ClientIdentitySource* identities_;
    mutable std::mutex mutex_;
    std::map<std::string, Entry> contexts_;  // by identity, one version each
};

}  // namespace certheal
