#pragma once
// Helpers for lab tests: real peers on 127.0.0.1 with ephemeral ports. POSIX only; the
// Windows build of the unit tests sees an empty header.
#if defined(__unix__) || defined(__APPLE__)

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/pki.hpp"  // certheal::test::TempDir

namespace certheal::test {

struct CommandOutput {
    int exit_code = -1;   // -1 when it could not be started or was killed by a signal
    std::string output;   // stdout and stderr, interleaved
};

// Runs `argv` (argv[0] looked up in PATH, no shell) and waits for it.
CommandOutput run_command(const std::vector<std::string>& argv);

std::filesystem::path lab_script();  // tests/lab/lab.sh in the source tree

// A loopback port nobody listens on (bound, then closed again).
std::uint16_t closed_port();

// Connects to 127.0.0.1:port until it accepts or `limit` passes.
bool wait_until_listening(std::uint16_t port, std::chrono::milliseconds limit);

// A TCP connection to 127.0.0.1:port, or -1 when it is refused. The caller closes it.
int connect_to_loopback(std::uint16_t port);

// Starts `argv` (argv[0] looked up in PATH, no shell) in the background, stdin from /dev/null,
// stdout and stderr appended to `output`. Returns its pid; throws std::runtime_error.
int start_process(const std::vector<std::string>& argv, const std::filesystem::path& output);

// SIGTERM, then SIGKILL if `pid` has not exited within `grace`; reaps it either way.
void stop_process(int pid, std::chrono::milliseconds grace);

// A server run as a child process that prints "port=N" once it listens; stopped (SIGTERM, then
// SIGKILL) in the destructor. Throws std::runtime_error with what it printed when it does not
// announce a port within a few seconds.
class AnnouncedServer {
public:
    explicit AnnouncedServer(const std::vector<std::string>& argv);
    ~AnnouncedServer();
    AnnouncedServer(const AnnouncedServer&) = delete;
    AnnouncedServer& operator=(const AnnouncedServer&) = delete;
    std::uint16_t port() const noexcept { return port_; }

private:
    TempDir dir_;
    int pid_ = -1;
    std::uint16_t port_ = 0;
};

// tests/lab/hostile_server.py in one of its modes (forbidden-page, forbidden-chunked,
// huge-header, not-http, banner), with the given certificate and extra arguments.
std::vector<std::string> hostile_server_command(const std::string& mode, const std::filesystem::path& cert,
                                                const std::filesystem::path& key,
                                                const std::vector<std::string>& extra = {});

// The files of a lab made by lab.sh, by their lab.env names.
class LabFiles {
public:
    virtual ~LabFiles() = default;
    // A value from lab.env, e.g. "client_cert", "server_ca", "client_p12", "revoked_client_cert".
    virtual std::string value(const std::string& key) const = 0;
    std::filesystem::path file(const std::string& key) const { return value(key); }
};

// nginx with a client-certificate requirement, run by lab.sh in its own temporary folder:
// port() is `ssl_verify_client on` (nginx's own 400 pages), optional_port() is
// `ssl_verify_client optional_no_ca` with a rule that answers nginx's 403 page.
class NginxLab : public LabFiles {
public:
    NginxLab();            // lab.sh up; throws std::runtime_error with lab.sh's output on failure
    ~NginxLab() override;  // lab.sh down
    NginxLab(const NginxLab&) = delete;
    NginxLab& operator=(const NginxLab&) = delete;

    std::uint16_t port() const;
    std::uint16_t optional_port() const;
    const std::filesystem::path& dir() const noexcept { return dir_.path(); }
    std::string value(const std::string& key) const override;
    std::string pfx_password() const;

    void desync();  // nginx trusts the unrelated CA: the good client certificate gets 400 "The SSL certificate error"
    void resync();  // nginx trusts the good CA again

private:
    void run_script(const std::string& command);
    TempDir dir_;
    std::map<std::string, std::string> values_;
};

// One nginx lab for all the tests of a test program that only read it (read-only: nobody desyncs
// this one; a test that desyncs makes its own). Up on first use, down at exit.
NginxLab& shared_nginx_lab();

struct SServerOptions {
    std::filesystem::path cert;
    std::filesystem::path key;
    std::filesystem::path client_ca;  // CA that must have issued the client certificate
    bool tls12_only = false;          // -tls1_2 instead of the default (TLS 1.3)
    std::vector<std::string> extra_args;
};

// `openssl s_server -Verify 1 -verify_return_error -www` as a child process on a free port,
// killed in the destructor. It serves one connection at a time.
class SServer {
public:
    explicit SServer(const SServerOptions& options);
    ~SServer();
    SServer(const SServer&) = delete;
    SServer& operator=(const SServer&) = delete;
    std::uint16_t port() const noexcept { return port_; }

private:
    int pid_ = -1;
    std::uint16_t port_ = 0;
};

// Listens on a loopback port but never accepts or answers: the kernel completes the TCP
// handshake, then the TLS handshake waits forever.
class Blackhole {
public:
    Blackhole();
    ~Blackhole();
    Blackhole(const Blackhole&) = delete;
    Blackhole& operator=(const Blackhole&) = delete;
    std::uint16_t port() const noexcept { return port_; }

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace certheal::test

#endif
