#include "service/posix/linux_proc.hpp"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <memory>

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace certheal {
namespace {

struct DirectoryCloser {
    void operator()(DIR* directory) const noexcept { ::closedir(directory); }
};
using Directory = std::unique_ptr<DIR, DirectoryCloser>;

// The whole of a /proc file; nullopt when it cannot be read (the process is gone, or
// /proc hides it).
std::optional<std::string> read_proc_file(const std::string& path) {
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) return std::nullopt;
    std::string text;
    char buffer[4096];
    for (;;) {
        const ssize_t got = ::read(file.get(), buffer, sizeof buffer);
        if (got > 0) {
            text.append(buffer, static_cast<std::size_t>(got));
        } else if (got == 0) {
            return text;
        } else if (errno != EINTR) {
            return std::nullopt;
        }
    }
}

std::optional<pid_t> as_pid(std::string_view text) {
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
    return static_cast<pid_t>(value);
}

// "1234 (sleep) S 1200 1234 1200 ..." (proc(5)): the command name is in parentheses and may hold
// spaces and parentheses itself, so the fields are counted from the last ')'.
std::optional<ProcessEntry> parse_stat(pid_t pid, std::string_view text) {
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
    ProcessEntry entry;
    entry.pid = pid;
    entry.command = std::string(text.substr(open + 1, close - open - 1));
    // Fields 3 (state) onwards; field 22 is the start time.
    std::string_view rest = text.substr(std::min(close + 2, text.size()));
    std::vector<std::string_view> fields;
    while (!rest.empty() && fields.size() < 20) {
        const auto space = rest.find(' ');
        fields.push_back(rest.substr(0, space));
        rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    }
    if (fields.size() < 20 || fields[0].empty()) return std::nullopt;
    const auto number = [](std::string_view field, auto& value) {
        const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
        return error == std::errc() && end == field.data() + field.size();
    };
    entry.state = fields[0].front();
    int parent = 0, group = 0, session = 0;
    if (!number(fields[1], parent) || !number(fields[2], group) || !number(fields[3], session) ||
        !number(fields[19], entry.start_time)) {
        return std::nullopt;
    }
    entry.parent = static_cast<pid_t>(parent);
    entry.group = static_cast<pid_t>(group);
    entry.session = static_cast<pid_t>(session);
    return entry;
}

bool environment_has(pid_t pid, std::string_view wanted, bool whole_entry) {
    const auto environment = read_proc_file("/proc/" + std::to_string(pid) + "/environ");
    if (!environment) return false;
    std::string_view rest = *environment;
    while (!rest.empty()) {
        const auto end = rest.find('\0');
        const std::string_view entry = rest.substr(0, end);
        if (whole_entry ? entry == wanted : entry.starts_with(wanted)) return true;
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
    }
    return false;
}

bool same_running_process(const ProcessId& process) {
    const auto entry = read_process(process.pid);
    return entry && entry->start_time == process.start_time && !entry->has_ended();
}

}  // namespace

std::optional<ProcessEntry> read_process(pid_t pid) {
    const auto text = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
    if (!text) return std::nullopt;
    return parse_stat(pid, *text);
}

std::vector<ProcessEntry> list_processes() {
    std::vector<ProcessEntry> processes;
    Directory proc(::opendir("/proc"));
    if (!proc) return processes;
    while (const dirent* item = ::readdir(proc.get())) {
        const auto pid = as_pid(item->d_name);
        if (!pid) continue;
        if (auto entry = read_process(*pid)) processes.push_back(std::move(*entry));
    }
    return processes;
}

std::vector<pid_t> children_of_this_process() {
    std::vector<pid_t> children;
    // /proc/self/task/TID/children lists the children of each thread (Linux 3.5+ with
    // CONFIG_PROC_CHILDREN, which Debian, Ubuntu and RHEL enable): a few small reads, where a
    // scan of every process reads one file per process of the host.
    bool listed = false;
    if (Directory tasks(::opendir("/proc/self/task")); tasks) {
        while (const dirent* item = ::readdir(tasks.get())) {
            if (!as_pid(item->d_name)) continue;
            const auto text = read_proc_file(std::string("/proc/self/task/") + item->d_name + "/children");
            if (!text) continue;
            listed = true;
            std::string_view rest = *text;
            while (!rest.empty()) {
                const auto space = rest.find(' ');
                if (const auto pid = as_pid(rest.substr(0, space))) children.push_back(*pid);
                if (space == std::string_view::npos) break;
                rest.remove_prefix(space + 1);
            }
        }
    }
    if (listed) return children;
    const pid_t self = ::getpid();
    for (const auto& process : list_processes()) {
        if (process.parent == self) children.push_back(process.pid);
    }
    return children;
}

bool environment_has_entry_starting_with(pid_t pid, std::string_view prefix) {
    return environment_has(pid, prefix, false);
}

bool environment_has_entry(pid_t pid, std::string_view entry) { return environment_has(pid, entry, true); }

FileDescriptor open_process_handle(const ProcessId& process) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    // pidfd_open sets close-on-exec itself: a program another thread starts never inherits it.
    const long fd = ::syscall(SYS_pidfd_open, process.pid, 0U);
    if (fd < 0) return {};
    FileDescriptor handle(static_cast<int>(fd));
    // The pid may have been reused between the snapshot and the open: keep the handle only
    // when it names the process that was seen.
    if (!same_running_process(process)) return {};
    return handle;
#else
    (void)process;
    return {};
#endif
}

bool send_signal(const FileDescriptor& handle, const ProcessId& process, int signal) {
#if defined(__linux__) && defined(SYS_pidfd_send_signal)
    if (handle) return ::syscall(SYS_pidfd_send_signal, handle.get(), signal, nullptr, 0U) == 0;
#else
    (void)handle;
#endif
    // No pidfd (an older kernel, or no descriptor left): a short window remains between the
    // check and the kill in which the pid could be reused.
    if (!same_running_process(process)) return false;
    return ::kill(process.pid, signal) == 0;
}

}  // namespace certheal
