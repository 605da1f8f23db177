// libFuzzer harness: what a site answered, as the prober hands it to the classifier. classify(),
// find_iis_substatus() and find_iis_win32_status() must decide any observation, with any site
// pattern, without a crash, a hang or an exception, within a bounded time: the rejection pattern
// search is bounded by construction (RejectionPattern), so a slow input is a defect, never load.
// Nothing is caught here: whatever escapes must surface.
//
// Input layout (so that seeds can be written by hand; see tests/fuzz/README.md):
//   byte 0   status: 0-15 no status line (a transport failure), 16-191 403, 192-255 another status
//   byte 1   bits 0-1 the phase, bits 2-7 the transport failure
//   byte 2   bit 0 client certificate configured, bit 1 server asked for one, bit 2 certheal's
//            certificate outside its dates, bit 3 a TLS alert was received, bits 4-5 expect_status,
//            bits 6-7 how often the body repeats (1, 16, 256, 4096 times; at most 64 KiB in all)
//   byte 3   the TLS alert's code (its name as tls_alert_name gives it)
//   byte 4   length of the rejection_pattern (0: the default "403\.7"), at most kMaxPatternLength
//   byte 5   bit 0 the server's CA list was compared with certheal's issuer, bit 1 the issuer was
//            among them, bit 2 the connection was TLS 1.3, bit 3 the request went out
//   ...      the rejection_pattern, then the body: everything that is left
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/probe/classifier.hpp"

namespace {

using certheal::ProbePhase;
using certheal::TransportFailure;

constexpr std::size_t kMaxPatternLength = 64;
// The prober keeps this much of a body (HttpsProber's default body_limit), so a real answer can
// be this long. Repeating the fuzzed body reaches such sizes without libFuzzer growing inputs
// that far, which it rarely does.
constexpr std::size_t kProberBodyLimit = 64 * 1024;
constexpr std::array<std::size_t, 4> kBodyRepeats{1, 16, 256, 4096};

constexpr std::array<int, 8> kOtherStatuses{200, 204, 301, 400, 401, 404, 500, 503};
constexpr std::array<ProbePhase, 4> kPhases{ProbePhase::resolve, ProbePhase::connect, ProbePhase::tls,
                                            ProbePhase::response};
constexpr std::array<TransportFailure, 13> kFailures{
    TransportFailure::none,        TransportFailure::timed_out,          TransportFailure::name_not_resolved,
    TransportFailure::refused,     TransportFailure::reset,              TransportFailure::unreachable,
    TransportFailure::closed,      TransportFailure::tls_alert,          TransportFailure::server_cert_invalid,
    TransportFailure::tls_protocol, TransportFailure::local_setup,       TransportFailure::other,
    TransportFailure::http_protocol,
};
class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    std::string text(std::size_t length) {
        length = std::min(length, size_ - pos_);
        std::string result(reinterpret_cast<const char*>(data_ + pos_), length);
        pos_ += length;
        return result;
    }
    std::string rest() { return text(size_ - pos_); }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input input(data, size);
    certheal::ProbeObservation observation;
    certheal::SiteRules rules;

    const std::uint8_t status = input.byte();
    if (status >= 192) observation.status = kOtherStatuses[status % kOtherStatuses.size()];
    else if (status >= 16) observation.status = 403;

    const std::uint8_t where = input.byte();
    observation.phase = kPhases[where % kPhases.size()];
    observation.failure = kFailures[(where >> 2) % kFailures.size()];

    const std::uint8_t flags = input.byte();
    observation.client_cert_configured = (flags & 0x01) != 0;
    observation.server_requested_client_cert = (flags & 0x02) != 0;
    observation.client_cert_outside_validity = (flags & 0x04) != 0;
    const std::uint8_t alert_code = input.byte();
    if ((flags & 0x08) != 0) observation.tls_alert = certheal::tls_alert_name(alert_code);
    switch ((flags >> 4) & 0x03) {
        case 0: rules.expect_status = {200}; break;
        case 1: rules.expect_status = {200, 204}; break;
        case 2: rules.expect_status = {403}; break;
        default: rules.expect_status = {401, 403, 500}; break;
    }

    // As the prober does it: compile the site's pattern (config validation refused the ones
    // that do not compile; the default stands in for them).
    const std::size_t pattern_length = input.byte() % (kMaxPatternLength + 1);
    const std::uint8_t more = input.byte();
    if ((more & 0x01) != 0) observation.client_issuer_listed = (more & 0x02) != 0;
    observation.tls13 = (more & 0x04) != 0;
    observation.request_sent = (more & 0x08) != 0;
    const std::string pattern_text = input.text(pattern_length);
    if (pattern_length > 0) {
        if (auto compiled = certheal::RejectionPattern::compile(pattern_text)) rules.rejection_pattern = compiled.value();
    }
    const std::string body = input.rest();
    for (std::size_t i = 0; i < kBodyRepeats[flags >> 6] && observation.body.size() < kProberBodyLimit; ++i) {
        observation.body += body;
    }
    if (observation.body.size() > kProberBodyLimit) observation.body.resize(kProberBodyLimit);

    (void)certheal::classify(observation, rules);
    (void)certheal::find_iis_substatus(observation.status.value_or(403), observation.body);
    if (auto code = certheal::find_iis_win32_status(observation.body)) (void)code->text();
    if (observation.tls_alert) {
        (void)certheal::certificate_class_of_alert(*observation.tls_alert, observation.server_requested_client_cert);
    }
    return 0;
}
