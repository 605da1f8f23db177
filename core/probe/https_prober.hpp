#pragma once
// HttpsProber: the SiteProber that speaks HTTPS with Boost.Beast over OpenSSL. Every probe is
// asynchronous (no thread per probe): it runs on one of a few probe threads (one io_context
// each) and ends in exactly one callback on the caller's io_context thread, also on timeout or
// cancellation. It makes a full TLS handshake (no session resumption, which could hide a
// certificate problem). At most max_in_flight probes run at once; sites that share a TLS
// identity share one TLS context.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "core/model/certificate_stores.hpp"
#include "core/base/clock.hpp"
#include "core/model/ports.hpp"
#include "core/probe/client_identity_source.hpp"
#include "core/probe/tls_files.hpp"

namespace boost::asio {
class io_context;
}

namespace certheal {

// The probe threads to use when nothing says otherwise: one per core, at most four.
std::size_t default_probe_threads() noexcept;

struct ProberOptions {
    std::size_t body_limit = std::size_t{64} * 1024;  // bytes of the body kept; the rest is not read
    // Probes in flight at once (service.max_concurrent_probes); the rest wait in order, and a
    // probe's timeout and timings start when it really starts.
    std::size_t max_in_flight = 64;
    // Threads that do the TLS work, each with its own io_context; 0 runs every probe on the
    // caller's io_context. Results always come back on the caller's io_context.
    std::size_t threads = default_probe_threads();
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
    // `material`: the TLS file cache config validation filled, so the prober decodes nothing
    // twice; null: a cache of its own.
    // `identities`: where a store client_cert is found (Windows: LocalMachine\My), asked at
    // every probe on the probe's thread; null: nowhere (such a probe is client_cert_invalid).
    // `wall_clock`: the wall time certheal's client certificate dates are held against. Its
    // wall_now is called on the probe threads, so it must be safe to call from any thread while
    // others read it (AsioClock's is; a FakeClock only while nobody advances it). Must outlive
    // the prober; null: the system's wall clock.
    explicit HttpsProber(boost::asio::io_context& io, ProberOptions options = {},
                         CertificateStores* system_stores = nullptr,
                         std::shared_ptr<TlsMaterialCache> material = nullptr,
                         ClientIdentitySource* identities = nullptr, const Clock* wall_clock = nullptr);
    // Stops the probe threads; probes still in flight end without calling back.
    ~HttpsProber() noexcept override;
    HttpsProber(const HttpsProber&) = delete;
    HttpsProber& operator=(const HttpsProber&) = delete;

    void probe(const SiteConfig& site, std::function<void(ProbeResult)> done) override;

    // Ends every probe in flight; each still calls its callback once (class timeout,
    // error "cancelled because certheal is stopping").
    void cancel_all();

    // TLS contexts kept: one per distinct TLS identity, whatever the number of sites that share
    // it; rebuilt when one of its files changes. Exposed for tests.
    std::size_t cached_contexts() const noexcept;
    // Probes started and not yet handed back.
    std::size_t in_flight() const noexcept;
    // A new cap on probes in flight (config reload); probes already running go on.
    void set_max_in_flight(std::size_t most);

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace certheal
