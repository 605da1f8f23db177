#include "core/probe/client_cert_selection.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <tuple>

#include "core/base/text.hpp"
#include "core/base/time_format.hpp"
#include "core/model/certificate_stores.hpp"

namespace certheal {
namespace {

// A distinguished name longer than this is not one an admin wrote or a certificate carries.
constexpr std::size_t kMaxNameLength = 4096;
constexpr std::size_t kMaxNameParts = 64;
// How many non-fitting certificates a failure names; the rest are counted.
constexpr std::size_t kNamedInFailure = 3;

char lower(char c) noexcept { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }
char upper(char c) noexcept { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }
bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_hex(char c) noexcept { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    return lower(c) - 'a' + 10;
}

std::string trimmed(std::string_view text) {
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return std::string(text);
}

// One attribute of a name, normalised: its type in upper case with Windows' spellings mapped to
// OpenSSL's (S -> ST, E -> EMAILADDRESS), its value unescaped, unquoted, with runs of spaces as
// one and ASCII letters in lower case (the matching rule of most name attributes ignores case).
struct Attribute {
    std::string type;
    std::string value;
    bool operator==(const Attribute&) const = default;
};

std::string canonical_type(std::string type) {
    for (char& c : type) c = upper(c);
    if (type.rfind("OID.", 0) == 0) type.erase(0, 4);
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kAliases{{
        {"S", "ST"},
        {"E", "EMAILADDRESS"},
        {"EMAIL", "EMAILADDRESS"},
        {"2.5.4.3", "CN"},
        {"2.5.4.6", "C"},
        {"2.5.4.7", "L"},
        {"2.5.4.8", "ST"},
        {"2.5.4.10", "O"},
        {"2.5.4.11", "OU"},
        {"0.9.2342.19200300.100.1.25", "DC"},
        {"1.2.840.113549.1.9.1", "EMAILADDRESS"},
        {"SERIALNUMBER", "SERIALNUMBER"},
    }};
    for (const auto& [alias, name] : kAliases) {
        if (type == alias) return std::string(name);
    }
    return type;
}

std::string canonical_value(const std::string& raw) {
    std::string value;
    bool space_pending = false;
    for (char c : raw) {
        if (is_space(c)) {
            space_pending = !value.empty();
            continue;
        }
        if (space_pending) value += ' ';
        space_pending = false;
        value += lower(c);
    }
    return value;
}

// Splits "CN=a, O=b\, Inc., DC=c" (RFC 4514 escapes, Windows' quoted values, ',' ';' '+' or line
// breaks between attributes) into attributes; nothing when it is not a name.
std::optional<std::vector<Attribute>> parse_name(std::string_view text) {
    if (text.size() > kMaxNameLength) return std::nullopt;
    std::vector<Attribute> attributes;
    std::string part_type;
    std::string part_value;
    bool in_value = false;
    bool quoted = false;
    bool any_content = false;
    auto close_part = [&]() -> bool {
        if (!in_value) return trimmed(part_type).empty() && !any_content;
        Attribute attribute{canonical_type(trimmed(part_type)), canonical_value(part_value)};
        if (attribute.type.empty() || attribute.value.empty()) return false;
        attributes.push_back(std::move(attribute));
        part_type.clear();
        part_value.clear();
        in_value = false;
        any_content = false;
        return attributes.size() <= kMaxNameParts;
    };
    for (std::size_t index = 0; index < text.size(); ++index) {
        const char c = text[index];
        if (quoted) {
            if (c == '"') {
                quoted = false;
            } else if (c == '\\' && index + 1 < text.size()) {
                part_value += text[++index];
            } else {
                part_value += c;
            }
            continue;
        }
        if (c == '\\' && index + 1 < text.size()) {
            // "\," "\+" ... or "\C3\A9" (RFC 4514 hex pairs, as OpenSSL escapes UTF-8).
            if (index + 2 < text.size() && is_hex(text[index + 1]) && is_hex(text[index + 2])) {
                part_value += static_cast<char>(hex_value(text[index + 1]) * 16 + hex_value(text[index + 2]));
                index += 2;
            } else {
                part_value += text[++index];
            }
            any_content = true;
            continue;
        }
        if (c == ',' || c == ';' || c == '+' || c == '\n') {
            if (!close_part()) return std::nullopt;
            continue;
        }
        if (!in_value) {
            if (c == '=') {
                in_value = true;
            } else {
                part_type += c;
                if (!is_space(c)) any_content = true;
            }
            continue;
        }
        if (c == '"' && trimmed(part_value).empty()) {
            part_value.clear();
            quoted = true;
            continue;
        }
        part_value += c;
    }
    if (quoted || !close_part() || attributes.empty()) return std::nullopt;
    return attributes;
}

bool name_matches(const std::vector<Attribute>& wanted, const std::string& certificate_name) {
    const auto found = parse_name(certificate_name);
    if (!found || found->size() != wanted.size()) return false;
    return std::equal(wanted.begin(), wanted.end(), found->begin()) ||
           std::equal(wanted.begin(), wanted.end(), found->rbegin());
}

bool usable_for(const StoreCertificate& certificate, const std::string& purpose) {
    if (!certificate.extended_key_usages) return true;  // no EKU extension: every purpose
    const auto& usages = *certificate.extended_key_usages;
    return std::find(usages.begin(), usages.end(), purpose) != usages.end() ||
           std::find(usages.begin(), usages.end(), std::string("2.5.29.37.0")) != usages.end();
}

std::string shown(const StoreCertificate& certificate) {
    return certificate.subject + " (SHA-1 " + certificate.thumbprint + ", valid " +
           format_time_utc(certificate.not_before) + " to " + format_time_utc(certificate.not_after) + ")";
}

std::string named(const std::vector<const StoreCertificate*>& certificates) {
    std::vector<std::string> names;
    for (std::size_t index = 0; index < certificates.size() && index < kNamedInFailure; ++index) {
        names.push_back(shown(*certificates[index]));
    }
    if (certificates.size() > kNamedInFailure) {
        names.push_back(std::to_string(certificates.size() - kNamedInFailure) + " more");
    }
    return list_text(names);
}

std::string store_name(const StoreClientCert& wanted) { return local_machine_store(wanted.store); }

Failure no_certificate(std::string message) {
    return Failure{std::make_error_code(std::errc::no_such_file_or_directory), std::move(message)};
}

constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kExtendedKeyUsages{{
    {"clientAuth", "1.3.6.1.5.5.7.3.2"},
    {"serverAuth", "1.3.6.1.5.5.7.3.1"},
    {"codeSigning", "1.3.6.1.5.5.7.3.3"},
    {"emailProtection", "1.3.6.1.5.5.7.3.4"},
    {"timeStamping", "1.3.6.1.5.5.7.3.8"},
    {"OCSPSigning", "1.3.6.1.5.5.7.3.9"},
    {"smartcardLogon", "1.3.6.1.4.1.311.20.2.2"},
    {"anyExtendedKeyUsage", "2.5.29.37.0"},
    {"ipsecIKE", "1.3.6.1.5.5.7.3.17"},
}};

// Windows' names, as the certificate dialog and PowerShell show them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kWindowsUsageNames{{
    {"client authentication", "1.3.6.1.5.5.7.3.2"},
    {"server authentication", "1.3.6.1.5.5.7.3.1"},
    {"code signing", "1.3.6.1.5.5.7.3.3"},
    {"secure email", "1.3.6.1.5.5.7.3.4"},
    {"smart card logon", "1.3.6.1.4.1.311.20.2.2"},
}};

bool is_dotted_oid(std::string_view text) {
    if (text.empty() || text.size() > 128 || text.front() == '.' || text.back() == '.') return false;
    int arcs = 1;
    for (std::size_t index = 0; index < text.size(); ++index) {
        const char c = text[index];
        if (c == '.') {
            if (text[index - 1] == '.') return false;
            ++arcs;
        } else if (c < '0' || c > '9') {
            return false;
        }
    }
    return arcs >= 2;
}

std::string usage_shown(const std::string& written) {
    const auto oid = extended_key_usage_oid(written);
    if (!oid) return written;
    for (const auto& [name, dotted] : kExtendedKeyUsages) {
        if (dotted == *oid) return std::string(name);
    }
    return *oid;
}

}  // namespace

std::optional<std::string> normalised_thumbprint(std::string_view text) {
    std::string digits;
    for (std::size_t index = 0; index < text.size(); ++index) {
        const auto byte = static_cast<unsigned char>(text[index]);
        if (byte >= 0x80) {
            // U+200E/U+200F (left-to-right/right-to-left mark) and U+FEFF: invisible marks that
            // come along when a thumbprint is copied out of the certificate dialog.
            const std::string_view rest = text.substr(index);
            if (rest.rfind("\xE2\x80\x8E", 0) == 0 || rest.rfind("\xE2\x80\x8F", 0) == 0 ||
                rest.rfind("\xEF\xBB\xBF", 0) == 0) {
                index += 2;
                continue;
            }
            return std::nullopt;
        }
        const char c = text[index];
        if (is_space(c) || c == ':') continue;
        if (!is_hex(c)) return std::nullopt;
        digits += upper(c);
    }
    if (digits.size() != 40) return std::nullopt;
    return digits;
}

std::optional<std::string> extended_key_usage_oid(std::string_view name) {
    const std::string written = trimmed(name);
    if (is_dotted_oid(written)) return written;
    std::string folded;
    for (char c : written) folded += lower(c);
    for (const auto& [short_name, oid] : kExtendedKeyUsages) {
        std::string candidate(short_name);
        for (char& c : candidate) c = lower(c);
        if (candidate == folded) return std::string(oid);
    }
    for (const auto& [windows_name, oid] : kWindowsUsageNames) {
        if (windows_name == folded) return std::string(oid);
    }
    return std::nullopt;
}

bool is_distinguished_name(std::string_view text) { return parse_name(text).has_value(); }

bool same_distinguished_name(std::string_view left, std::string_view right) {
    const auto parsed = parse_name(left);
    return parsed && name_matches(*parsed, std::string(right));
}

std::string describe_store_selector(const StoreClientCert& wanted) {
    if (wanted.thumbprint) return "the " + store_name(wanted) + " certificate with SHA-1 thumbprint " + *wanted.thumbprint;
    std::string text = store_name(wanted) + " certificates";
    if (wanted.subject) text += " for " + *wanted.subject;
    if (wanted.issuer) text += " issued by " + *wanted.issuer;
    if (wanted.eku) text += " usable for " + usage_shown(*wanted.eku);
    return text;
}

std::string store_selector_key(const StoreClientCert& wanted) {
    return "store:" + wanted.store + "|sha1:" + wanted.thumbprint.value_or("") + "|issuer:" + wanted.issuer.value_or("") +
           "|subject:" + wanted.subject.value_or("") + "|eku:" + wanted.eku.value_or("");
}

Result<std::size_t> choose_store_certificate(const StoreClientCert& wanted,
                                             std::span<const StoreCertificate> certificates, TimePoint now) {
    std::optional<std::vector<Attribute>> issuer;
    std::optional<std::vector<Attribute>> subject;
    std::optional<std::string> purpose;
    if (wanted.issuer && !(issuer = parse_name(*wanted.issuer))) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       "the issuer \"" + *wanted.issuer + "\" is not a distinguished name"};
    }
    if (wanted.subject && !(subject = parse_name(*wanted.subject))) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       "the subject \"" + *wanted.subject + "\" is not a distinguished name"};
    }
    if (wanted.eku && !(purpose = extended_key_usage_oid(*wanted.eku))) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       "the eku \"" + *wanted.eku + "\" is no extended key usage certheal knows"};
    }
    const std::optional<std::string> thumbprint =
        wanted.thumbprint ? normalised_thumbprint(*wanted.thumbprint) : std::nullopt;

    std::vector<const StoreCertificate*> matches;
    for (const auto& certificate : certificates) {
        if (wanted.thumbprint && certificate.thumbprint != thumbprint.value_or(*wanted.thumbprint)) continue;
        if (issuer && !name_matches(*issuer, certificate.issuer)) continue;
        if (subject && !name_matches(*subject, certificate.subject)) continue;
        if (purpose && !usable_for(certificate, *purpose)) continue;
        matches.push_back(&certificate);
    }
    const std::string searched = describe_store_selector(wanted);
    if (matches.empty()) {
        return no_certificate("no certificate in " + store_name(wanted) + " matches: certheal looked for " + searched +
                              " among the " + std::to_string(certificates.size()) +
                              " certificate(s) there. Check the selector in client_cert, or enrol a certificate that "
                              "matches it");
    }

    std::vector<const StoreCertificate*> without_key;
    std::vector<const StoreCertificate*> expired;
    std::vector<const StoreCertificate*> not_yet_valid;
    const StoreCertificate* best = nullptr;
    auto rank = [](const StoreCertificate& certificate) {
        return std::tie(certificate.not_before, certificate.not_after, certificate.thumbprint);
    };
    for (const StoreCertificate* certificate : matches) {
        if (!certificate->has_private_key) {
            without_key.push_back(certificate);
        } else if (certificate->not_after <= now) {
            expired.push_back(certificate);
        } else if (certificate->not_before > now) {
            not_yet_valid.push_back(certificate);
        } else if (best == nullptr || rank(*best) < rank(*certificate)) {
            best = certificate;
        }
    }
    if (best != nullptr) return static_cast<std::size_t>(best - certificates.data());

    // Why none fits, the most telling reason first: a certificate that has lapsed is what an
    // admin most often has to renew.
    std::string why;
    if (!expired.empty()) {
        why += "only expired certificates match " + searched + ": " + named(expired) +
               ". Renew the certificate (or check that auto-enrollment still works)";
    } else if (!not_yet_valid.empty()) {
        why += "the certificates that match " + searched + " are not valid yet: " + named(not_yet_valid) +
               ". Check this host's clock";
    } else {
        why += "the certificates that match " + searched + " have no private key on this host: " +
               named(without_key) + ". Import the certificate with its private key (a .pfx), or enrol it on this host";
    }
    if (!without_key.empty() && (!expired.empty() || !not_yet_valid.empty())) {
        why += "; " + std::to_string(without_key.size()) + " other match(es) have no private key on this host";
    }
    return no_certificate(why);
}

}  // namespace certheal
