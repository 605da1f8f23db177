// The status endpoint on a real loopback socket, read with a plain HTTP client.

#include <catch2/catch.hpp>

#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "core/status_server.hpp"

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
