#pragma once
// One probe of a site by a fresh HttpsProber on its own io_context, run to its end, for the lab
// tests that probe a real peer. Catch2 test helper.

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <optional>

#include "core/probe/https_prober.hpp"

namespace certheal::test {

// `identities`: where a store client_cert is found (none: nowhere).
inline ProbeResult probe_once(const SiteConfig& site, ClientIdentitySource* identities = nullptr) {
    boost::asio::io_context io;
    HttpsProber prober(io, {}, nullptr, nullptr, identities);
    std::optional<ProbeResult> result;
    prober.probe(site, [&](ProbeResult probed) { result = std::move(probed); });
    io.run();
    REQUIRE(result);
    INFO("error: " << result->error.value_or("(none)"));
    return *result;
}

inline ProbeResult probe_once(const SiteConfig& site, ClientIdentitySource& identities) {
    return probe_once(site, &identities);
}

}  // namespace certheal::test
