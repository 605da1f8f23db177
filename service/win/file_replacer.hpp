#pragma once
// FileReplacer on Windows: the new contents go into a temporary file beside the target, which
// ReplaceFileW then swaps in. ReplaceFileW keeps the target's ACL, attributes, creation time
// and streams, so the web server's account still reads the bundle it read before.

#include "core/model/ports.hpp"

namespace certheal::win {

class WinFileReplacer final : public FileReplacer {
public:
    Result<Done> replace_contents(const std::filesystem::path& file, const std::string& contents) override;
};

}  // namespace certheal::win
