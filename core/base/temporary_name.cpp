#include "core/base/temporary_name.hpp"

#include <array>
#include <random>

namespace certheal {
namespace {

constexpr std::string_view kMarker = ".certheal-";
constexpr std::size_t kRandomLength = 12;
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

bool is_random_part(std::string_view text) {
    if (text.size() != kRandomLength) return false;
    for (const char c : text) {
        if (kAlphabet.find(c) == std::string_view::npos) return false;
    }
    return true;
}

}  // namespace

std::string temporary_name_for(std::string_view file_name) {
    // std::random_device reads the system's generator (getrandom, rand_s): nobody predicts it.
    thread_local std::random_device device;
    std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
    std::string name = ".";
    name += file_name;
    name += kMarker;
    for (std::size_t index = 0; index < kRandomLength; ++index) name += kAlphabet[pick(device)];
    return name;
}

bool is_temporary_name(std::string_view name) {
    if (name.size() < 1 + 1 + kMarker.size() + kRandomLength || name.front() != '.') return false;
    const auto random = name.substr(name.size() - kRandomLength);
    const auto marker = name.substr(name.size() - kRandomLength - kMarker.size(), kMarker.size());
    return marker == kMarker && is_random_part(random);
}

bool is_temporary_name_of(std::string_view name, std::string_view file_name) {
    if (!is_temporary_name(name)) return false;
    return name.substr(1, name.size() - 1 - kMarker.size() - kRandomLength) == file_name;
}

bool is_legacy_temporary_name(std::string_view name) {
    static constexpr std::array<std::string_view, 4> kLegacy = {"state.json.tmp", "status.json.tmp",
                                                                "certheal.prom.tmp", "certheal.pid.tmp"};
    for (const auto legacy : kLegacy) {
        if (name == legacy) return true;
    }
    return false;
}

}  // namespace certheal
