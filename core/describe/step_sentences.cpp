#include "core/describe/step_sentences.hpp"

#include "core/base/duration.hpp"

namespace certheal {

std::string describe_step(const Step& step) {
    std::string text(step_kind(step.action));
    if (const auto* run = std::get_if<RunStep>(&step.action)) {
        // Quoted only where a space would make the line ambiguous; certheal itself never
        // builds a command line from this.
        const auto word = [](const std::string& arg) {
            const bool needs_quotes = arg.empty() || arg.find_first_of(" \t\"") != std::string::npos;
            if (!needs_quotes) return arg;
            std::string quoted = "\"";
            for (char c : arg) quoted += c == '"' ? std::string("\\\"") : std::string(1, c);
            return quoted + "\"";
        };
        text += " " + word(run->program.string());
        for (const auto& arg : run->args) text += " " + word(arg);
    } else if (const auto* stop = std::get_if<StopServiceStep>(&step.action)) {
        text += " " + stop->service;
        if (stop->with_dependents) text += " with dependents";
    } else if (const auto* start = std::get_if<StartServiceStep>(&step.action)) {
        text += " " + start->service;
    } else if (const auto* verify = std::get_if<VerifyStep>(&step.action)) {
        text += ": up to " + std::to_string(verify->attempts) + " probes, " + format_duration(verify->delay) + " apart";
    } else if (const auto* trust = std::get_if<TrustCaStep>(&step.action)) {
        text += " " + trust->certificate.string() + " into ";
        if (const auto* store = std::get_if<CertificateStoreTarget>(&trust->target)) {
            text += "LocalMachine\\" + store->store;
        } else if (const auto* bundle = std::get_if<PemBundleTarget>(&trust->target)) {
            text += bundle->bundle.string();
        } else {
            text += "the store Schannel trusts for each site's binding (auto)";
        }
    } else if (const auto* fix = std::get_if<FixRootStoreStep>(&step.action)) {
        text += ": move certificates that are not self-signed from LocalMachine\\Root to LocalMachine\\" + fix->move_to;
    } else if (const auto* intermediates = std::get_if<AddIntermediatesStep>(&step.action)) {
        text += " " + intermediates->certificate.string() + " into LocalMachine\\CA";
    } else if (const auto* schannel = std::get_if<SetSchannelStep>(&step.action)) {
        std::vector<std::string> values;
        if (schannel->client_auth_trust_mode) {
            values.push_back("ClientAuthTrustMode=" + std::to_string(*schannel->client_auth_trust_mode));
        }
        if (schannel->send_trusted_issuer_list) {
            values.push_back(std::string("SendTrustedIssuerList=") + (*schannel->send_trusted_issuer_list ? "1" : "0"));
        }
        for (std::size_t i = 0; i < values.size(); ++i) text += (i == 0 ? " " : ", ") + values[i];
    }
    return text;
}

}  // namespace certheal
