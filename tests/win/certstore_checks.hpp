#pragma once
// What the Catch2 tests of the certificate stores share on top of certstore_support.hpp (which
// certheal_certstore_tool also uses, without Catch2): a Result's value or the test's failure,
// and the one certificate of a PEM file.

#include <catch2/catch.hpp>

#include <filesystem>

#include "certstore_support.hpp"

namespace certstore_test {

// The value, or the test fails with the failure's sentence.
template <class T>
const T& value_of(const Result<T>& result) {
    if (!result) FAIL(result.error().message);
    return result.value();
}

// The certificate of a PEM file that holds exactly one.
inline DerCertificate only_certificate_of(const std::filesystem::path& pem) {
    const auto certificates = value_of(read_certificate_file(pem));
    REQUIRE(certificates.size() == 1);
    return certificates.front();
}

}  // namespace certstore_test
