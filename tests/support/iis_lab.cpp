#include "support/iis_lab.hpp"

#if defined(__unix__) || defined(__APPLE__)

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/lab.hpp"

namespace certheal::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kPollInterval = 20ms;

std::string percent_decoded(const std::string& value) {
    std::string decoded;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '%' && i + 2 < value.size() && std::isxdigit(static_cast<unsigned char>(value[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(value[i + 2]))) {
            decoded += static_cast<char>(std::stoi(value.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            decoded += value[i];
        }
    }
    return decoded;
}

IisLogLine parse_log_line(const std::string& line) {
    IisLogLine fields;
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
        const auto equals = word.find('=');
        if (equals != std::string::npos) fields[word.substr(0, equals)] = percent_decoded(word.substr(equals + 1));
    }
    return fields;
}

}  // namespace

std::filesystem::path iis_lab_server_binary() {
#ifdef CERTHEAL_IIS_LAB_SERVER
    return CERTHEAL_IIS_LAB_SERVER;
#else
    // The support files are built into the unit tests too, which have no lab server.
    throw std::runtime_error("This test program was built without CERTHEAL_IIS_LAB_SERVER, the path of the IIS-like lab server.");
#endif
}

IisLabServer::IisLabServer(const IisLabServerOptions& options) {
    std::vector<std::string> argv{iis_lab_server_binary().string(),
                                  "--cert", options.cert.string(),
                                  "--key", options.key.string(),
                                  "--client-ca-bundle", options.client_ca_bundle.string(),
                                  "--request",
                                  options.request_mode == IisRequestMode::renegotiate ? "renegotiate" : "handshake",
                                  "--tls", options.tls_version,
                                  "--ca-names",
                                  options.ca_names == IisCaNames::trusted ? "trusted" : "empty",
                                  "--log", log_file().string()};
    if (options.forced_answer) {
        argv.push_back("--answer");
        argv.push_back(*options.forced_answer);
    }
    if (options.tls13_renegotiation) {
        argv.push_back("--tls13-renegotiation");
        argv.push_back(*options.tls13_renegotiation);
    }
    if (options.offer_resumption) {
        argv.push_back("--resumption");
        argv.push_back("offer");
    }
    server_.emplace(argv);
}



std::string IisLabServer::url(const std::string& path) const {
    return "https://localhost:" + std::to_string(port()) + path;
}

std::vector<IisLogLine> IisLabServer::log_lines() const {
    std::vector<IisLogLine> lines;
    std::ifstream file(log_file());
    std::string line;
    while (std::getline(file, line)) {
        if (!line.empty()) lines.push_back(parse_log_line(line));
    }
    return lines;
}

std::vector<IisLogLine> IisLabServer::wait_for_log_lines(std::size_t count, std::chrono::milliseconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    auto lines = log_lines();
    while (lines.size() < count && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(kPollInterval);
        lines = log_lines();
    }
    return lines;
}

}  // namespace certheal::test

#endif
