#include "support/lab.hpp"

#include "support/files.hpp"

#if defined(__unix__) || defined(__APPLE__)

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace certheal::test {
namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> pointers;
    for (const auto& arg : argv) pointers.push_back(const_cast<char*>(arg.c_str()));
    pointers.push_back(nullptr);
    return pointers;
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

std::uint16_t bound_port(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        throw std::runtime_error("getsockname failed");
    }
    return ntohs(address.sin_port);
}

int bind_loopback_any_port() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    auto address = loopback(0);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        close(fd);
        throw std::runtime_error("bind() to 127.0.0.1:0 failed");
    }
    return fd;
}

}  // namespace

CommandOutput run_command(const std::vector<std::string>& argv) {
    CommandOutput result;
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        result.output = "could not make a pipe for " + argv[0] + ": " + std::strerror(errno);
        result.exit_code = -1;
        return result;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    pid_t pid = -1;
    auto args = c_argv(argv);
    const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    if (spawned != 0) {
        close(pipe_fds[0]);
        result.output = "could not start " + argv[0] + ": " + std::strerror(spawned);
        result.exit_code = -1;
        return result;
    }
    char chunk[4096];
    for (;;) {
        const ssize_t got = read(pipe_fds[0], chunk, sizeof chunk);
        if (got > 0) {
            result.output.append(chunk, static_cast<std::size_t>(got));
        } else if (got == 0 || errno != EINTR) {
            break;
        }
    }
    close(pipe_fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
    return result;
}

std::filesystem::path lab_script() { return std::filesystem::path(CERTHEAL_SOURCE_DIR) / "tests" / "lab" / "lab.sh"; }

std::uint16_t closed_port() {
    const int fd = bind_loopback_any_port();
    const auto port = bound_port(fd);
    close(fd);
    return port;
}

bool wait_until_listening(std::uint16_t port, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        auto address = loopback(port);
        const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        close(fd);
        if (connected) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

int connect_to_loopback(std::uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    auto address = loopback(port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int start_process(const std::vector<std::string>& argv, const std::filesystem::path& output) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    auto args = c_argv(argv);
    const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error("could not start " + argv[0]);
    return pid;
}

void stop_process(int pid, std::chrono::milliseconds grace) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// --- NginxLab ----------------------------------------------------------------------
NginxLab::NginxLab() {
    run_script("up");
    std::ifstream env(dir() / "lab.env");
    std::string line;
    while (std::getline(env, line)) {
        const auto equals = line.find('=');
        if (equals != std::string::npos) values_[line.substr(0, equals)] = line.substr(equals + 1);
    }
    if (values_.count("port") == 0) throw std::runtime_error("lab.sh up wrote no port into " + (dir() / "lab.env").string());
}

NginxLab::~NginxLab() { run_command({lab_script().string(), "down", dir().string()}); }

void NginxLab::run_script(const std::string& command) {
    const auto outcome = run_command({lab_script().string(), command, dir().string()});
    if (outcome.exit_code != 0) {
        throw std::runtime_error("lab.sh " + command + " " + dir().string() + " failed: " + outcome.output);
    }
}

std::uint16_t NginxLab::port() const { return static_cast<std::uint16_t>(std::stoi(value("port"))); }
std::uint16_t NginxLab::optional_port() const {
    return static_cast<std::uint16_t>(std::stoi(value("optional_port")));
}

std::string NginxLab::value(const std::string& key) const {
    const auto found = values_.find(key);
    if (found == values_.end()) throw std::runtime_error("lab.env has no " + key);
    return found->second;
}

std::string NginxLab::pfx_password() const {
    std::ifstream file(value("client_p12_password_file"));
    std::string password;
    std::getline(file, password);
    return password;
}

void NginxLab::desync() { run_script("desync"); }
void NginxLab::resync() { run_script("resync"); }

NginxLab& shared_nginx_lab() {
    static NginxLab lab;
    return lab;
}

// --- SServer -----------------------------------------------------------------------
SServer::SServer(const SServerOptions& options) {
    port_ = closed_port();
    std::vector<std::string> argv{"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port_),
                                  "-Verify", "1", "-verify_return_error", "-CAfile", options.client_ca.string(),
                                  "-cert", options.cert.string(), "-key", options.key.string(),
                                  "-www", "-quiet", "-no_ticket", "-naccept", "1000"};
    if (options.tls12_only) argv.push_back("-tls1_2");
    argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    auto args = c_argv(argv);
    const int spawned = posix_spawnp(&pid, "openssl", &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error("could not start openssl s_server");
    pid_ = pid;
    if (!wait_until_listening(port_, std::chrono::seconds(5))) {
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
        throw std::runtime_error("openssl s_server did not listen on port " + std::to_string(port_) + " within 5 s");
    }
}

SServer::~SServer() {
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
        int status = 0;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

// --- Blackhole ---------------------------------------------------------------------
Blackhole::Blackhole() {
    fd_ = bind_loopback_any_port();
    if (listen(fd_, 64) != 0) {
        close(fd_);
        throw std::runtime_error("listen() failed");
    }
    port_ = bound_port(fd_);
}

Blackhole::~Blackhole() {
    if (fd_ >= 0) close(fd_);
}

namespace {

// The N of a "port=N" line, once the server has printed it.
std::optional<std::uint16_t> announced_port(const std::filesystem::path& output) {
    const std::string text = read_text(output);
    const auto start = text.find("port=");
    const auto end = text.find('\n', start);
    if (start == std::string::npos || end == std::string::npos) return std::nullopt;
    return static_cast<std::uint16_t>(std::stoi(text.substr(start + 5, end - start - 5)));
}

}  // namespace

AnnouncedServer::AnnouncedServer(const std::vector<std::string>& argv) {
    using namespace std::chrono_literals;
    const auto output = dir_.path() / "server.out";
    pid_ = start_process(argv, output);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!announced_port(output)) {
        const bool exited = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
        if (exited || std::chrono::steady_clock::now() >= deadline) {
            if (!exited) stop_process(pid_, 5s);
            pid_ = -1;
            throw std::runtime_error(argv.front() + " did not start: " + read_text(output));
        }
        std::this_thread::sleep_for(20ms);
    }
    port_ = *announced_port(output);
}

AnnouncedServer::~AnnouncedServer() { stop_process(pid_, std::chrono::seconds(5)); }

std::vector<std::string> hostile_server_command(const std::string& mode, const std::filesystem::path& cert,
                                                const std::filesystem::path& key,
                                                const std::vector<std::string>& extra) {
    std::vector<std::string> argv{"python3", (lab_script().parent_path() / "hostile_server.py").string(), mode,
                                  "--cert", cert.string(), "--key", key.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

}  // namespace certheal::test

#endif
