#pragma once
// FileReplacer on POSIX: a temporary file beside the target, given the target's owner and
// mode, flushed to disk, then renamed over it.

#include "core/model/ports.hpp"

namespace certheal {

class PosixFileReplacer final : public FileReplacer {
public:
    // A symbolic link is followed: the file it points to is replaced and the link stays.
    Result<Done> replace_contents(const std::filesystem::path& file, const std::string& contents) override;
};

}  // namespace certheal
