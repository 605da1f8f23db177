#include "service/win/process_runner.hpp"

#include <windows.h>

#include <atomic>
#include <chrono>
#include <stop_token>

#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

using SteadyClock = std::chrono::steady_clock;

void append_quoted(std::wstring& line, const std::wstring& argument) {
    if (!argument.empty() && argument.find_first_of(L" \t\n\v\"") == std::wstring::npos) {
        line += argument;
        return;
    }
    line += L'"';
    size_t backslashes = 0;
    for (const wchar_t character : argument) {
        if (character == L'\\') {
            ++backslashes;
            continue;
        }
        if (character == L'"') {
            line.append(backslashes * 2 + 1, L'\\');  // escape the backslashes and the quote
        } else {
            line.append(backslashes, L'\\');
        }
        backslashes = 0;
        line += character;
    }
    line.append(backslashes * 2, L'\\');  // the closing quote must stay a quote
    line += L'"';
}

// The read end of a child's stdout or stderr: an overlapped named pipe, so one thread can
// wait for the process, both pipes and cancellation at once.
struct OutputPipe {
    UniqueHandle read_end;
    UniqueHandle child_end;  // inheritable write end, closed in the parent once the child runs
    UniqueHandle read_done;  // manual-reset event of the pending read
    OVERLAPPED overlapped{};
    char buffer[4096];
    bool reading = false;
    bool open = true;
    std::string tail;
};

Result<Done> create_output_pipe(OutputPipe& pipe, const char* stream) {
    static std::atomic<unsigned> counter{0};
    const std::wstring name = L"\\\\.\\pipe\\certheal-" + std::to_wstring(::GetCurrentProcessId()) + L"-" +
                              std::to_wstring(counter.fetch_add(1));
    pipe.read_end.reset(::CreateNamedPipeW(name.c_str(), PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED |
                                                             FILE_FLAG_FIRST_PIPE_INSTANCE,
                                           PIPE_TYPE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, 4096, 4096,
                                           0, nullptr));
    if (!pipe.read_end) return last_error_failure(std::string("certheal could not create the pipe for a program's ") + stream);
    SECURITY_ATTRIBUTES inheritable{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
    pipe.child_end.reset(
        ::CreateFileW(name.c_str(), GENERIC_WRITE, 0, &inheritable, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr));
    if (!pipe.child_end) return last_error_failure(std::string("certheal could not open the pipe for a program's ") + stream);
    pipe.read_done.reset(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    if (!pipe.read_done) return last_error_failure("certheal could not create an event");
    pipe.overlapped.hEvent = pipe.read_done.get();
    return success();
}

void keep_tail(std::string& tail, const char* data, size_t size, size_t limit) {
    tail.append(data, size);
    if (tail.size() > limit) tail.erase(0, tail.size() - limit);
}

// Starts the next read unless one is pending; reads that complete at once are consumed here.
void start_read(OutputPipe& pipe, size_t limit) {
    while (pipe.open && !pipe.reading) {
        DWORD got = 0;
        ::ResetEvent(pipe.read_done.get());
        if (::ReadFile(pipe.read_end.get(), pipe.buffer, sizeof(pipe.buffer), &got, &pipe.overlapped)) {
            keep_tail(pipe.tail, pipe.buffer, got, limit);
            continue;
        }
        const DWORD error = ::GetLastError();
        if (error == ERROR_IO_PENDING) {
            pipe.reading = true;
        } else {
            pipe.open = false;  // ERROR_BROKEN_PIPE: every writer closed its end
        }
    }
}

void finish_read(OutputPipe& pipe, size_t limit) {
    DWORD got = 0;
    pipe.reading = false;
    if (::GetOverlappedResult(pipe.read_end.get(), &pipe.overlapped, &got, FALSE)) {
        keep_tail(pipe.tail, pipe.buffer, got, limit);
    } else if (::GetLastError() != ERROR_MORE_DATA) {
        pipe.open = false;
    }
}

void abandon_read(OutputPipe& pipe) {
    if (!pipe.reading) return;
    ::CancelIoEx(pipe.read_end.get(), &pipe.overlapped);
    DWORD ignored = 0;
    ::GetOverlappedResult(pipe.read_end.get(), &pipe.overlapped, &ignored, TRUE);
    pipe.reading = false;
}

std::string quoted_name(const std::filesystem::path& program) { return "\"" + to_utf8(program.wstring()) + "\""; }

}  // namespace

std::wstring build_command_line(const std::filesystem::path& program, const std::vector<std::string>& args) {
    std::wstring line;
    append_quoted(line, program.wstring());
    for (const auto& argument : args) {
        line += L' ';
        append_quoted(line, to_utf16(argument));
    }
    return line;
}

Result<ProcessOutcome> WinProcessRunner::run(const std::filesystem::path& program,
                                             const std::vector<std::string>& args, Duration timeout,
                                             std::stop_token cancel) {
    ProcessOutcome outcome;
    if (cancel.stop_requested()) {
        outcome.cancelled = true;
        return outcome;
    }
    const std::string program_name = quoted_name(program);

    OutputPipe out;
    OutputPipe err;
    if (auto made = create_output_pipe(out, "output"); !made) return made.error();
    if (auto made = create_output_pipe(err, "error output"); !made) return made.error();
    SECURITY_ATTRIBUTES inheritable{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
    UniqueHandle null_input(::CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inheritable,
                                          OPEN_EXISTING, 0, nullptr));
    if (!null_input) return last_error_failure("certheal could not open NUL for a program's input");

    UniqueHandle job(::CreateJobObjectW(nullptr, nullptr));
    if (!job) return last_error_failure("certheal could not create a job object for " + program_name);
    UniqueHandle cancel_event(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    if (!cancel_event) return last_error_failure("certheal could not create an event");

    STARTUPINFOW startup{};
    startup.cb = sizeof(startup);
    startup.dwFlags = STARTF_USESTDHANDLES;
    startup.hStdInput = null_input.get();
    startup.hStdOutput = out.child_end.get();
    startup.hStdError = err.child_end.get();
    std::wstring command_line = build_command_line(program, args);
    PROCESS_INFORMATION created{};
    if (!::CreateProcessW(program.wstring().c_str(), command_line.data(), nullptr, nullptr, TRUE,
                          CREATE_SUSPENDED | CREATE_NO_WINDOW | CREATE_UNICODE_ENVIRONMENT, nullptr, nullptr,
                          &startup, &created)) {
        return last_error_failure("certheal could not start " + program_name);
    }
    UniqueHandle process(created.hProcess);
    UniqueHandle thread(created.hThread);
    // In the job before it runs a single instruction, so nothing it starts escapes the job.
    // (Windows 7 refuses nested jobs, e.g. when certheal itself runs in one: then only the
    // program itself can be ended.)
    const bool in_job = ::AssignProcessToJobObject(job.get(), process.get()) != FALSE;
    ::ResumeThread(thread.get());
    out.child_end.reset();
    err.child_end.reset();
    null_input.reset();

    std::stop_callback on_cancel(cancel, [&] { ::SetEvent(cancel_event.get()); });
    const auto deadline = SteadyClock::now() + timeout;
    std::optional<SteadyClock::time_point> drain_until;
    const size_t limit = options_.tail_bytes;

    for (;;) {
        start_read(out, limit);
        start_read(err, limit);
        if (drain_until && !out.open && !err.open) break;

        HANDLE waits[4];
        DWORD count = 0;
        const bool running = !drain_until;
        if (running) {
            waits[count++] = process.get();
            waits[count++] = cancel_event.get();
        }
        OutputPipe* pipes[2] = {nullptr, nullptr};
        DWORD first_pipe = count;
        if (out.reading) { pipes[count - first_pipe] = &out; waits[count++] = out.read_done.get(); }
        if (err.reading) { pipes[count - first_pipe] = &err; waits[count++] = err.read_done.get(); }

        const auto now = SteadyClock::now();
        const auto until = running ? deadline : *drain_until;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
        const DWORD wait_ms = left <= 0 ? 0 : static_cast<DWORD>(std::min<long long>(left, 0x7FFFFFFF));
        const DWORD woke = count == 0 ? WAIT_TIMEOUT : ::WaitForMultipleObjects(count, waits, FALSE, wait_ms);

        if (woke == WAIT_TIMEOUT || (count == 0 && !running)) {
            if (!running) break;  // the drain time is over: a grandchild holds the pipes
            outcome.timed_out = true;
        } else if (running && woke == WAIT_OBJECT_0) {
            drain_until = SteadyClock::now() + options_.drain_after_exit;
            continue;
        } else if (running && woke == WAIT_OBJECT_0 + 1) {
            outcome.cancelled = true;
        } else if (woke >= WAIT_OBJECT_0 + first_pipe && woke < WAIT_OBJECT_0 + count) {
            finish_read(*pipes[woke - WAIT_OBJECT_0 - first_pipe], limit);
            continue;
        } else {
            const DWORD error = ::GetLastError();
            ::TerminateJobObject(job.get(), 1);
            ::TerminateProcess(process.get(), 1);
            return win32_failure(error, "certheal could not wait for " + program_name);
        }

        // Timed out or cancelled: end the program and everything it started, then drain.
        if (in_job) ::TerminateJobObject(job.get(), 1);
        ::TerminateProcess(process.get(), 1);
        ::WaitForSingleObject(process.get(), 5000);
        drain_until = SteadyClock::now() + options_.drain_after_exit;
    }
    abandon_read(out);
    abandon_read(err);

    DWORD exit_code = 0;
    ::GetExitCodeProcess(process.get(), &exit_code);
    outcome.exit_code = static_cast<int>(exit_code);
    outcome.stdout_tail = std::move(out.tail);
    outcome.stderr_tail = std::move(err.tail);
    return outcome;
}

}  // namespace certheal::win
