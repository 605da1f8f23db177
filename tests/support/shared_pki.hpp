#pragma once
// One throwaway PKI (tests/support/pki.hpp) for all the tests of a test program that read it
// (made on first use, removed at exit), and its certificates as crypt32 sees them (DER). Catch2
// test helper.

#include <catch2/catch.hpp>

#include <filesystem>

#include "core/probe/certificate_info.hpp"
#include "core/probe/tls_files.hpp"
#include "support/pki.hpp"

namespace certheal::test {

inline const Pki& shared_pki() {
    static const Pki shared;
    return shared;
}

// The first certificate of a PEM file, as DER.
inline DerCertificate der_of(const std::filesystem::path& pem) {
    auto loaded = load_certificates(pem);
    REQUIRE(loaded.ok());
    return to_der(*loaded.value().front());
}

}  // namespace certheal::test
