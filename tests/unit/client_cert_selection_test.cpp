#include <catch2/catch.hpp>

#include <vector>

#include "core/probe/client_cert_selection.hpp"

using namespace certheal;
using namespace std::chrono_literals;

namespace {

constexpr auto kDay = std::chrono::hours(24);
const TimePoint kNow = TimePoint{} + std::chrono::hours(24 * 365 * 56);  // early 2026

constexpr const char* kIssuer = "CN=Contoso Issuing CA,DC=contoso,DC=com";
constexpr const char* kOtherIssuer = "CN=Fabrikam CA,O=Fabrikam";
constexpr const char* kClientAuth = "1.3.6.1.5.5.7.3.2";
constexpr const char* kServerAuth = "1.3.6.1.5.5.7.3.1";

StoreCertificate certificate(std::string thumbprint, TimePoint not_before, TimePoint not_after,
                             std::string issuer = kIssuer) {
    StoreCertificate made;
    made.thumbprint = std::move(thumbprint);
    made.subject = "CN=web01.contoso.com";
    made.issuer = std::move(issuer);
    made.not_before = not_before;
    made.not_after = not_after;
    made.extended_key_usages = std::vector<std::string>{kClientAuth};
    made.has_private_key = true;
    return made;
}

StoreClientCert selector() {
    StoreClientCert wanted;
    wanted.store = "My";
    wanted.issuer = "CN=Contoso Issuing CA, DC=contoso, DC=com";
    wanted.eku = "clientAuth";
    return wanted;
}

std::string thumbprint_of(const std::vector<StoreCertificate>& store, const Result<std::size_t>& chosen) {
    REQUIRE(chosen.ok());
    return store[chosen.value()].thumbprint;
}

const std::string kOld(40, 'A');
const std::string kRenewed(40, 'B');
const std::string kThird(40, 'C');

}  // namespace

TEST_CASE("a selector picks the valid match with the latest NotBefore", "[client-cert-selection]") {
    const std::vector<StoreCertificate> store = {
        certificate(kOld, kNow - 300 * kDay, kNow + 65 * kDay),
        certificate(kRenewed, kNow - 2 * kDay, kNow + 363 * kDay),
        certificate(kThird, kNow - 1 * kDay, kNow + 300 * kDay, kOtherIssuer),  // newest, but another issuer
    };
    CHECK(thumbprint_of(store, choose_store_certificate(selector(), store, kNow)) == kRenewed);
}

TEST_CASE("a renewed certificate takes over only once it is valid, and the old one until then",
          "[client-cert-selection]") {
    std::vector<StoreCertificate> store = {certificate(kOld, kNow - 300 * kDay, kNow + 65 * kDay)};
    CHECK(thumbprint_of(store, choose_store_certificate(selector(), store, kNow)) == kOld);
    store.push_back(certificate(kRenewed, kNow + 1h, kNow + 365 * kDay));  // enrolled with a NotBefore ahead
    CHECK(thumbprint_of(store, choose_store_certificate(selector(), store, kNow)) == kOld);
    CHECK(thumbprint_of(store, choose_store_certificate(selector(), store, kNow + 2h)) == kRenewed);
}

TEST_CASE("two matches with the same dates are chosen the same way every time", "[client-cert-selection]") {
    const std::vector<StoreCertificate> one_order = {certificate(kOld, kNow - kDay, kNow + kDay),
                                                     certificate(kRenewed, kNow - kDay, kNow + kDay)};
    const std::vector<StoreCertificate> other_order = {one_order[1], one_order[0]};
    CHECK(thumbprint_of(one_order, choose_store_certificate(selector(), one_order, kNow)) == kRenewed);
    CHECK(thumbprint_of(other_order, choose_store_certificate(selector(), other_order, kNow)) == kRenewed);
}

TEST_CASE("a thumbprint names one certificate, however an admin copied it", "[client-cert-selection]") {
    const std::string thumbprint = "0123456789ABCDEF0123456789ABCDEF01234567";
    const std::vector<StoreCertificate> store = {certificate(kRenewed, kNow - kDay, kNow + 300 * kDay),
                                                 certificate(thumbprint, kNow - 90 * kDay, kNow + 200 * kDay)};
    StoreClientCert wanted;
    wanted.thumbprint = thumbprint;
    CHECK(thumbprint_of(store, choose_store_certificate(wanted, store, kNow)) == thumbprint);

    CHECK(normalised_thumbprint("01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67") == thumbprint);
    CHECK(normalised_thumbprint("\xE2\x80\x8E" "0123456789abcdef0123456789abcdef01234567") == thumbprint);
    CHECK(normalised_thumbprint("01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67") == thumbprint);
    CHECK_FALSE(normalised_thumbprint("0123456789ABCDEF"));                              // too short
    CHECK_FALSE(normalised_thumbprint("0123456789ABCDEF0123456789ABCDEF0123456G"));      // not hex
    CHECK_FALSE(normalised_thumbprint(std::string(64, 'A')));                            // a SHA-256
}

TEST_CASE("a thumbprint of an expired certificate is refused with its dates, never replaced by another",
          "[client-cert-selection]") {
    const std::vector<StoreCertificate> store = {certificate(kOld, kNow - 400 * kDay, kNow - 35 * kDay),
                                                 certificate(kRenewed, kNow - 35 * kDay, kNow + 330 * kDay)};
    StoreClientCert wanted;
    wanted.thumbprint = kOld;
    const auto chosen = choose_store_certificate(wanted, store, kNow);
    REQUIRE_FALSE(chosen.ok());
    CHECK_THAT(chosen.error().message, Catch::Contains("only expired certificates match") &&
                                           Catch::Contains("SHA-1 " + kOld) && Catch::Contains("Renew"));
}

TEST_CASE("only expired matches are named, with what was searched", "[client-cert-selection]") {
    const std::vector<StoreCertificate> store = {certificate(kOld, kNow - 400 * kDay, kNow - 35 * kDay),
                                                 certificate(kThird, kNow - 1 * kDay, kNow + 300 * kDay, kOtherIssuer)};
    const auto chosen = choose_store_certificate(selector(), store, kNow);
    REQUIRE_FALSE(chosen.ok());
    CHECK_THAT(chosen.error().message,
               Catch::Contains("only expired certificates match LocalMachine\\My certificates issued by "
                               "CN=Contoso Issuing CA, DC=contoso, DC=com usable for clientAuth") &&
                   Catch::Contains("CN=web01.contoso.com (SHA-1 " + kOld));
}

TEST_CASE("no match says what was searched and how many certificates the store holds", "[client-cert-selection]") {
    const std::vector<StoreCertificate> store = {certificate(kThird, kNow - kDay, kNow + 300 * kDay, kOtherIssuer)};
    const auto chosen = choose_store_certificate(selector(), store, kNow);
    REQUIRE_FALSE(chosen.ok());
    CHECK_THAT(chosen.error().message,
               Catch::Contains("no certificate in LocalMachine\\My matches") &&
                   Catch::Contains("issued by CN=Contoso Issuing CA, DC=contoso, DC=com") &&
                   Catch::Contains("among the 1 certificate(s) there"));
    CHECK_FALSE(choose_store_certificate(selector(), {}, kNow).ok());
}

TEST_CASE("a match without a private key is never chosen, and is named when it is all there is",
          "[client-cert-selection]") {
    std::vector<StoreCertificate> store = {certificate(kRenewed, kNow - kDay, kNow + 300 * kDay),
                                           certificate(kOld, kNow - 90 * kDay, kNow + 200 * kDay)};
    store[0].has_private_key = false;
    CHECK(thumbprint_of(store, choose_store_certificate(selector(), store, kNow)) == kOld);
    store[1].has_private_key = false;
    const auto chosen = choose_store_certificate(selector(), store, kNow);
    REQUIRE_FALSE(chosen.ok());
    CHECK_THAT(chosen.error().message, Catch::Contains("have no private key on this host"));
}

TEST_CASE("the EKU: listed, any purpose, or no EKU extension at all matches; another purpose does not",
          "[client-cert-selection]") {
    std::vector<StoreCertificate> store = {certificate(kOld, kNow - kDay, kNow + 300 * kDay)};
    store[0].extended_key_usages = std::vector<std::string>{kServerAuth};
    CHECK_FALSE(choose_store_certificate(selector(), store, kNow).ok());
    store[0].extended_key_usages = std::vector<std::string>{kServerAuth, "2.5.29.37.0"};
    CHECK(choose_store_certificate(selector(), store, kNow).ok());
    store[0].extended_key_usages.reset();
    CHECK(choose_store_certificate(selector(), store, kNow).ok());

    CHECK(extended_key_usage_oid("clientAuth") == kClientAuth);
    CHECK(extended_key_usage_oid("ClientAuth") == kClientAuth);
    CHECK(extended_key_usage_oid("Client Authentication") == kClientAuth);
    CHECK(extended_key_usage_oid("1.3.6.1.5.5.7.3.2") == kClientAuth);
    CHECK_FALSE(extended_key_usage_oid("client"));
    CHECK_FALSE(extended_key_usage_oid("1..3"));
}

TEST_CASE("distinguished names compare as Windows, OpenSSL and admins write them", "[client-cert-selection]") {
    const char* openssl = "CN=Contoso Issuing CA,DC=contoso,DC=com";
    CHECK(same_distinguished_name("CN=Contoso Issuing CA, DC=contoso, DC=com", openssl));     // PowerShell
    CHECK(same_distinguished_name("cn = contoso issuing ca , dc=CONTOSO,dc=com", openssl));   // spacing, case
    CHECK(same_distinguished_name("DC=com, DC=contoso, CN=Contoso Issuing CA", openssl));     // openssl's oneline order
    CHECK(same_distinguished_name("CN = Contoso Issuing CA\nDC = contoso\nDC = com", openssl));  // the dialog
    CHECK(same_distinguished_name("O=\"Contoso, Inc.\", S=WA, E=pki@contoso.com",
                                  "O=Contoso\\, Inc.,ST=WA,emailAddress=pki@contoso.com"));
    CHECK(same_distinguished_name("CN=Caf\xC3\xA9", "CN=Caf\\C3\\A9"));
    CHECK_FALSE(same_distinguished_name("CN=Contoso Issuing CA", openssl));  // a part of it
    CHECK_FALSE(same_distinguished_name("CN=Contoso Issuing CA 2,DC=contoso,DC=com", openssl));
    CHECK_FALSE(is_distinguished_name("Contoso Issuing CA"));
    CHECK_FALSE(is_distinguished_name("CN="));
    CHECK_FALSE(is_distinguished_name(""));
    CHECK(is_distinguished_name("CN=web01"));
}
