#include "service/win/win_error.hpp"

#include <system_error>

namespace certheal::win {

std::wstring to_utf16(std::string_view utf8) {
    if (utf8.empty()) return {};
    const int length = ::MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
    if (length <= 0) return {};
    std::wstring result(static_cast<size_t>(length), L'\0');
    ::MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), result.data(), length);
    return result;
}

std::string to_utf8(std::wstring_view utf16) {
    if (utf16.empty()) return {};
    const int length = ::WideCharToMultiByte(CP_UTF8, 0, utf16.data(), static_cast<int>(utf16.size()), nullptr, 0,
                                             nullptr, nullptr);
    if (length <= 0) return {};
    std::string result(static_cast<size_t>(length), '\0');
    ::WideCharToMultiByte(CP_UTF8, 0, utf16.data(), static_cast<int>(utf16.size()), result.data(), length, nullptr,
                          nullptr);
    return result;
}

std::string system_message(DWORD code) {
    wchar_t* buffer = nullptr;
    const DWORD length = ::FormatMessageW(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, code,
        0, reinterpret_cast<wchar_t*>(&buffer), 0, nullptr);
    std::wstring text;
    if (length != 0 && buffer != nullptr) text.assign(buffer, length);
    if (buffer != nullptr) ::LocalFree(buffer);
    // The system texts end with ".\r\n"; the caller places the sentence's full stop.
    while (!text.empty() && (text.back() == L'\r' || text.back() == L'\n' || text.back() == L' ' ||
                             text.back() == L'.')) {
        text.pop_back();
    }
    if (text.empty()) return "Win32 error " + std::to_string(code);
    return to_utf8(text);
}

Failure win32_failure(DWORD code, std::string what) {
    std::string message = std::move(what);
    message += ": ";
    message += system_message(code);
    message += " (Win32 error " + std::to_string(code) + ").";
    return Failure{std::error_code(static_cast<int>(code), std::system_category()), std::move(message)};
}

Failure last_error_failure(std::string what) { return win32_failure(::GetLastError(), std::move(what)); }

}  // namespace certheal::win
