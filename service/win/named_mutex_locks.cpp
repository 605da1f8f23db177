#include "service/platform.hpp"

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <atomic>
#include <memory>

#include "service/retried_state_lock.hpp"
#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"
#include "service/win/write_protection.hpp"

// The platform port's repair lock and state lock on Windows: named mutexes.
namespace certheal::platform {
namespace {

using win::account_name;
using win::is_process_default_owner;
using win::is_trusted;
using win::LocalFreeDeleter;

// A named mutex in the Global namespace, so the service (session 0) and `certheal repair` in an
// administrator's session see the same one. Windows releases it (abandoned) when the holder
// dies, so a crashed repair never leaves the host locked; WAIT_ABANDONED hands it to us.
//
// Windows facts this class deals with:
// - A mutex is owned by a thread and is recursive: a second WaitForSingleObject in the owning
//   thread succeeds again, and only the owning thread can ReleaseMutex it. The port promises a
//   lock that is not re-entrant, taken and released on one thread: a process-wide flag refuses
//   a second holder in this process, and release() happens on the thread that took it.
// - Anyone may create a named mutex in Global\ first. certheal creates it readable and usable
//   by SYSTEM and Administrators only, and when it already exists checks that its owner is
//   SYSTEM, Administrators (or the account certheal runs as): a mutex another user created
//   first (to block repairs, say) is refused as a lock that cannot be made.
constexpr const wchar_t* kRepairLockName = L"Global\\certheal-repair";
constexpr const wchar_t* kRepairLockSddl = L"D:P(A;;GA;;;SY)(A;;GA;;;BA)";
std::atomic<bool> g_repair_lock_held_in_process{false};
// The state lock (see make_state_lock) is the same kind of mutex under another name.
constexpr const wchar_t* kStateLockName = L"Global\\certheal-state";
std::atomic<bool> g_state_lock_held_in_process{false};

class NamedMutexRepairLock : public RepairLock {
public:
    // `what` names the lock in messages: "repair lock Global\certheal-repair".
    NamedMutexRepairLock(const wchar_t* name, std::string what, std::atomic<bool>& held_in_process)
        : name_(name), what_(std::move(what)), held_in_process_(held_in_process) {}

    Result<bool> try_acquire() override {
        if (held_) return true;
        if (!mutex_) {
            if (auto opened = open_mutex(); !opened) return opened.error();
        }
        const DWORD waited = ::WaitForSingleObject(mutex_.get(), 0);
        if (waited == WAIT_TIMEOUT) return false;
        if (waited != WAIT_OBJECT_0 && waited != WAIT_ABANDONED) {
            return win::last_error_failure("certheal could not take its " + what_);
        }
        if (held_in_process_.exchange(true)) {
            // This thread already held it through another lock object: the wait only counted
            // up the recursion. Give that count back; the other holder keeps the lock.
            ::ReleaseMutex(mutex_.get());
            return false;
        }
        held_ = true;
        return true;
    }

    void release() noexcept override {
        if (!held_) return;
        ::ReleaseMutex(mutex_.get());
        held_in_process_ = false;
        held_ = false;
    }

    ~NamedMutexRepairLock() override { release(); }
    NamedMutexRepairLock(const NamedMutexRepairLock&) = delete;
    NamedMutexRepairLock& operator=(const NamedMutexRepairLock&) = delete;

private:
    Result<Done> open_mutex() {
        PSECURITY_DESCRIPTOR raw_descriptor = nullptr;
        if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(kRepairLockSddl, SDDL_REVISION_1, &raw_descriptor,
                                                                    nullptr)) {
            return win::last_error_failure("certheal could not build the access rules of its repair lock");
        }
        std::unique_ptr<void, LocalFreeDeleter> descriptor(raw_descriptor);
        SECURITY_ATTRIBUTES attributes{sizeof(attributes), descriptor.get(), FALSE};
        win::UniqueHandle mutex(::CreateMutexW(&attributes, FALSE, name_));
        if (!mutex) {
            const DWORD error = ::GetLastError();
            auto failure = win::win32_failure(error, "certheal could not open its " + what_);
            if (error == ERROR_ACCESS_DENIED) {
                failure.message += " Run it from an elevated prompt (Run as administrator)";
            }
            return failure;
        }
        if (::GetLastError() == ERROR_ALREADY_EXISTS) {
            PSID owner = nullptr;
            PSECURITY_DESCRIPTOR raw_existing = nullptr;
            const DWORD read = ::GetSecurityInfo(mutex.get(), SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION, &owner,
                                                 nullptr, nullptr, nullptr, &raw_existing);
            std::unique_ptr<void, LocalFreeDeleter> existing(raw_existing);
            if (read != ERROR_SUCCESS) {
                return win::win32_failure(read, "certheal could not read who created its " + what_);
            }
            // Windows gives every named object an owner; Wine 8 gives none to one created
            // without a security descriptor, and there is nobody to check then.
            if (owner != nullptr && !is_trusted(owner) && !is_process_default_owner(owner)) {
                return Failure{std::make_error_code(std::errc::permission_denied),
                               "certheal does not use its " + what_ + ": " +
                                   account_name(owner) +
                                   " created it, not SYSTEM or Administrators (someone may be keeping repairs from "
                                   "running)"};
            }
        }
        mutex_ = std::move(mutex);
        return success();
    }

    const wchar_t* name_;
    std::string what_;
    std::atomic<bool>& held_in_process_;
    win::UniqueHandle mutex_;
    bool held_ = false;
};

}  // namespace

std::unique_ptr<RepairLock> make_repair_lock(const std::filesystem::path&) {
    return std::make_unique<NamedMutexRepairLock>(kRepairLockName, "repair lock Global\\certheal-repair",
                                                  g_repair_lock_held_in_process);
}

std::unique_ptr<StateLock> make_state_lock(const std::filesystem::path&) {
    return std::make_unique<RetriedStateLock>(std::make_unique<NamedMutexRepairLock>(
        kStateLockName, "state lock Global\\certheal-state", g_state_lock_held_in_process));
}

}  // namespace certheal::platform
