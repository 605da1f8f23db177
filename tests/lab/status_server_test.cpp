// The status endpoint on a real loopback socket, read with a plain HTTP client.

#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "core/record/status_server.hpp"

using namespace certheal;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {
http::response<http::string_body> get(unsigned short port, const std::string& target) {
    boost::asio::io_context io;
    tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    http::request<http::empty_body> request(http::verb::get, target, 11);
    request.set(http::field::host, "127.0.0.1");
    http::write(socket, request);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    return response;
}
}  // namespace

TEST_CASE("the status endpoint serves Prometheus text at /metrics and 404 elsewhere", "[status][lab]") {
    boost::asio::io_context io;
    MonitorStatus status;
    status.repairs_started = 5;
    StatusServer server(io, [&status] { return status; });
    REQUIRE(server.listen(ListenAddress{"127.0.0.1", 0}).ok());
    REQUIRE(server.port() != 0);
    auto work = boost::asio::make_work_guard(io);
    std::thread runner([&io] { io.run(); });

    const auto metrics = get(server.port(), "/metrics");
    CHECK(metrics.result() == http::status::ok);
    CHECK_THAT(metrics.body(), Catch::Contains("certheal_repairs_started_total 5\n"));
    CHECK(get(server.port(), "/nothing").result() == http::status::not_found);

    work.reset();
    boost::asio::post(io, [&server] { server.close(); });
    runner.join();
}

TEST_CASE("a status address already in use is reported, not fatal", "[status][lab]") {
    boost::asio::io_context io;
    StatusServer first(io, [] { return MonitorStatus{}; });
    REQUIRE(first.listen(ListenAddress{"127.0.0.1", 0}).ok());
    StatusServer second(io, [] { return MonitorStatus{}; });
    const auto result = second.listen(ListenAddress{"127.0.0.1", first.port()});
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.error().message, Catch::Contains("could not serve its status on 127.0.0.1:"));
}

namespace {

// Runs the io_context on its own thread for the length of a test.
struct RunningServer {
    explicit RunningServer(StatusServerLimits limits) : server(io, [] { return MonitorStatus{}; }, limits) {
        REQUIRE(server.listen(ListenAddress{"127.0.0.1", 0}).ok());
        runner = std::thread([this] { io.run(); });
    }
    ~RunningServer() {
        work.reset();
        boost::asio::post(io, [this] { server.close(); });
        runner.join();
    }
    RunningServer(const RunningServer&) = delete;
    RunningServer& operator=(const RunningServer&) = delete;

    boost::asio::io_context io;
    StatusServer server;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work = boost::asio::make_work_guard(io);
    std::thread runner;
};

double process_cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

TEST_CASE("400 idle connections hold at most the cap of descriptors and a scrape is still answered", "[status][lab][hostile]") {
    StatusServerLimits limits;
    limits.max_connections = 16;
    limits.request_timeout = std::chrono::milliseconds(300);
    RunningServer running(limits);

    boost::asio::io_context client_io;
    std::vector<tcp::socket> idle;
    for (int index = 0; index < 400; ++index) {
        idle.emplace_back(client_io);
        idle.back().connect({boost::asio::ip::make_address("127.0.0.1"), running.server.port()});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(running.server.counters().open_connections <= 16);

    // The scrape waits in the listen queue behind the idle clients, which each lose their
    // slot after 300 ms: it is answered within a few rounds of that, not never.
    const auto started = std::chrono::steady_clock::now();
    const auto metrics = get(running.server.port(), "/metrics");
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(metrics.result() == http::status::ok);
    CHECK_THAT(metrics.body(), Catch::Contains("certheal_status_requests_timed_out_total"));
    CHECK(waited < std::chrono::seconds(15));

    const auto counters = running.server.counters();
    CHECK(counters.peak_connections <= 16);
    CHECK(counters.timed_out >= 16);
}

TEST_CASE("a client that sends nothing loses its connection at the request deadline", "[status][lab][hostile]") {
    StatusServerLimits limits;
    limits.request_timeout = std::chrono::milliseconds(200);
    RunningServer running(limits);

    boost::asio::io_context client_io;
    tcp::socket idle(client_io);
    idle.connect({boost::asio::ip::make_address("127.0.0.1"), running.server.port()});
    char byte = 0;
    boost::system::error_code error;
    const auto started = std::chrono::steady_clock::now();
    idle.read_some(boost::asio::buffer(&byte, 1), error);  // returns when the server closes
    CHECK(error);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
    // The client sees the close a moment before the server's handler has counted it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (running.server.counters().open_connections != 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(running.server.counters().timed_out == 1);
    CHECK(running.server.counters().open_connections == 0);
}

TEST_CASE("a request header larger than the bound is refused, not buffered", "[status][lab][hostile]") {
    RunningServer running(StatusServerLimits{});
    boost::asio::io_context client_io;
    tcp::socket socket(client_io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), running.server.port()});
    const std::string huge = "GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
    boost::system::error_code error;
    boost::asio::write(socket, boost::asio::buffer(huge), error);  // may fail half-way once the server closes
    std::string answer(1024, '\0');
    const auto read = socket.read_some(boost::asio::buffer(answer), error);
    CHECK((error || answer.substr(0, read).find("200 OK") == std::string::npos));
    CHECK(running.server.counters().open_connections <= 1);
}

TEST_CASE("out of descriptors, the endpoint pauses accepting instead of spinning and serves again after", "[status][lab][hostile]") {
    StatusServerLimits limits;
    limits.accept_backoff = std::chrono::milliseconds(100);
    limits.accept_backoff_max = std::chrono::milliseconds(200);
    RunningServer running(limits);

    // One whole exchange first. Besides proving the server works, it makes UBSan's vptr check
    // see the timer types while it can still open the pipe it probes memory with: with no
    // descriptor left that probe fails and UBSan reports a false "invalid vptr".
    CHECK(get(running.server.port(), "/metrics").result() == http::status::ok);

    boost::asio::io_context client_io;
    tcp::socket waiting(client_io);
    waiting.open(tcp::v4());

    // Use up every descriptor the process may have, so the server's accept fails with EMFILE.
    rlimit original{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &original) == 0);
    rlimit lowered = original;
    lowered.rlim_cur = std::min<rlim_t>(original.rlim_cur, 4096);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    std::vector<int> hogs;
    for (;;) {
        const int descriptor = ::dup(0);
        if (descriptor < 0) break;
        hogs.push_back(descriptor);
    }
    waiting.connect({boost::asio::ip::make_address("127.0.0.1"), running.server.port()});  // needs no new descriptor

    const double cpu_before = process_cpu_seconds();
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    const double cpu_spent = process_cpu_seconds() - cpu_before;
    const auto during = running.server.counters();

    for (const int descriptor : hogs) ::close(descriptor);
    ::setrlimit(RLIMIT_NOFILE, &original);

    CHECK(during.accept_errors >= 1);
    CHECK(during.accept_errors <= 20);  // one try per back-off, not a spin
    CHECK(cpu_spent < 0.2);

    // With descriptors back, the waiting client is served within a back-off or two.
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    boost::asio::write(waiting, boost::asio::buffer(request));
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(waiting, buffer, response);
    CHECK(response.result() == http::status::ok);
    CHECK_THAT(response.body(), Catch::Contains("certheal_status_accept_errors_total "));
}

namespace {

// One raw exchange: what the server sent until it closed the connection.
std::string raw_exchange(unsigned short port, const std::string& request) {
    boost::asio::io_context io;
    tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    boost::asio::write(socket, boost::asio::buffer(request));
    std::string answer;
    boost::system::error_code error;
    char chunk[4096];
    for (;;) {
        const auto read = socket.read_some(boost::asio::buffer(chunk), error);
        answer.append(chunk, read);
        if (error) break;
    }
    return answer;
}

}  // namespace

TEST_CASE("the status endpoint ignores a query string, answers HEAD without a body and other methods with 405",
          "[status][lab]") {
    RunningServer running(StatusServerLimits{});
    const auto port = running.server.port();

    // Prometheus' `params:` add a query string to the scrape.
    const auto with_query = get(port, "/metrics?x=1&module=certheal");
    CHECK(with_query.result() == http::status::ok);
    CHECK_THAT(with_query.body(), Catch::Contains("certheal_up 1\n") && Catch::Contains("certheal_build_info{version="));
    CHECK(get(port, "/?x=1").result() == http::status::ok);
    CHECK(get(port, "/nothing?metrics").result() == http::status::not_found);

    const auto head = raw_exchange(port, "HEAD /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    INFO(head);
    CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    const auto end_of_header = head.find("\r\n\r\n");
    REQUIRE(end_of_header != std::string::npos);
    CHECK(end_of_header + 4 == head.size());  // no body
    const auto length_at = head.find("Content-Length: ");
    REQUIRE(length_at != std::string::npos);
    CHECK(std::stoul(head.substr(length_at + 16)) > 100);  // the length a GET's body has

    for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
        const auto refused = raw_exchange(port, std::string(method) + " /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                                   "Content-Length: 0\r\n\r\n");
        INFO(refused);
        CHECK(refused.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0);
        CHECK_THAT(refused, Catch::Contains("Allow: GET, HEAD\r\n"));
    }
}
