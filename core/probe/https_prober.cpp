#include "core/probe/https_prober.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "core/describe/probe_sentences.hpp"
#include "core/probe/probe_session.hpp"

namespace certheal {

namespace asio = boost::asio;

struct HttpsProber::Impl : std::enable_shared_from_this<HttpsProber::Impl> {
    struct Pending {
        SiteConfig site;
        std::function<void(ProbeResult)> done;
    };
    // A probe thread: its own io_context, kept running until the prober goes.
    struct ProbeThread {
        asio::io_context io{1};
        asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
        std::thread thread;
    };
    struct Live {
        std::weak_ptr<ProbeSession> session;
        asio::io_context* where = nullptr;
    };

    Impl(asio::io_context& home_io, ProberOptions prober_options, CertificateStores* stores,
         std::shared_ptr<TlsMaterialCache> shared_material, ClientIdentitySource* identities, const Clock* clock)
        : home(home_io),
          options(prober_options),
          wall_clock(clock),
          material(shared_material ? std::move(shared_material) : std::make_shared<TlsMaterialCache>()),
          contexts(*material, stores, identities) {
        if (options.max_in_flight == 0) options.max_in_flight = 1;
        for (std::size_t index = 0; index < options.threads; ++index) {
            auto probe_thread = std::make_unique<ProbeThread>();
            probe_thread->thread = std::thread([&io = probe_thread->io] { io.run(); });
            threads.push_back(std::move(probe_thread));
        }
    }

    // Ends the probe threads. Sessions still on them are dropped without calling back.
    void stop_threads() noexcept {
        closed = true;
        for (auto& probe_thread : threads) {
            probe_thread->work.reset();
            probe_thread->io.stop();
        }
        for (auto& probe_thread : threads) {
            if (probe_thread->thread.joinable()) probe_thread->thread.join();
        }
    }

    // Starts queued probes while there is room. Runs on the home thread.
    void pump() {
        while (!closed && live.size() < options.max_in_flight && !queue.empty()) {
            Pending next = std::move(queue.front());
            queue.pop_front();
            start(std::move(next));
        }
        if (live.empty() && queue.empty()) busy.reset();
    }

    void start(Pending next) {
        asio::io_context& where = threads.empty() ? home : threads[next_thread++ % threads.size()]->io;
        const std::uint64_t id = ++last_id;
        // Runs on the session's thread; the result goes back to the home thread, where the
        // caller's callback runs and the freed slot starts the next queued probe.
        auto finished = [weak = weak_from_this(), id, done = std::move(next.done)](ProbeResult result) mutable {
            auto self = weak.lock();
            if (!self) return;
            asio::post(self->home, [weak, id, done = std::move(done), result = std::move(result)]() mutable {
                auto impl = weak.lock();
                if (impl) impl->live.erase(id);
                done(std::move(result));
                if (impl) impl->pump();
            });
        };
        auto session = std::make_shared<ProbeSession>(where, next.site, pattern_for(next.site.rejection_pattern),
                                                      options, wall_clock, std::move(finished));
        live[id] = Live{session, &where};
        // The context is found where the probe runs: a store client certificate is chosen there
        // (reading the store and opening its key block), never on the home thread.
        asio::post(where, [session, weak = weak_from_this(), tls = next.site.tls, name = next.site.name] {
            if (auto self = weak.lock()) session->start(self->contexts.context_for(tls, name));
        });
    }

    // Each distinct pattern is compiled once, however many sites and probes use it. Config
    // validation has refused patterns that do not compile; the default stands in for one anyway.
    std::shared_ptr<const RejectionPattern> pattern_for(const std::string& text) {
        const auto found = patterns.find(text);
        if (found != patterns.end()) return found->second;
        auto compiled = RejectionPattern::compile(text);
        auto pattern = compiled ? compiled.value() : RejectionPattern::default_pattern();
        if (patterns.size() >= kMaxCompiledPatterns) patterns.clear();  // only after many reloads
        patterns.emplace(text, pattern);
        return pattern;
    }
    static constexpr std::size_t kMaxCompiledPatterns = 256;

    asio::io_context& home;
    ProberOptions options;
    const Clock* wall_clock;  // read on the probe threads
    std::map<std::string, std::shared_ptr<const RejectionPattern>> patterns;
    std::shared_ptr<TlsMaterialCache> material;
    TlsContextCache contexts;
    std::vector<std::unique_ptr<ProbeThread>> threads;
    std::size_t next_thread = 0;
    std::deque<Pending> queue;
    std::map<std::uint64_t, Live> live;  // started, not yet handed back
    std::uint64_t last_id = 0;
    // Keeps the home io_context running while probes are queued or on the probe threads.
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> busy;
    bool closed = false;
};

std::size_t default_probe_threads() noexcept {
    const unsigned hardware = std::thread::hardware_concurrency();
    return std::clamp<std::size_t>(hardware == 0 ? 1 : hardware, 1, 4);
}

HttpsProber::HttpsProber(asio::io_context& io, ProberOptions options, CertificateStores* system_stores,
                         std::shared_ptr<TlsMaterialCache> material, ClientIdentitySource* identities,
                         const Clock* wall_clock)
    : impl_(std::make_shared<Impl>(io, options, system_stores, std::move(material), identities, wall_clock)) {}

HttpsProber::~HttpsProber() noexcept { impl_->stop_threads(); }

void HttpsProber::probe(const SiteConfig& site, std::function<void(ProbeResult)> done) {
    auto& impl = *impl_;
    if (!impl.busy) impl.busy.emplace(impl.home.get_executor());
    impl.queue.push_back(Impl::Pending{site, std::move(done)});
    // Started from the home loop, so the callback never runs inside probe().
    asio::post(impl.home, [weak = std::weak_ptr<Impl>(impl_)] {
        if (auto alive = weak.lock()) alive->pump();
    });
}

void HttpsProber::cancel_all() {
    auto& impl = *impl_;
    for (auto& [id, live] : impl.live) {
        if (auto session = live.session.lock()) {
            asio::post(*live.where, [session] { session->cancel(); });
        }
    }
    // Probes that never started end the same way, without touching the network.
    for (auto& pending : impl.queue) {
        ProbeResult result;
        result.site = pending.site.name;
        result.url = pending.site.url;
        result.probe_class = ProbeClass::timeout;
        result.error = probe_cancelled_sentence(pending.site.name);
        asio::post(impl.home, [done = std::move(pending.done), result = std::move(result)]() mutable {
            done(std::move(result));
        });
    }
    impl.queue.clear();
}

std::size_t HttpsProber::cached_contexts() const noexcept { return impl_->contexts.size(); }

std::size_t HttpsProber::in_flight() const noexcept { return impl_->live.size(); }

void HttpsProber::set_max_in_flight(std::size_t most) {
    impl_->options.max_in_flight = std::max<std::size_t>(most, 1);
    impl_->pump();
}

}  // namespace certheal
