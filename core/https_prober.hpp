#pragma once
// HttpsProber: the SiteProber that speaks HTTPS with Boost.Beast over OpenSSL on the
// monitor's io_context. Every probe is asynchronous (no thread per probe), makes a full
// TLS handshake (no session resumption, which could hide a certificate problem), and ends
// in exactly one callback on the io_context's thread, also on timeout or cancellation.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "core/certificate_stores.hpp"
#include "core/clock.hpp"
#include "core/ports.hpp"

namespace boost::asio {
class io_context;
}

namespace certheal {

struct ProberOptions {
    std::size_t body_limit = std::size_t{64} * 1024;  // bytes of the body kept; the rest is not read
    // Per-phase deadlines. Each is also bounded by what is left of the site's overall
    // timeout; an empty limit means "whatever is left of the overall timeout".
    std::optional<Duration> resolve_limit;
    std::optional<Duration> connect_limit;
    std::optional<Duration> tls_limit;
    std::optional<Duration> response_limit;
};

class HttpsProber final : public SiteProber {
public:
    // `system_stores`: where `verify: true` without a ca_file finds its trusted roots when the
    // platform has certificate stores (Windows: LocalMachine Root and CA); elsewhere, or when
    // null, OpenSSL's default paths. Must outlive the prober.
    explicit HttpsProber(boost::asio::io_context& io, ProberOptions options = {},
                         CertificateStores* system_stores = nullptr);
    // Cancels the probes still running; their callbacks run when the io_context runs next.
    ~HttpsProber() noexcept override;
    HttpsProber(const HttpsProber&) = delete;
    HttpsProber& operator=(const HttpsProber&) = delete;

    void probe(const SiteConfig& site, std::function<void(ProbeResult)> done) override;

    // Ends every probe in flight; each still calls its callback once (class timeout,
    // error "cancelled because certheal is stopping").
    void cancel_all();

    // TLS contexts kept, one per site name; rebuilt when the site's TLS settings or the
    // files they name change. Exposed for tests.
    std::size_t cached_contexts() const noexcept;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace certheal
