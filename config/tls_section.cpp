// A site's "tls": whether and against what the server's certificate is checked, and the
// client certificate the site is probed with. Every file named here is loaded now, through
// the cache the prober reuses, so a missing or broken file is a config error and not a
// failed probe at 3 a.m. A certificate of a Windows store is only checked for how it is
// written: which one it is, the store decides at every probe (pre-flight says it now).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <variant>

#include "config/sections.hpp"
#include "core/base/text.hpp"
#include "core/probe/certificate_checks.hpp"
#include "core/probe/client_cert_selection.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using Problem = ClientIdentityProblem;

std::string_view key_of(Problem::Part part) {
    switch (part) {
        case Problem::Part::cert_file: return "cert_file";
        case Problem::Part::key_file: return "key_file";
        case Problem::Part::pfx_file: return "pfx_file";
        case Problem::Part::password_env: return "password_env";
        case Problem::Part::password_file: return "password_file";
        case Problem::Part::pem_pair: break;
    }
    return {};
}

// Each problem at the key it is about (a PEM pair that does not load together: at the
// client_cert object itself).
void report_identity_problems(JsonReader& reader, const std::vector<Problem>& problems, const std::string& pointer) {
    for (const Problem& problem : problems) {
        const std::string_view key = key_of(problem.part);
        const std::string at = key.empty() ? pointer : child_pointer(pointer, key);
        switch (problem.kind) {
            case Problem::Kind::unusable: reader.error(at, "cannot be used: " + problem.detail); break;
            case Problem::Kind::missing:
                reader.error(at, "cannot be used: " + std::string(key) + " \"" + problem.detail + "\" does not exist");
                break;
            case Problem::Kind::not_set:
                reader.error(at, "names the environment variable " + problem.detail +
                                     ", which is not set for certheal, so the PKCS#12 file cannot be opened");
                break;
        }
    }
}

PemClientCert read_pem_pair(JsonReader& reader, const json& value, const std::string& pointer) {
    for (std::string_view key : {"password_env", "password_file"}) {
        if (value.contains(key)) {
            reader.error(child_pointer(pointer, key),
                         "only applies to a pfx_file; a PEM key_file must not be encrypted");
        }
    }
    PemClientCert files;
    for (std::string_view key : {"cert_file", "key_file"}) {
        if (!value.contains(key)) {
            reader.error(pointer, "has " + std::string(key == "cert_file" ? "key_file" : "cert_file") + " but no " +
                                      std::string(key));
            continue;
        }
        auto path = reader.read_file_path(value[std::string(key)], child_pointer(pointer, key));
        if (path) (key == "cert_file" ? files.cert_file : files.key_file) = *path;
    }
    return files;
}

PfxClientCert read_pkcs12(JsonReader& reader, const json& value, const std::string& pointer) {
    PfxClientCert pkcs12;
    if (auto path = reader.read_file_path(value["pfx_file"], child_pointer(pointer, "pfx_file")))
        pkcs12.pfx_file = *path;
    if (value.contains("password_env") && value.contains("password_file")) {
        reader.error(pointer, "must name either password_env or password_file, not both");
    }
    if (value.contains("password_env")) {
        pkcs12.password_env = reader.read_string(value["password_env"], child_pointer(pointer, "password_env"));
    }
    if (value.contains("password_file")) {
        pkcs12.password_file = reader.read_file_path(value["password_file"], child_pointer(pointer, "password_file"));
    }
    return pkcs12;
}

// The canonical name of the LocalMachine store (Windows compares them case-insensitively).
std::optional<std::string> read_store_name(const SectionReading& reading, const json& value, const std::string& pointer) {
    auto name = reading.reader.read_string(value, pointer);
    if (!name) return std::nullopt;
    const auto stores = known_certificate_stores();
    const auto found = std::find_if(stores.begin(), stores.end(), [&](std::string_view known) {
        return known.size() == name->size() && std::equal(known.begin(), known.end(), name->begin(), [](char a, char b) {
                   return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
               });
    });
    if (found == stores.end()) {
        reading.reader.error(pointer, "must name a LocalMachine certificate store (" + join(stores) +
                                          "; client certificates live in My), got " + shown_value(value));
        return std::nullopt;
    }
    if (!reading.certificate_stores) {
        reading.reader.error(pointer, "names a Windows certificate store, and this host has none; on this platform "
                                      "name cert_file and key_file, or pfx_file, instead");
        return std::nullopt;
    }
    return std::string(*found);
}

// A certificate of a LocalMachine store: its thumbprint, or a selector (issuer, subject, eku)
// that takes the newest valid match at every probe.
std::optional<ClientCert> read_store_client_cert(const SectionReading& reading, const json& value,
                                                 const std::string& pointer) {
    JsonReader& reader = reading.reader;
    const std::size_t errors_before = reader.error_count();
    StoreClientCert wanted;
    if (!value.contains("store")) {
        reader.error(pointer, "must name its certificate store, e.g. \"store\": \"My\" (LocalMachine\\My)");
    } else if (auto store = read_store_name(reading, value["store"], child_pointer(pointer, "store"))) {
        wanted.store = *store;
    }
    if (value.contains("thumbprint")) {
        const std::string at = child_pointer(pointer, "thumbprint");
        if (auto text = reader.read_string(value["thumbprint"], at)) {
            wanted.thumbprint = normalised_thumbprint(*text);
            if (!wanted.thumbprint) {
                reader.error(at, "must be a SHA-1 thumbprint (40 hexadecimal digits, as certlm.msc or "
                                 "Get-ChildItem Cert:\\LocalMachine\\My shows it), got " + shown_value(value["thumbprint"]));
            }
        }
    }
    for (const std::string_view key : {"issuer", "subject"}) {
        if (!value.contains(key)) continue;
        const std::string at = child_pointer(pointer, key);
        auto name = reader.read_string(value[std::string(key)], at);
        if (name && !is_distinguished_name(*name)) {
            reader.error(at, "must be a distinguished name such as \"CN=Contoso Issuing CA, DC=contoso, DC=com\", got " +
                                 shown_value(value[std::string(key)]));
        } else if (name) {
            (key == "issuer" ? wanted.issuer : wanted.subject) = *name;
        }
    }
    if (value.contains("eku")) {
        const std::string at = child_pointer(pointer, "eku");
        auto usage = reader.read_string(value["eku"], at);
        if (usage && !extended_key_usage_oid(*usage)) {
            reader.error(at, "must be an extended key usage such as clientAuth, or a dotted OID, got " +
                                 shown_value(value["eku"]));
        } else if (usage) {
            wanted.eku = *usage;
        }
    }
    const bool selector = value.contains("issuer") || value.contains("subject") || value.contains("eku");
    if (value.contains("thumbprint") && selector) {
        reader.error(pointer, "names one certificate by its thumbprint: leave out issuer, subject and eku, or leave "
                              "out the thumbprint so that certheal takes the newest valid match (and its renewals)");
    } else if (!value.contains("thumbprint") && !value.contains("issuer") && !value.contains("subject")) {
        reader.error(pointer, "must say which certificate of the store: a thumbprint, or an issuer and/or a subject "
                              "(with an eku) that select it");
    }
    if (reader.error_count() != errors_before) return std::nullopt;
    return ClientCert{std::move(wanted)};
}

// Either a PEM pair, a PKCS#12 file or a certificate of a Windows store; nullopt when it is
// not written right. Once it is, its files are checked and their problems said at their keys
// (the errors keep the config from being used, so the identity is returned all the same).
std::optional<ClientCert> read_client_cert(const SectionReading& reading, const json& value,
                                           const std::string& pointer) {
    JsonReader& reader = reading.reader;
    if (!reader.check_object(value, pointer,
                             {"cert_file", "key_file", "pfx_file", "password_env", "password_file", "store",
                              "thumbprint", "issuer", "subject", "eku"})) {
        return std::nullopt;
    }
    const std::size_t errors_before = reader.error_count();
    const bool pem = value.contains("cert_file") || value.contains("key_file");
    const bool pfx = value.contains("pfx_file");
    const bool in_store = value.contains("store") || value.contains("thumbprint") || value.contains("issuer") ||
                          value.contains("subject") || value.contains("eku");
    if (in_store && (pem || pfx)) {
        reader.error(pointer, "must name either files (cert_file and key_file, or pfx_file) or a certificate of a "
                              "Windows store (store with thumbprint, or with issuer, subject and eku), not both");
        return std::nullopt;
    }
    if (in_store) return read_store_client_cert(reading, value, pointer);
    if (pem && pfx) {
        reader.error(pointer, "must name either cert_file and key_file (PEM) or pfx_file (PKCS#12), not both");
        return std::nullopt;
    }
    if (!pem && !pfx) {
        reader.error(pointer, "must name either cert_file and key_file (PEM), pfx_file (PKCS#12), or a certificate of "
                              "a Windows store (store with thumbprint, or with issuer, subject and eku)");
        return std::nullopt;
    }
    ClientCert identity =
        pem ? ClientCert{read_pem_pair(reader, value, pointer)} : ClientCert{read_pkcs12(reader, value, pointer)};
    if (reader.error_count() != errors_before) return std::nullopt;
    report_identity_problems(reader, check_client_identity(reading.tls_material, identity), pointer);
    return identity;
}

}  // namespace

void read_tls(const SectionReading& reading, const json& value, const std::string& pointer, TlsSettings& tls) {
    JsonReader& reader = reading.reader;
    if (!reader.check_object(value, pointer, {"verify", "ca_file", "client_cert"})) return;
    if (value.contains("verify")) {
        const auto verify = reader.read_boolean(value["verify"], child_pointer(pointer, "verify"));
        if (verify) tls.verify = *verify;
        if (verify == false) {
            reader.warning(child_pointer(pointer, "verify"),
                           "is false: certheal will not check the server's certificate, so a probe cannot tell the "
                           "real site from an impostor; set a ca_file instead if the server uses a private CA");
        }
    }
    if (value.contains("ca_file")) {
        const std::string at = child_pointer(pointer, "ca_file");
        if (auto ca_file = reader.read_file_path(value["ca_file"], at)) {
            tls.ca_file = *ca_file;
            auto loaded = reading.tls_material.certificates(*ca_file);
            if (!loaded) reader.error(at, "cannot be used: " + loaded.error().message);
        }
    }
    if (value.contains("client_cert")) {
        if (auto client_cert = read_client_cert(reading, value["client_cert"], child_pointer(pointer, "client_cert"))) {
            tls.client_cert = *client_cert;
        }
    }
}

}  // namespace certheal
