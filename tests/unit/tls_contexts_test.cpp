#include <catch2/catch.hpp>

#include <openssl/ssl.h>

#include "core/probe/tls_contexts.hpp"
#include "support/pki.hpp"

using namespace certheal;

TEST_CASE("a probe's TLS context keeps no session and takes no ticket, so no probe can resume one", "[tls]") {
    const test::Pki pki;
    TlsMaterialCache material;
    TlsContextCache contexts(material, nullptr);
    TlsSettings tls;
    tls.ca_file = pki.ca_cert;
    tls.client_cert = PemClientCert{pki.client_cert, pki.client_key};
    auto context = contexts.context_for(tls, "site");
    REQUIRE(context.ok());
    SSL_CTX* native = context.value().context->native_handle();
    CHECK(SSL_CTX_get_session_cache_mode(native) == SSL_SESS_CACHE_OFF);
    CHECK((SSL_CTX_get_options(native) & SSL_OP_NO_TICKET) != 0);
    // A server may ask for the certificate after the request: TLS 1.2 renegotiation stays
    // allowed (secure renegotiation only).
    CHECK((SSL_CTX_get_options(native) & SSL_OP_NO_RENEGOTIATION) == 0);
    CHECK((SSL_CTX_get_options(native) & SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION) == 0);
    // Nothing to resume from: a fresh SSL of this context has no session.
    SSL* ssl = SSL_new(native);
    REQUIRE(ssl != nullptr);
    CHECK(SSL_get_session(ssl) == nullptr);
    SSL_free(ssl);
}
