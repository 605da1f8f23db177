#pragma once
// Win32 errors as certheal Failures, and the UTF-8 <-> UTF-16 conversions at the API edge.
// certheal keeps strings in UTF-8; the W APIs take UTF-16.

#include <windows.h>

#include <string>
#include <string_view>

#include "core/base/result.hpp"

namespace certheal::win {

std::wstring to_utf16(std::string_view utf8);
std::string to_utf8(std::wstring_view utf16);

// The system's text for a Win32 error code ("Access is denied."), or "Win32 error N" when
// the system has none.
std::string system_message(DWORD code);

// A Failure that keeps `code` in std::system_category() and reads
// "<what>: <system text> (Win32 error <code>)." `what` says what certheal was doing, to
// which service or file, without a final full stop.
Failure win32_failure(DWORD code, std::string what);

// win32_failure(GetLastError(), what): call it right after the failing API.
Failure last_error_failure(std::string what);

}  // namespace certheal::win
