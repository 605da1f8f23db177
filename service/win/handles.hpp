#pragma once
// Owning wrappers for the Win32 handles certheal touches: each closes its handle exactly once.

#include <windows.h>
#include <wincrypt.h>

#include <utility>

namespace certheal::win {

// Move-only owner of a raw handle; `Traits` says what "no handle" is and how to close one.
template <class Traits>
class UniqueResource {
public:
    using handle_type = typename Traits::handle_type;

    UniqueResource() noexcept = default;
    explicit UniqueResource(handle_type handle) noexcept : handle_(handle) {}
    UniqueResource(const UniqueResource&) = delete;
    UniqueResource& operator=(const UniqueResource&) = delete;
    UniqueResource(UniqueResource&& other) noexcept : handle_(other.release()) {}
    UniqueResource& operator=(UniqueResource&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    ~UniqueResource() { reset(); }

    handle_type get() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return Traits::is_valid(handle_); }

    handle_type release() noexcept { return std::exchange(handle_, Traits::invalid()); }
    void reset(handle_type handle = Traits::invalid()) noexcept {
        handle_type old = std::exchange(handle_, handle);
        if (Traits::is_valid(old)) Traits::close(old);
    }
    // For APIs that return the handle through an out-parameter (RegOpenKeyExW).
    handle_type* out() noexcept {
        reset();
        return &handle_;
    }

private:
    handle_type handle_ = Traits::invalid();
};

struct ServiceHandleTraits {
    using handle_type = SC_HANDLE;
    static handle_type invalid() noexcept { return nullptr; }
    static bool is_valid(handle_type handle) noexcept { return handle != nullptr; }
    static void close(handle_type handle) noexcept { ::CloseServiceHandle(handle); }
};

// Kernel handles: some APIs report failure as nullptr, others as INVALID_HANDLE_VALUE.
struct KernelHandleTraits {
    using handle_type = HANDLE;
    static handle_type invalid() noexcept { return nullptr; }
    static bool is_valid(handle_type handle) noexcept {
        return handle != nullptr && handle != INVALID_HANDLE_VALUE;
    }
    static void close(handle_type handle) noexcept { ::CloseHandle(handle); }
};

struct RegistryKeyTraits {
    using handle_type = HKEY;
    static handle_type invalid() noexcept { return nullptr; }
    static bool is_valid(handle_type handle) noexcept { return handle != nullptr; }
    static void close(handle_type handle) noexcept { ::RegCloseKey(handle); }
};

struct CertStoreTraits {
    using handle_type = HCERTSTORE;
    static handle_type invalid() noexcept { return nullptr; }
    static bool is_valid(handle_type handle) noexcept { return handle != nullptr; }
    // Wine's registry store writes its changes to the registry here, not when they are made.
    static void close(handle_type handle) noexcept { ::CertCloseStore(handle, 0); }
};

// A certificate context keeps its store alive until the context is freed.
// CertDeleteCertificateFromStore and CertEnumCertificatesInStore free the context they are
// given: hand them release(), never get().
struct CertContextTraits {
    using handle_type = PCCERT_CONTEXT;
    static handle_type invalid() noexcept { return nullptr; }
    static bool is_valid(handle_type handle) noexcept { return handle != nullptr; }
    static void close(handle_type handle) noexcept { ::CertFreeCertificateContext(handle); }
};

using ScHandle = UniqueResource<ServiceHandleTraits>;     // OpenSCManagerW, OpenServiceW, CreateServiceW
using UniqueHandle = UniqueResource<KernelHandleTraits>;  // CreateFileW, CreateEventW, processes, threads
using RegKey = UniqueResource<RegistryKeyTraits>;         // RegOpenKeyExW, RegCreateKeyExW
using CertStore = UniqueResource<CertStoreTraits>;        // CertOpenStore
using CertContext = UniqueResource<CertContextTraits>;    // CertCreateCertificateContext, CertFind...InStore

}  // namespace certheal::win
