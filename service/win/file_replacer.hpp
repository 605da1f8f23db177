#pragma once
// FileReplacer on Windows: the bundle is opened once (never through a reparse point) and read
// through that handle; the new contents go into a temporary file created with CREATE_NEW under
// a random name beside it, which ReplaceFileW swaps in only while the name still names the file
// that was read (same volume and file index). ReplaceFileW keeps the target's ACL, attributes,
// creation time and streams, so the web server's account still reads the bundle it read before.

#include "core/model/ports.hpp"

namespace certheal::win {

class WinFileReplacer final : public FileReplacer {
public:
    Result<std::unique_ptr<FileToReplace>> open(const std::filesystem::path& file, std::size_t limit) override;
};

// Who other than Administrators, SYSTEM or the account certheal runs as could change `path`
// (its owner, or a write right in its ACL), as a clause, or nothing. write_protection.cpp has it.
std::optional<std::string> write_protection_problem(const std::filesystem::path& path);

}  // namespace certheal::win
