#pragma once
// FileReplacer on POSIX, for a file another program reads (a trust_ca bundle): opened once,
// read through that descriptor, and replaced by a temporary file beside it (created
// exclusively, given the old file's owner, mode, ACL and extended attributes through its
// descriptor, flushed) renamed over it inside the folder certheal opened, only while the
// name still names the file that was read.

#include "core/model/ports.hpp"

namespace certheal {

class PosixFileReplacer final : public FileReplacer {
public:
    // A symbolic link at `file` is resolved when the file is opened: the file it points to is
    // replaced and the link stays. The folders on the way to both are checked: a bundle or a
    // folder that another account could change is refused with the reason.
    Result<std::unique_ptr<FileToReplace>> open(const std::filesystem::path& file, std::size_t limit) override;
};

}  // namespace certheal
