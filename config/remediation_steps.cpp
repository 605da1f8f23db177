// One step of "remediation.steps": an object with exactly one kind key ({"start_service":
// "W3SVC"}), an optional "timeout", and what the kind itself takes. The kinds are a table;
// each kind's reading is its own function below it. Checks that need the host (does the
// program exist, does this host have certificate stores) are made here, so a repair does not
// fail on them when it is needed most.
#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <system_error>

#include "config/sections.hpp"
#include "core/base/text.hpp"
#include "core/probe/certificate_checks.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A step object as its kind reads it.
struct StepObject {
    const json& value;           // {"stop_service": "W3SVC", "with_dependents": true, "timeout": "2m"}
    const std::string& pointer;  // its pointer
    const json& body;            // the kind's own value: "W3SVC"
    std::string body_pointer;
};

StepAction read_run(const SectionReading& reading, const StepObject& step);
StepAction read_stop_service(const SectionReading& reading, const StepObject& step);
StepAction read_start_service(const SectionReading& reading, const StepObject& step);
StepAction read_restore_dependents(const SectionReading& reading, const StepObject& step);
StepAction read_verify(const SectionReading& reading, const StepObject& step);
StepAction read_trust_ca(const SectionReading& reading, const StepObject& step);
StepAction read_fix_root_store(const SectionReading& reading, const StepObject& step);
StepAction read_add_intermediates(const SectionReading& reading, const StepObject& step);
StepAction read_set_schannel(const SectionReading& reading, const StepObject& step);

struct StepKind {
    std::string_view name;
    std::string_view option;  // the one key beside the kind and "timeout" the step may hold, if any
    StepAction (*read)(const SectionReading& reading, const StepObject& step);
};

// In the order the "exactly one of" error lists them. A new kind is a row here and its reading
// below (docs/architecture.md, "Adding a step kind", says what else goes with it).
constexpr std::array kStepKinds{
    StepKind{"run", "", read_run},
    StepKind{"stop_service", "with_dependents", read_stop_service},
    StepKind{"start_service", "", read_start_service},
    StepKind{"restore_dependents", "", read_restore_dependents},
    StepKind{"verify", "", read_verify},
    StepKind{"trust_ca", "", read_trust_ca},
    StepKind{"fix_root_store", "", read_fix_root_store},
    StepKind{"add_intermediates", "", read_add_intermediates},
    StepKind{"set_schannel", "", read_set_schannel},
};

// The step's one kind; nullptr (and the error said) when it has none or several.
const StepKind* single_step_kind(JsonReader& reader, const json& value, const std::string& pointer) {
    std::vector<std::string> found;
    const StepKind* kind = nullptr;
    for (const auto& [key, ignored] : value.items()) {
        for (const StepKind& known : kStepKinds) {
            if (known.name == key) {
                found.push_back(key);
                kind = &known;
            }
        }
    }
    if (found.size() == 1) return kind;
    const KeyList kinds = key_names(kStepKinds);
    reader.error(pointer, "must have exactly one of " + join(kinds) + "; " +
                              (found.empty() ? std::string("found none") : "found " + join(found)));
    KeyList other_keys{"timeout"};
    for (const StepKind& known : kStepKinds) {
        if (!known.option.empty()) other_keys.push_back(known.option);
    }
    reader.check_object(value, pointer, kinds, other_keys);
    return nullptr;
}

// ---------------------------------------------------------------- run

// A program that is not there fails the repair when it is needed most: say so now. A path
// of the other platform (C:\\... checked on Linux) cannot be checked here, only named.
void check_program(JsonReader& reader, const std::string& program, const std::string& pointer) {
    const fs::path path(program);
    // On Windows a UNC path (\\server\share\x.exe) is this system's own, though some
    // runtimes' filesystem::path does not call it absolute.
    const bool windows_host = fs::path::preferred_separator == '\\';
    if (!path.is_absolute() && !(windows_host && is_windows_absolute_path(program))) {
        reader.warning(pointer, "is not a path of this system, so check-config cannot tell whether " +
                                    shown_string(program) + " exists; check it on the host that runs the service");
        return;
    }
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (status.type() == fs::file_type::not_found) {
        reader.error(pointer, "names a program that does not exist: " + shown_string(program));
    } else if (ec) {
        reader.error(pointer, "names a program certheal cannot check (" + as_clause(ec.message()) +
                                  "): " + shown_string(program));
    } else if (status.type() != fs::file_type::regular) {
        reader.error(pointer, "must name a program file, but " + shown_string(program) + " is not a regular file");
    }
}

StepAction read_run(const SectionReading& reading, const StepObject& step) {
    JsonReader& reader = reading.reader;
    const json& body = step.body;
    RunStep run;
    if (!body.is_array() || body.empty()) {
        reader.error(
            step.body_pointer,
            "must be a non-empty array: the program's absolute path, then its arguments; got " + shown_value(body));
        return run;
    }
    for (std::size_t i = 0; i < body.size(); ++i) {
        const json& item = body[i];
        const std::string at = child_pointer(step.body_pointer, i);
        if (!item.is_string()) {
            reader.error(at, "must be a string, got " + typed_value(item));
        } else if (i > 0) {
            run.args.push_back(item.get<std::string>());
        } else {
            const auto program = item.get<std::string>();
            if (has_control_character(program)) {
                reader.error(at, "must not contain control characters, got " + shown_value(item));
            } else if (!is_absolute_on_any_platform(program)) {
                reader.error(at,
                             "must be the program's absolute path (certheal runs no shell and searches no PATH), "
                             "got " +
                                 shown_value(item));
            } else {
                check_program(reader, program, at);
            }
            run.program = program;
        }
    }
    return run;
}

// ---------------------------------------------------------------- services

StepAction read_stop_service(const SectionReading& reading, const StepObject& step) {
    StopServiceStep stop;
    if (auto name = reading.reader.read_string(step.body, step.body_pointer)) stop.service = *name;
    if (step.value.contains("with_dependents")) {
        const std::string at = child_pointer(step.pointer, "with_dependents");
        if (auto with = reading.reader.read_boolean(step.value["with_dependents"], at)) stop.with_dependents = *with;
    }
    return stop;
}

StepAction read_start_service(const SectionReading& reading, const StepObject& step) {
    StartServiceStep start;
    if (auto name = reading.reader.read_string(step.body, step.body_pointer)) start.service = *name;
    return start;
}

StepAction read_restore_dependents(const SectionReading& reading, const StepObject& step) {
    if (step.body != json(true)) reading.reader.error(step.body_pointer, "must be true, got " + shown_value(step.body));
    return RestoreDependentsStep{};
}

StepAction read_verify(const SectionReading& reading, const StepObject& step) {
    return read_verify_settings(reading, step.body, step.body_pointer).value_or(VerifyStep{});
}

// ---------------------------------------------------------------- certificate trust

// The canonical name of a LocalMachine store (Windows compares them case-insensitively).
std::optional<std::string> read_certificate_store(const SectionReading& reading, const json& value,
                                                  const std::string& pointer, std::string_view step) {
    JsonReader& reader = reading.reader;
    auto name = reader.read_string(value, pointer);
    if (!name) return std::nullopt;
    const auto lower = [](std::string_view text) {
        std::string result(text);
        std::transform(result.begin(), result.end(), result.begin(), [](unsigned char c) {
            return static_cast<char>(std::tolower(c));
        });
        return result;
    };
    const auto stores = known_certificate_stores();
    const auto found = std::find_if(stores.begin(), stores.end(), [&](std::string_view known) {
        return lower(known) == lower(*name);
    });
    if (found == stores.end()) {
        reader.error(pointer,
                     "must name a LocalMachine certificate store (" + join(stores) + "), got " + shown_value(value));
        return std::nullopt;
    }
    if (!reading.certificate_stores) {
        reader.error(pointer, std::string(step) +
                                  " applies to Windows certificate stores, and this host has none; on this platform "
                                  "name the PEM file your web server reads with \"bundle\" instead");
        return std::nullopt;
    }
    return std::string(*found);
}

// The CA file must load; a certificate that is not a CA is most likely the wrong file.
void check_ca_file(const SectionReading& reading, const fs::path& file, const std::string& pointer) {
    auto check = check_ca_certificates(reading.tls_material, file);
    if (!check) {
        reading.reader.error(pointer, "cannot be used: " + check.error().message);
        return;
    }
    for (const std::string& subject : check.value().non_ca_subjects) {
        reading.reader.warning(pointer, "holds a certificate that is not a CA certificate (" + subject +
                                            "); a server cannot trust client certificates through it, so check that "
                                            "this is the CA that issues the client certificates");
    }
}

StepAction read_trust_ca(const SectionReading& reading, const StepObject& step) {
    JsonReader& reader = reading.reader;
    const json& body = step.body;
    const std::string& at = step.body_pointer;
    TrustCaStep trust;
    if (!reader.check_object(body, at, {"certificate", "store", "bundle"})) return trust;
    // "auto" is not a store: the store Schannel trusts for each site's binding, on Windows.
    if (body.contains("store") && body["store"] == json("auto")) {
        if (!reading.certificate_stores) {
            reader.error(child_pointer(at, "store"),
                         "\"auto\" chooses the Windows certificate store Schannel trusts for each site, and this host "
                         "has no certificate stores; on this platform name the PEM file your web server reads with "
                         "\"bundle\" instead");
        } else if (body.contains("bundle")) {
            reader.error(at, "must name either \"store\" or \"bundle\", not both");
        }
        trust.target = AutoStoreTarget{};
        if (body.contains("certificate")) {
            if (auto file = reader.read_file_path(body["certificate"], child_pointer(at, "certificate"))) {
                trust.certificate = *file;
                check_ca_file(reading, *file, child_pointer(at, "certificate"));
            }
        } else {
            reader.error(at, "needs \"certificate\": the PEM or DER file of the CA the server must trust");
        }
        return trust;
    }
    if (!body.contains("certificate")) {
        reader.error(at, "needs \"certificate\": the PEM or DER file of the CA the server must trust");
    } else if (auto file = reader.read_file_path(body["certificate"], child_pointer(at, "certificate"))) {
        trust.certificate = *file;
        check_ca_file(reading, *file, child_pointer(at, "certificate"));
    }
    const bool store = body.contains("store");
    const bool bundle = body.contains("bundle");
    if (store == bundle) {
        reader.error(at, store ? "must name either \"store\" (a Windows LocalMachine store) or \"bundle\" (a PEM "
                                 "file), not both"
                               : "must name where to add the CA: \"store\" (a Windows LocalMachine store such as Root) "
                                 "or \"bundle\" (the PEM file the web server reads)");
    } else if (store) {
        if (auto name =
                read_certificate_store(reading, body["store"], child_pointer(at, "store"), "trust_ca with \"store\"")) {
            trust.target = CertificateStoreTarget{*name};
        }
    } else if (auto path = reader.read_file_path(body["bundle"], child_pointer(at, "bundle"))) {
        trust.target = PemBundleTarget{*path};
    }
    return trust;
}

StepAction read_fix_root_store(const SectionReading& reading, const StepObject& step) {
    const json& body = step.body;
    const std::string& at = step.body_pointer;
    FixRootStoreStep fix;
    if (!reading.reader.check_object(body, at, {"move_to"})) return fix;
    if (!body.contains("move_to")) {
        reading.reader.error(at,
                             "needs \"move_to\": the LocalMachine store that receives the misplaced certificates, "
                             "normally \"CA\"");
        return fix;
    }
    if (auto name = read_certificate_store(reading, body["move_to"], child_pointer(at, "move_to"), "fix_root_store")) {
        if (*name == "Root") {
            reading.reader.error(child_pointer(at, "move_to"),
                                 "must not be Root: the step moves certificates out of Root (use \"CA\")");
        } else {
            fix.move_to = *name;
        }
    }
    return fix;
}

// ---------------------------------------------------------------- add_intermediates

StepAction read_add_intermediates(const SectionReading& reading, const StepObject& step) {
    JsonReader& reader = reading.reader;
    const json& body = step.body;
    const std::string& at = step.body_pointer;
    AddIntermediatesStep intermediates;
    if (!reader.check_object(body, at, {"certificate"})) return intermediates;
    if (!reading.certificate_stores) {
        reader.error(at, "puts intermediate CA certificates into the Windows store LocalMachine\\CA, and this host has "
                         "no certificate stores; on this platform add them to the PEM file your web server reads");
        return intermediates;
    }
    if (!body.contains("certificate")) {
        reader.error(at, "needs \"certificate\": the PEM or DER file that holds the intermediate CA certificates");
        return intermediates;
    }
    const std::string file_at = child_pointer(at, "certificate");
    auto file = reader.read_file_path(body["certificate"], file_at);
    if (!file) return intermediates;
    intermediates.certificate = *file;
    auto check = check_ca_certificates(reading.tls_material, *file);
    if (!check) {
        reader.error(file_at, "cannot be used: " + check.error().message);
    } else if (check.value().intermediate_subjects.empty()) {
        reader.warning(file_at, "holds no intermediate CA certificate (only self-signed or non-CA ones), so this step "
                                "adds nothing; name the file that holds the issuing CA's chain");
    }
    return intermediates;
}

// ---------------------------------------------------------------- set_schannel

StepAction read_set_schannel(const SectionReading& reading, const StepObject& step) {
    JsonReader& reader = reading.reader;
    const json& body = step.body;
    const std::string& at = step.body_pointer;
    SetSchannelStep schannel;
    if (!reader.check_object(body, at, {"client_auth_trust_mode", "send_trusted_issuer_list"})) return schannel;
    if (!reading.certificate_stores) {
        reader.error(at, "writes Schannel's settings in the Windows registry, and this host has no Schannel");
        return schannel;
    }
    if (body.contains("client_auth_trust_mode")) {
        if (auto mode = reader.read_integer(body["client_auth_trust_mode"], child_pointer(at, "client_auth_trust_mode"),
                                            0, 2)) {
            schannel.client_auth_trust_mode = static_cast<std::uint32_t>(*mode);
        }
    }
    if (body.contains("send_trusted_issuer_list")) {
        if (auto send = reader.read_boolean(body["send_trusted_issuer_list"],
                                            child_pointer(at, "send_trusted_issuer_list"))) {
            schannel.send_trusted_issuer_list = *send;
        }
    }
    if (!body.contains("client_auth_trust_mode") && !body.contains("send_trusted_issuer_list")) {
        reader.error(at, "must set \"client_auth_trust_mode\" (0, 1 or 2), \"send_trusted_issuer_list\" (true or "
                         "false), or both");
    }
    return schannel;
}

}  // namespace

std::optional<VerifyStep> read_verify_settings(const SectionReading& reading, const json& body, const std::string& at) {
    JsonReader& reader = reading.reader;
    VerifyStep verify;
    if (!reader.check_object(body, at, {"attempts", "delay"})) return std::nullopt;
    const std::size_t errors_before = reader.error_count();
    if (body.contains("attempts")) {
        if (auto attempts = reader.read_integer(body["attempts"], child_pointer(at, "attempts"), 1, 1000))
            verify.attempts = *attempts;
    }
    if (body.contains("delay")) {
        if (auto delay = reader.read_duration(body["delay"], child_pointer(at, "delay"))) verify.delay = *delay;
    }
    if (reader.error_count() != errors_before) return std::nullopt;
    return verify;
}

std::optional<Step> read_step(const SectionReading& reading, const json& value, const std::string& pointer) {
    JsonReader& reader = reading.reader;
    if (!value.is_object()) {
        reader.error(pointer, "must be a step object such as {\"start_service\": \"W3SVC\"}, got " +
                                  json_type_text(value) + " " + shown_value(value));
        return std::nullopt;
    }
    const StepKind* kind = single_step_kind(reader, value, pointer);
    if (kind == nullptr) return std::nullopt;
    const std::size_t errors_before = reader.error_count();
    KeyList allowed{kind->name};
    if (!kind->option.empty()) allowed.push_back(kind->option);
    allowed.push_back("timeout");
    reader.check_object(value, pointer, allowed);

    Step step;
    if (value.contains("timeout")) {
        if (auto timeout = reader.read_duration(value["timeout"], child_pointer(pointer, "timeout")))
            step.timeout = *timeout;
    }
    const std::string name(kind->name);
    step.action = kind->read(reading, StepObject{value, pointer, value[name], child_pointer(pointer, name)});
    if (reader.error_count() != errors_before) return std::nullopt;
    return step;
}

}  // namespace certheal
