#include "core/model/host_settings.hpp"

#include <system_error>

namespace certheal {
namespace {

Failure no_schannel(std::string_view name) {
    return Failure{std::make_error_code(std::errc::not_supported),
                   "This platform has no Schannel, so certheal cannot read or write " + std::string(name) + " under " +
                       std::string(kSchannelKey) + " (a Windows setting)"};
}

}  // namespace

Result<RegistryDword> NoSchannelSettings::read(std::string_view name) { return no_schannel(name); }

Result<Done> NoSchannelSettings::write(std::string_view name, std::uint32_t) { return no_schannel(name); }

}  // namespace certheal
