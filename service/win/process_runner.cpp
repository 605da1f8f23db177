#include "service/win/process_runner.hpp"

#include <windows.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

using SteadyClock = std::chrono::steady_clock;

// --- What a run step gets (README.md, "What a run step gets") ------------------------------

// The one list of the variables a step's program gets, each with certheal's own value when
// certheal has it. Nothing else of certheal's environment is passed on: it may hold the
// password of a site's PKCS#12 file (a site's password_env), and a step that printed its
// environment would put it into the journal through its output tail.
constexpr const wchar_t* passed_variables[] = {
    L"SystemRoot",               // Windows' folder: Winsock, COM and many DLLs fail without it
    L"windir",                   // the same by its older name, still read by batch files and installers
    L"SystemDrive",              // the drive Windows is on
    L"ComSpec",                  // cmd.exe, for programs that run commands (system(), a batch file's CALL)
    L"PATHEXT",                  // the extensions cmd.exe and where.exe try for a command named without one
    L"TEMP",                     // GetTempPath(): the account's temporary folder (SYSTEM's is C:\Windows\TEMP)
    L"TMP",                      //   the same, by the name other runtimes read
    L"ProgramData",              // where programs keep machine-wide data (certheal's own folder is there)
    L"ProgramFiles",             // where programs are installed: scripts find tools through these
    L"ProgramFiles(x86)",        //   32-bit programs
    L"ProgramW6432",             //   the 64-bit folder, as a 32-bit program sees it
    L"CommonProgramFiles",       //   shared components
    L"CommonProgramFiles(x86)",  //   32-bit shared components
    L"CommonProgramW6432",       //   64-bit shared components, as a 32-bit program sees them
    L"ALLUSERSPROFILE",          // the profile shared by all accounts (C:\ProgramData)
    L"USERPROFILE",              // the profile of the account certheal runs as: per-account settings
    L"APPDATA",                  //   its roaming application data
    L"LOCALAPPDATA",             //   its local application data (PowerShell's module cache)
    L"USERNAME",                 // the account certheal runs as (SYSTEM's computer account name)
    L"COMPUTERNAME",             // this host's name, for scripts that report or log it
    L"NUMBER_OF_PROCESSORS",     // for programs that size their thread pools
    L"PROCESSOR_ARCHITECTURE",   // AMD64 or ARM64: scripts pick the right binaries by it
    L"OS",                       // Windows_NT: old batch files test it
    L"PSModulePath",             // where PowerShell finds modules (WebAdministration, IISAdministration)
};

// Path is not certheal's own: installers append to it, and an admin's console may have put
// anything first. Windows' folders only, in the order Windows' default Path has them.
std::wstring step_path(const std::wstring& system_root) {
    return system_root + L"\\system32;" + system_root + L";" + system_root + L"\\System32\\Wbem;" + system_root +
           L"\\System32\\WindowsPowerShell\\v1.0\\";
}

std::optional<std::wstring> environment_value(const wchar_t* name) {
    std::wstring value(256, L'\0');
    for (;;) {
        ::SetLastError(ERROR_SUCCESS);
        const DWORD length = ::GetEnvironmentVariableW(name, value.data(), static_cast<DWORD>(value.size()));
        if (length == 0) {
            if (::GetLastError() == ERROR_ENVVAR_NOT_FOUND) return std::nullopt;
            return std::wstring();  // set, but empty
        }
        if (length < value.size()) {
            value.resize(length);
            return value;
        }
        value.resize(length);  // too small: `length` counts the terminating null
    }
}

std::wstring windows_folder() {
    if (auto from_environment = environment_value(L"SystemRoot"); from_environment && !from_environment->empty()) {
        return *from_environment;
    }
    wchar_t folder[MAX_PATH] = {};
    const UINT length = ::GetSystemWindowsDirectoryW(folder, MAX_PATH);
    return length > 0 && length < MAX_PATH ? std::wstring(folder, length) : std::wstring(L"C:\\Windows");
}

// Where every step's program starts: C:\Windows\system32, the folder the SCM starts every
// service in, so a step behaves the same whether certheal runs as the service or in a console
// started elsewhere.
std::wstring step_working_directory() {
    wchar_t folder[MAX_PATH] = {};
    const UINT length = ::GetSystemDirectoryW(folder, MAX_PATH);
    return length > 0 && length < MAX_PATH ? std::wstring(folder, length) : windows_folder() + L"\\system32";
}

// --- the processes of the job ------------------------------------------------------------

// One process of the program's job, opened so certheal can tell when it has ended. The
// handle also keeps its pid from being reused while certheal looks at it.
struct JobProcess {
    DWORD pid = 0;
    std::string name;  // its executable's file name ("cmd.exe")
    UniqueHandle handle;

    std::string described() const { return std::to_string(pid) + " " + name; }
    bool has_ended() const { return !handle || ::WaitForSingleObject(handle.get(), 0) == WAIT_OBJECT_0; }
};

std::vector<DWORD> job_process_ids(HANDLE job) {
    std::vector<ULONG_PTR> buffer(2 + 64);
    for (int attempt = 0; attempt < 8; ++attempt) {
        auto* list = reinterpret_cast<JOBOBJECT_BASIC_PROCESS_ID_LIST*>(buffer.data());
        const auto size = static_cast<DWORD>(buffer.size() * sizeof(ULONG_PTR));
        if (::QueryInformationJobObject(job, JobObjectBasicProcessIdList, list, size, nullptr)) {
            std::vector<DWORD> ids;
            for (DWORD index = 0; index < list->NumberOfProcessIdsInList; ++index) {
                ids.push_back(static_cast<DWORD>(list->ProcessIdList[index]));
            }
            return ids;
        }
        if (::GetLastError() != ERROR_MORE_DATA) return {};
        buffer.resize(2 + list->NumberOfAssignedProcesses + 64);  // it grew meanwhile: leave room
    }
    return {};
}

std::string executable_name(HANDLE process) {
    std::wstring path(MAX_PATH, L'\0');
    DWORD length = static_cast<DWORD>(path.size());
    if (!::QueryFullProcessImageNameW(process, 0, path.data(), &length)) return "(name unknown)";
    path.resize(length);
    return to_utf8(std::filesystem::path(path).filename().wstring());
}

// The processes in the job now (the program first when it is still there).
std::vector<JobProcess> job_processes(HANDLE job, DWORD program_pid) {
    auto ids = job_process_ids(job);
    std::stable_partition(ids.begin(), ids.end(), [&](DWORD pid) { return pid == program_pid; });
    std::vector<JobProcess> processes;
    for (const DWORD pid : ids) {
        JobProcess process;
        process.pid = pid;
        process.handle.reset(::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, pid));
        if (!process.handle) continue;  // ended between the list and the open
        process.name = executable_name(process.handle.get());
        processes.push_back(std::move(process));
    }
    return processes;
}

// Waits up to `limit` for every process to end.
void wait_until_ended(const std::vector<JobProcess>& processes, std::chrono::milliseconds limit) {
    const auto deadline = SteadyClock::now() + limit;
    for (const auto& process : processes) {
        if (!process.handle) continue;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
        ::WaitForSingleObject(process.handle.get(), left <= 0 ? 0 : static_cast<DWORD>(left));
    }
}

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

std::wstring step_environment_block() {
    const std::wstring system_root = windows_folder();
    std::vector<std::pair<std::wstring, std::wstring>> variables;
    variables.emplace_back(L"Path", step_path(system_root));
    for (const wchar_t* name : passed_variables) {
        if (std::wstring_view(name) == L"SystemRoot") {
            variables.emplace_back(name, system_root);  // always: too much fails without it
        } else if (auto value = environment_value(name)) {
            variables.emplace_back(name, std::move(*value));
        }
    }
    std::sort(variables.begin(), variables.end(), [](const auto& left, const auto& right) {
        return ::CompareStringOrdinal(left.first.c_str(), static_cast<int>(left.first.size()), right.first.c_str(),
                                      static_cast<int>(right.first.size()), TRUE) == CSTR_LESS_THAN;
    });
    std::wstring block;
    for (const auto& [name, value] : variables) {
        block += name;
        block += L'=';
        block += value;
        block += L'\0';
    }
    block += L'\0';
    return block;
}

namespace {

// The program, started suspended, put in a job of its own, then resumed.
struct StartedProgram {
    UniqueHandle process;
    UniqueHandle thread;
    UniqueHandle job;
    DWORD pid = 0;
    bool in_job = false;  // false where Windows refuses nested jobs
};

Result<StartedProgram> start_in_job(const std::filesystem::path& program, const std::vector<std::string>& args,
                                    OutputPipe& out, OutputPipe& err, const std::string& program_name) {
    SECURITY_ATTRIBUTES inheritable{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
    UniqueHandle null_input(::CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inheritable,
                                          OPEN_EXISTING, 0, nullptr));
    if (!null_input) return last_error_failure("certheal could not open NUL for a program's input");

    // A job without limits: no JOB_OBJECT_LIMIT_BREAKAWAY_OK or SILENT_BREAKAWAY_OK, so nothing
    // the program starts can leave it (CREATE_BREAKAWAY_FROM_JOB fails with access denied), and
    // no KILL_ON_JOB_CLOSE, so what the program leaves running when it exits normally (a
    // service it started) survives certheal closing the job.
    StartedProgram started;
    started.job.reset(::CreateJobObjectW(nullptr, nullptr));
    if (!started.job) return last_error_failure("certheal could not create a job object for " + program_name);

    STARTUPINFOW startup{};
    startup.cb = sizeof(startup);
    startup.dwFlags = STARTF_USESTDHANDLES;
    startup.hStdInput = null_input.get();
    startup.hStdOutput = out.child_end.get();
    startup.hStdError = err.child_end.get();
    std::wstring command_line = build_command_line(program, args);
    std::wstring environment = step_environment_block();
    const std::wstring working_directory = step_working_directory();
    PROCESS_INFORMATION created{};
    if (!::CreateProcessW(program.wstring().c_str(), command_line.data(), nullptr, nullptr, TRUE,
                          CREATE_SUSPENDED | CREATE_NO_WINDOW | CREATE_UNICODE_ENVIRONMENT, environment.data(),
                          working_directory.c_str(), &startup, &created)) {
        return last_error_failure("certheal could not start " + program_name);
    }
    started.process.reset(created.hProcess);
    started.thread.reset(created.hThread);
    started.pid = created.dwProcessId;
    // In the job before it runs a single instruction, so nothing it starts escapes the job.
    // (Windows 7 refuses nested jobs, e.g. when certheal itself runs in one: then only the
    // program itself can be ended.)
    started.in_job = ::AssignProcessToJobObject(started.job.get(), started.process.get()) != FALSE;
    ::ResumeThread(started.thread.get());
    out.child_end.reset();
    err.child_end.reset();
    return started;
}

// Timed out or cancelled: ends the program and everything it started. The job's list, taken
// first, names what is ended; a process the tree starts between the list and the termination
// is ended too, but not named.
void end_program_tree(const StartedProgram& started, ProcessOutcome& outcome) {
    std::vector<JobProcess> ended;
    if (started.in_job) ended = job_processes(started.job.get(), started.pid);
    if (ended.empty()) ended.push_back(JobProcess{started.pid, executable_name(started.process.get()), {}});
    if (started.in_job) ::TerminateJobObject(started.job.get(), 1);
    ::TerminateProcess(started.process.get(), 1);
    ::WaitForSingleObject(started.process.get(), 5000);
    wait_until_ended(ended, std::chrono::seconds{5});
    for (const auto& victim : ended) {
        const bool gone = victim.handle ? victim.has_ended()
                                        : ::WaitForSingleObject(started.process.get(), 0) == WAIT_OBJECT_0;
        (gone ? outcome.killed : outcome.left_running).push_back(victim.described());
    }
}

// The program exited by itself: what it started is left alone (a service it started), but
// named, since an admin may want to know.
void name_what_it_left_running(const StartedProgram& started, ProcessOutcome& outcome) {
    if (!started.in_job) return;
    for (const auto& left : job_processes(started.job.get(), started.pid)) {
        if (left.pid != started.pid && !left.has_ended()) outcome.left_running.push_back(left.described());
    }
}

}  // namespace

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
    UniqueHandle cancel_event(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    if (!cancel_event) return last_error_failure("certheal could not create an event");
    auto started_program = start_in_job(program, args, out, err, program_name);
    if (!started_program) return started_program.error();
    const StartedProgram& started = started_program.value();

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
            waits[count++] = started.process.get();
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
            ::TerminateJobObject(started.job.get(), 1);
            ::TerminateProcess(started.process.get(), 1);
            return win32_failure(error, "certheal could not wait for " + program_name);
        }
        end_program_tree(started, outcome);
        drain_until = SteadyClock::now() + options_.drain_after_exit;
    }
    abandon_read(out);
    abandon_read(err);
    if (!outcome.timed_out && !outcome.cancelled) name_what_it_left_running(started, outcome);

    DWORD exit_code = 0;
    ::GetExitCodeProcess(started.process.get(), &exit_code);
    outcome.exit_code = static_cast<int>(exit_code);
    outcome.stdout_tail = std::move(out.tail);
    outcome.stderr_tail = std::move(err.tail);
    return outcome;
}

}  // namespace certheal::win
