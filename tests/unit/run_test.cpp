// run_monitor (the composition root) with a host of the test's own: no signals, stopped at once.
// POSIX only: on Windows it would register with the Event Log of the Wine prefix.
#include <catch2/catch.hpp>

#if !defined(_WIN32)

#include <iostream>
#include <sstream>

#include <boost/asio/post.hpp>

#include "service/cli.hpp"
#include "service/run.hpp"
#include "support/pki.hpp"

using namespace certheal;

namespace {

// A console-like host (events echoed on stderr) that asks the monitor to stop as soon as it runs.
class StopAtOnceHost : public MonitorHost {
public:
    std::shared_ptr<void> attach(boost::asio::io_context& io,
                                 std::function<void(platform::ControlRequest, std::string)> handler) override {
        boost::asio::post(io, [handler] { handler(platform::ControlRequest::stop, "the test"); });
        return std::make_shared<int>(0);
    }
    bool echo_events() const override { return true; }
};

// std::cerr into a string for the life of the object.
class CaptureStderr {
public:
    CaptureStderr() : previous_(std::cerr.rdbuf(text_.rdbuf())) {}
    ~CaptureStderr() { std::cerr.rdbuf(previous_); }
    CaptureStderr(const CaptureStderr&) = delete;
    CaptureStderr& operator=(const CaptureStderr&) = delete;
    std::string text() const { return text_.str(); }

private:
    std::ostringstream text_;
    std::streambuf* previous_;
};

}  // namespace

TEST_CASE("run --console echoes the journal's own storage_failed, which the journal cannot hold", "[adapters][run][storage]") {
    test::TempDir dir;
    // The journal cannot be written: a folder sits at its name.
    std::filesystem::create_directories(dir.path() / "state" / "journal.jsonl");
    const auto config = dir.write("certheal.json", R"({
      "service": { "state_dir": "state" },
      "sites": [ { "name": "intranet", "url": "https://127.0.0.1:1/" } ],
      "remediation": { "enabled": false, "steps": [] } })");

    StopAtOnceHost host;
    int exit_code = -1;
    std::string console;
    {
        CaptureStderr capture;
        exit_code = run_monitor(config, host);
        console = capture.text();
    }
    INFO(console);
    CHECK(exit_code == cli::ok);
    // The event line of ConsoleEcho ("<time>  storage_failed  -  <message>"), not only the last
    // words printed at exit.
    const auto echoed = console.find("  storage_failed  -  certheal could not write its journal");
    CHECK(echoed != std::string::npos);
    CHECK(console.find("  storage_failed  -  certheal could not write its journal", echoed + 1) ==
          std::string::npos);  // once
    // The status file in the same folder may fail too (when its first write comes before the
    // stop): then it says so once, on its own.
    const auto status_failed = console.find("  storage_failed  certheal could not write its status file");
    if (status_failed != std::string::npos) {
        CHECK(console.find("  storage_failed  certheal could not write its status file", status_failed + 1) ==
              std::string::npos);
    }
    CHECK(console.find("certheal stopped with") != std::string::npos);
}

#endif  // !_WIN32
