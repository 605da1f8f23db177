#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/describe/probe_sentences.hpp"

using namespace certheal;

namespace {

ProbeSubject intranet() { return ProbeSubject{"intranet", "intranet.example", "10.0.0.5", "10.0.0.5:443"}; }

}  // namespace

TEST_CASE("a probe cut short by its deadline says what it was waiting for and for how long", "[describe]") {
    InterruptionFacts facts;
    facts.waiting_for = ProbeWait::handshake;
    facts.elapsed = std::chrono::milliseconds(4987);
    facts.site_timeout = std::chrono::milliseconds(5000);
    CHECK(interruption_sentence(intranet(), facts) ==
          "The probe of intranet timed out after 4987 ms waiting for the TLS handshake with intranet.example "
          "(10.0.0.5:443) (site timeout 5000 ms).");
    facts.waiting_for = ProbeWait::resolving;
    CHECK(interruption_sentence(intranet(), facts) ==
          "The probe of intranet timed out after 4987 ms waiting for resolving 10.0.0.5 (site timeout 5000 ms).");
}

TEST_CASE("a probe cancelled because certheal stops says so, whatever it was waiting for", "[describe]") {
    InterruptionFacts facts;
    facts.cancelled = true;
    CHECK(interruption_sentence(intranet(), facts) ==
          "The probe of intranet was cancelled because certheal is stopping.");
    CHECK(probe_cancelled_sentence("intranet") == interruption_sentence(intranet(), facts));
}

TEST_CASE("an IIS 403.16 with its error code reads as a rejected client certificate", "[describe]") {
    AnswerFacts facts;
    facts.status = 403;
    facts.iis_substatus = 16;
    facts.iis_win32_status = "0x800B0109 CERT_E_UNTRUSTEDROOT";
    facts.probe_class = ProbeClass::client_cert_rejected;
    CHECK(status_sentence(intranet(), facts) ==
          "intranet.example (10.0.0.5:443) answered 403.16 (Error Code 0x800B0109 CERT_E_UNTRUSTEDROOT): the server "
          "did not accept the client certificate. Check the server's client-certificate trust.");
}

TEST_CASE("an unexpected status names the statuses that were expected", "[describe]") {
    AnswerFacts facts;
    facts.status = 500;
    facts.expect_status = {200, 204};
    CHECK(status_sentence(intranet(), facts) == "intranet.example (10.0.0.5:443) answered 500 where 200, 204 was expected.");
}

TEST_CASE("nginx's missing-certificate page says whether certheal has a certificate to send", "[describe]") {
    AnswerFacts facts;
    facts.status = 400;
    facts.page = AnswerPage::nginx_no_certificate;
    facts.probe_class = ProbeClass::client_cert_rejected;
    CHECK(status_sentence(intranet(), facts) ==
          "intranet.example (10.0.0.5:443) answered 400 \"No required SSL certificate was sent\": the server requires "
          "a client certificate and none is configured for this site in certheal.");
    facts.client_cert_configured = true;
    CHECK(status_sentence(intranet(), facts) ==
          "intranet.example (10.0.0.5:443) answered 400 \"No required SSL certificate was sent\": the server requires "
          "a client certificate and did not get one that it asked for. Check the server's client-certificate trust.");
}

TEST_CASE("the CA names a server accepts are shown five at a time, the rest counted", "[describe]") {
    const std::vector<std::string> names{"CN=A", "CN=B", "CN=C", "CN=D", "CN=E", "CN=F", "CN=G"};
    CHECK(issuer_not_listed_sentence(names, 3, "CN=Clients CA") ==
          "The server accepts client certificates issued by CN=A; CN=B; CN=C; CN=D; CN=E (and 5 more) only, but "
          "certheal's certificate was issued by CN=Clients CA: the server's client-certificate trust is out of sync "
          "with the CA that issues your clients' certificates.");
    CHECK(issuer_not_listed_sentence(std::span(names).first(1), 0, "CN=Clients CA")
              .starts_with("The server accepts client certificates issued by CN=A only, but"));
}

TEST_CASE("a rejecting alert says when no client certificate is configured, and what the key cannot do",
          "[describe]") {
    ExchangeFailureFacts facts;
    facts.step = ExchangeStep::handshake;
    facts.failure = ExchangeFailure::client_cert_rejected_alert;
    facts.alert = "unknown_ca";
    facts.key_limitation = "The key signs in its store and cannot sign RSA-PSS.";
    CHECK(exchange_failure_sentence(intranet(), facts) ==
          "TLS handshake with intranet.example (10.0.0.5:443) failed: the server rejected the client certificate "
          "(alert unknown_ca); no client certificate is configured. The key signs in its store and cannot sign "
          "RSA-PSS.");
}

TEST_CASE("a site that asks for the certificate only after the request says how to fix the binding", "[describe]") {
    const std::string on_tls13 = tls13_failure_clause(std::nullopt, std::nullopt, std::nullopt);
    CHECK(on_tls13 == "it reset the connection right after the request (Windows Server 2022)");
    CHECK(tls13_failure_clause(500, 0, std::string("0x80070032")) ==
          "it answered 500.0 with 0x80070032 (Windows Server 2025 and later)");
    const std::string sentence = negotiation_unsupported_sentence(intranet(), on_tls13, std::nullopt);
    CHECK(sentence.starts_with("Site intranet (intranet.example, 10.0.0.5:443) asks for the client certificate only "
                               "after the request, which TLS 1.3 cannot do: over TLS 1.3 it reset the connection right "
                               "after the request (Windows Server 2022), while over TLS 1.2 it asked for the "
                               "certificate by renegotiation and answered a healthy answer. "));
    CHECK(sentence.ends_with("or disable TLS 1.3 on it (disabletls13=enable)."));
}
