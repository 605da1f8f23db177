#include <catch2/catch.hpp>

#include "core/model/probe_result.hpp"

using namespace certheal;

TEST_CASE("every probe class has a name that reads back, the new ones included", "[probe_result]") {
    for (const auto probe_class : kAllProbeClasses) {
        INFO(to_string(probe_class));
        CHECK(probe_class_from_string(to_string(probe_class)) == probe_class);
    }
    CHECK(probe_class_from_string("revocation_unavailable") == ProbeClass::revocation_unavailable);
    CHECK(probe_class_from_string("client_cert_negotiation_unsupported") ==
          ProbeClass::client_cert_negotiation_unsupported);
    CHECK_FALSE(probe_class_from_string("revoked"));
}

TEST_CASE("probe --json carries iis_win32_status, null when the answer had none", "[probe_result]") {
    ProbeResult result;
    result.site = "intranet";
    result.url = "https://intranet/health";
    result.probe_class = ProbeClass::revocation_unavailable;
    result.status = 403;
    result.iis_substatus = 13;
    result.iis_win32_status = "0x80092013 CRYPT_E_REVOCATION_OFFLINE";
    const auto evidence = probe_evidence(result, true);
    CHECK(evidence.at("class") == "revocation_unavailable");
    CHECK(evidence.at("iis_substatus") == 13);
    CHECK(evidence.at("iis_win32_status") == "0x80092013 CRYPT_E_REVOCATION_OFFLINE");

    result.iis_win32_status.reset();
    CHECK(probe_evidence(result).at("iis_win32_status").is_null());
}
