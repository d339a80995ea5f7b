#include "comfyrun/net/http_loop.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "comfyrun/core/config.h"
#include "support/local_server.h"

using namespace comfyrun;
using comfyrun::testing::LocalRequest;
using comfyrun::testing::LocalResponse;
using comfyrun::testing::LocalServer;
using Clock = std::chrono::steady_clock;

namespace {

// Sends one request and waits (bounded) for its callback.
HttpResponse SendAndWait(HttpLoop& loop, HttpRequest request, double wait_seconds = 15) {
  auto promise = std::make_shared<std::promise<HttpResponse>>();
  auto future = promise->get_future();
  loop.Send(std::move(request), [promise](HttpResponse r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::duration<double>(wait_seconds)) != std::future_status::ready) {
    FAIL("no callback within " << wait_seconds << "s");
  }
  return future.get();
}

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A 127.0.0.1 port nobody listens on: bound, then closed.
int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

size_t ThreadCount() {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

}  // namespace

TEST_SUITE("HttpLoop") {
  TEST_CASE("GET returns status, lower-case headers and body" * doctest::timeout(20)) {
    LocalServer server;
    server.Handle("GET", "/hello", [](const LocalRequest& r) {
      auto resp = LocalResponse::Json(200, R"({"hello":")" + r.QueryParam("name") + "\"}");
      resp.headers.emplace_back("X-Custom", "yes");
      return resp;
    });
    HttpLoop loop;
    HttpRequest req;
    req.url = server.url() + "/hello?name=world";
    HttpResponse r = SendAndWait(loop, req);
    CHECK(r.ok());
    CHECK(r.status == 200);
    CHECK(r.body == R"({"hello":"world"})");
    CHECK(r.bytes == r.body.size());
    CHECK(r.headers["content-type"] == "application/json");
    CHECK(r.headers["x-custom"] == "yes");
    CHECK(r.error.empty());
    CHECK(ClassifyHttpError(r) == ErrorType::kNone);
    CHECK(loop.in_flight() == 0);
  }

  TEST_CASE("POST sends the JSON body and headers" * doctest::timeout(20)) {
    LocalServer server;
    server.Handle("POST", "/v1/items", [](const LocalRequest& r) {
      return LocalResponse::Json(201, R"({"got":)" + r.body + R"(,"type":")" + r.Header("content-type") + "\"}");
    });
    server.Handle("PUT", "/v1/items", [](const LocalRequest& r) { return LocalResponse::Text(200, "put:" + r.body); });
    server.Handle("DELETE", "/v1/items", [](const LocalRequest&) { return LocalResponse::Text(204, ""); });
    HttpLoop loop;
    HttpRequest req;
    req.method = "POST";
    req.url = server.url() + "/v1/items";
    req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer t0ken"}};
    req.body = R"({"a":1})";
    HttpResponse r = SendAndWait(loop, req);
    CHECK(r.status == 201);
    CHECK(r.body == R"({"got":{"a":1},"type":"application/json"})");
    auto got = server.requests();
    REQUIRE(got.size() == 1);
    CHECK(got[0].Header("authorization") == "Bearer t0ken");
    CHECK_FALSE(got[0].HasHeader("expect"));

    req.method = "PUT";
    req.body = "x";
    CHECK(SendAndWait(loop, req).body == "put:x");
    req.method = "DELETE";
    req.body.clear();
    CHECK(SendAndWait(loop, req).status == 204);
    CHECK(server.requests().back().method == "DELETE");
  }

  TEST_CASE("download streams the body to a fresh file" * doctest::timeout(20)) {
    std::string payload;
    for (int i = 0; i < 300000; ++i) payload += static_cast<char>('a' + i % 26);
    LocalServer server;
    server.Handle("GET", "/video.mp4", [&](const LocalRequest&) { return LocalResponse::Text(200, payload); });
    server.Handle("GET", "/empty", [&](const LocalRequest&) { return LocalResponse::Text(200, ""); });
    server.Handle("GET", "/missing",
                  [&](const LocalRequest&) { return LocalResponse::Json(404, R"({"error":"gone"})"); });
    HttpLoop loop;

    std::ofstream("out.mp4") << "stale contents that must be replaced, and longer than nothing";
    HttpRequest req;
    req.url = server.url() + "/video.mp4";
    req.download_path = "out.mp4";
    HttpResponse r = SendAndWait(loop, req);
    CHECK(r.ok());
    CHECK(r.body.empty());
    CHECK(r.bytes == payload.size());
    CHECK(ReadAll("out.mp4") == payload);

    req.url = server.url() + "/empty";
    req.download_path = "empty.bin";
    r = SendAndWait(loop, req);
    CHECK(r.ok());
    CHECK(std::filesystem::exists("empty.bin"));
    CHECK(std::filesystem::file_size("empty.bin") == 0);

    // An error reply is kept in memory for the message; no file appears.
    req.url = server.url() + "/missing";
    req.download_path = "missing.bin";
    r = SendAndWait(loop, req);
    CHECK(r.status == 404);
    CHECK(r.body == R"({"error":"gone"})");
    CHECK_FALSE(std::filesystem::exists("missing.bin"));
    CHECK(ClassifyHttpError(r) == ErrorType::kInvalidInput);
  }

  TEST_CASE("a truncated body is Unavailable and the partial file is removed" * doctest::timeout(20)) {
    LocalServer server;
    server.Handle("GET", "/cut", [](const LocalRequest&) {
      LocalResponse r = LocalResponse::Text(200, std::string(100000, 'z'));
      r.mode = LocalResponse::Mode::kTruncate;
      return r;
    });
    HttpLoop loop;
    HttpRequest req;
    req.url = server.url() + "/cut";
    req.download_path = "partial.bin";
    HttpResponse r = SendAndWait(loop, req);
    CHECK_FALSE(r.ok());
    CHECK(r.transport_error == ErrorType::kUnavailable);
    CHECK(ClassifyHttpError(r) == ErrorType::kUnavailable);
    CHECK(r.error.find("closed before the whole body arrived") != std::string::npos);
    CHECK(r.error.find("of 100000 bytes") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists("partial.bin"));
  }

  TEST_CASE("multipart upload arrives intact" * doctest::timeout(20)) {
    std::string image;
    for (int i = 0; i < 5000; ++i) image += static_cast<char>(i % 256);  // binary, with \r\n and NULs
    std::ofstream("ref.png", std::ios::binary) << image;
    LocalServer server;
    std::vector<comfyrun::testing::LocalPart> parts;
    server.Handle("POST", "/v1/videos", [&](const LocalRequest& r) {
      parts = comfyrun::testing::ParseMultipart(r);  // server thread; read after the reply
      return LocalResponse::Json(200, R"({"id":"video_1"})");
    });
    HttpLoop loop;
    HttpRequest req;
    req.method = "POST";
    req.url = server.url() + "/v1/videos";
    req.multipart = {
        {"prompt", "a cat on a skateboard", "", "", ""},
        {"input_reference", "", "ref.png", "ref.png", "image/png"},
        {"notes", "inline bytes", "", "notes.txt", "text/plain"},
    };
    HttpResponse r = SendAndWait(loop, req);
    CHECK(r.ok());
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].name == "prompt");
    CHECK(parts[0].filename.empty());
    CHECK(parts[0].data == "a cat on a skateboard");
    CHECK(parts[1].name == "input_reference");
    CHECK(parts[1].filename == "ref.png");
    CHECK(parts[1].content_type == "image/png");
    CHECK(parts[1].data == image);
    CHECK(parts[2].filename == "notes.txt");
    CHECK(parts[2].data == "inline bytes");

    req.multipart = {{"file", "", "does-not-exist.png", "x.png", ""}};
    r = SendAndWait(loop, req);
    CHECK(r.transport_error == ErrorType::kInvalidInput);
    CHECK(r.error.find("does-not-exist.png") != std::string::npos);
  }

  TEST_CASE("a slow reply times out" * doctest::timeout(20)) {
    LocalServer server;
    server.Handle("GET", "/slow", [](const LocalRequest&) {
      LocalResponse r = LocalResponse::Text(200, "late");
      r.delay = 5;
      return r;
    });
    HttpLoop loop;
    HttpRequest req;
    req.url = server.url() + "/slow";
    req.timeout = 0.3;
    auto start = Clock::now();
    HttpResponse r = SendAndWait(loop, req);
    double took = SecondsSince(start);
    CHECK(r.transport_error == ErrorType::kTimeout);
    CHECK(ClassifyHttpError(r) == ErrorType::kTimeout);
    CHECK(r.error.find("timed out") != std::string::npos);
    CHECK(took >= 0.25);
    CHECK(took < 3);
  }

  TEST_CASE("a stalled body times out as stalled" * doctest::timeout(25)) {
    LocalServer server;
    server.Handle("GET", "/stall", [](const LocalRequest&) {
      LocalResponse r = LocalResponse::Text(200, std::string(1000, 's'));
      r.mode = LocalResponse::Mode::kStall;
      return r;
    });
    HttpLoop loop;
    HttpRequest req;
    req.url = server.url() + "/stall";
    req.stall_timeout = 1;
    req.download_path = "stalled.bin";
    auto start = Clock::now();
    HttpResponse r = SendAndWait(loop, req);
    CHECK(r.transport_error == ErrorType::kTimeout);
    CHECK(r.error.find("stalled") != std::string::npos);
    // libcurl measures speed over a window of about 5 s, so a stall right after a burst of data
    // is noticed up to ~5 s later than stall_timeout.
    CHECK(SecondsSince(start) >= 1);
    CHECK(SecondsSince(start) < 10);
    CHECK_FALSE(std::filesystem::exists("stalled.bin"));
  }

  TEST_CASE("connection refused is Unavailable" * doctest::timeout(20)) {
    HttpLoop loop;
    HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/x";
    HttpResponse r = SendAndWait(loop, req);
    CHECK(r.status == 0);
    CHECK(r.transport_error == ErrorType::kUnavailable);
    CHECK(ClassifyHttpError(r) == ErrorType::kUnavailable);
    CHECK_FALSE(r.error.empty());

    LocalServer server;
    server.Handle("GET", "/hangup", [](const LocalRequest&) {
      LocalResponse resp;
      resp.mode = LocalResponse::Mode::kCloseNoReply;
      return resp;
    });
    req.url = server.url() + "/hangup";
    CHECK(SendAndWait(loop, req).transport_error == ErrorType::kUnavailable);

    req.url = "not a url";
    CHECK(SendAndWait(loop, req).transport_error == ErrorType::kInvalidInput);
    req.url = "file:///etc/passwd";
    CHECK(SendAndWait(loop, req).transport_error == ErrorType::kInvalidInput);
  }

  TEST_CASE("error messages never contain a registered secret" * doctest::timeout(20)) {
    const std::string key = "AIzaSecretForRedactionTest";
    Redactor::AddSecret(key);
    HttpLoop loop;
    HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/v1/models?key=" + key + "&alt=json";
    req.headers = {{"x-goog-api-key", key}};
    req.secret_headers = {"x-goog-api-key"};
    req.secret_query_params = {"key"};
    HttpResponse r = SendAndWait(loop, req);
    CHECK_FALSE(r.error.empty());
    CHECK(r.error.find(key) == std::string::npos);
    CHECK(r.effective_url.find(key) == std::string::npos);
    CHECK(r.effective_url.find("alt=json") != std::string::npos);
  }

  TEST_CASE("Cancel ends a transfer with kCancelled" * doctest::timeout(20)) {
    LocalServer server;
    server.Handle("GET", "/slow", [](const LocalRequest&) {
      LocalResponse r = LocalResponse::Text(200, "late");
      r.delay = 10;
      return r;
    });
    HttpLoop loop;
    HttpRequest req;
    req.url = server.url() + "/slow";
    auto promise = std::make_shared<std::promise<HttpResponse>>();
    auto future = promise->get_future();
    auto start = Clock::now();
    auto id = loop.Send(req, [promise](HttpResponse r) { promise->set_value(std::move(r)); });
    for (int i = 0; i < 200 && server.request_count() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    loop.Cancel(id);
    REQUIRE(future.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    HttpResponse r = future.get();
    CHECK(r.transport_error == ErrorType::kCancelled);
    CHECK(ClassifyHttpError(r) == ErrorType::kCancelled);
    CHECK(SecondsSince(start) < 5);
    loop.Cancel(id);  // already finished: a no-op
    CHECK(loop.in_flight() == 0);
  }

  TEST_CASE("timers fire in deadline order on the loop thread, and can be cancelled" * doctest::timeout(20)) {
    HttpLoop loop;
    std::mutex mu;
    std::vector<std::string> order;
    std::set<std::thread::id> threads;
    std::promise<void> all_done;
    auto record = [&](std::string what) {
      return [&, what] {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(what);
        threads.insert(std::this_thread::get_id());
        if (what == "last") all_done.set_value();
      };
    };
    auto start = Clock::now();
    loop.After(0.30, record("last"));
    loop.After(0.20, record("third"));
    auto cancelled = loop.After(0.10, record("cancelled"));
    loop.After(0.10, record("second"));
    loop.After(0, record("first"));
    loop.CancelTimer(cancelled);
    REQUIRE(all_done.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    CHECK(SecondsSince(start) >= 0.29);
    std::lock_guard<std::mutex> lock(mu);
    CHECK(order == std::vector<std::string>{"first", "second", "third", "last"});
    REQUIRE(threads.size() == 1);
    CHECK(*threads.begin() != std::this_thread::get_id());
  }

  TEST_CASE("Post runs functions from any thread on the loop thread, in order per thread" * doctest::timeout(20)) {
    HttpLoop loop;
    std::atomic<int> count{0};
    std::thread::id loop_thread;
    std::promise<std::thread::id> got_id;
    loop.Post([&] { got_id.set_value(std::this_thread::get_id()); });
    loop_thread = got_id.get_future().get();
    CHECK(loop_thread != std::this_thread::get_id());

    std::vector<std::thread> posters;
    std::vector<std::vector<int>> seen(4);
    std::atomic<bool> wrong_thread{false};
    for (int t = 0; t < 4; ++t) {
      posters.emplace_back([&, t] {
        for (int i = 0; i < 250; ++i) {
          loop.Post([&, t, i] {
            if (std::this_thread::get_id() != loop_thread) wrong_thread = true;
            seen[t].push_back(i);  // loop thread only
            ++count;
          });
        }
      });
    }
    for (auto& p : posters) p.join();
    std::promise<void> flushed;
    loop.Post([&] { flushed.set_value(); });
    REQUIRE(flushed.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    CHECK(count == 1000);
    CHECK_FALSE(wrong_thread);
    for (const auto& s : seen) {
      REQUIRE(s.size() == 250);
      CHECK(std::is_sorted(s.begin(), s.end()));
    }
  }

  TEST_CASE("1,000 slow requests are in flight at once on one thread" * doctest::timeout(30)) {
    // Client and server sockets together need more than the usual 1,024 descriptors.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 2200) {
      MESSAGE("RLIMIT_NOFILE hard limit " << lim.rlim_max << " is too low; skipping");
      return;
    }
    constexpr int kRequests = 1000;
    LocalServer server;
    server.Handle("GET", "/slow/*", [](const LocalRequest& r) {
      LocalResponse resp = LocalResponse::Text(200, r.path);
      resp.delay = 1.5;
      return resp;
    });
    size_t threads_before = ThreadCount();
    HttpLoop loop;
    std::atomic<int> done{0}, good{0};
    std::mutex mu;
    std::condition_variable cv;
    std::string first_error;  // guarded by mu
    auto start = Clock::now();
    for (int i = 0; i < kRequests; ++i) {
      HttpRequest req;
      req.url = server.url() + "/slow/" + std::to_string(i);
      std::string expect = "/slow/" + std::to_string(i);
      loop.Send(req, [&, expect](HttpResponse r) {
        std::lock_guard<std::mutex> lock(mu);
        if (r.ok() && r.body == expect)
          ++good;
        else if (first_error.empty())
          first_error = std::to_string(r.status) + " " + r.error;
        ++done;
        cv.notify_all();
      });
    }
    // While the server holds every reply, count threads: the loop adds one, not one per request.
    size_t peak_threads = 0;
    for (int i = 0; i < 200 && server.open_connections() < kRequests; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    peak_threads = ThreadCount();
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::seconds(20), [&] { return done == kRequests; });
    }
    double took = SecondsSince(start);
    MESSAGE("1,000 requests held 1.5 s each finished in " << took << " s; peak in flight " << loop.peak_in_flight()
                                                          << ", server peak connections " << server.peak_connections()
                                                          << ", threads " << threads_before << " -> " << peak_threads);
    CHECK(done == kRequests);
    CHECK_MESSAGE(good == kRequests, first_error);
    CHECK(loop.peak_in_flight() >= kRequests);
    CHECK(server.peak_connections() >= kRequests);
    CHECK(peak_threads <= threads_before + 2);
    CHECK(took < 10);
    CHECK(loop.in_flight() == 0);
  }

  TEST_CASE("a redirect to another host drops secret headers and query params" * doctest::timeout(20)) {
    const std::string key = "AIzaCrossHostKey123";
    LocalServer api, cdn;
    api.Handle("GET", "/v1/files/abc:download", [&](const LocalRequest&) {
      return LocalResponse::Redirect(302, cdn.url() + "/blob/abc?key=" + key + "&sig=ok");
    });
    cdn.Handle("GET", "/blob/abc", [](const LocalRequest&) { return LocalResponse::Text(200, "video bytes"); });
    HttpLoop loop;
    HttpRequest req;
    req.url = api.url() + "/v1/files/abc:download?alt=media&key=" + key;
    req.headers = {{"X-Goog-Api-Key", key}, {"Accept", "*/*"}};
    req.secret_headers = {"x-goog-api-key"};
    req.secret_query_params = {"key"};
    req.download_path = "video.mp4";
    HttpResponse r = SendAndWait(loop, req);
    CHECK(r.ok());
    CHECK(ReadAll("video.mp4") == "video bytes");

    auto first = api.requests();
    REQUIRE(first.size() == 1);
    CHECK(first[0].Header("x-goog-api-key") == key);
    CHECK(first[0].QueryParam("key") == key);
    auto second = cdn.requests();
    REQUIRE(second.size() == 1);
    CHECK_FALSE(second[0].HasHeader("x-goog-api-key"));
    CHECK_FALSE(second[0].HasQueryParam("key"));
    CHECK(second[0].query.find(key) == std::string::npos);
    CHECK(second[0].QueryParam("sig") == "ok");
    CHECK(second[0].Header("accept") == "*/*");
    CHECK(r.effective_url.find(cdn.url() + "/blob/abc") == 0);
    CHECK(r.effective_url.find(key) == std::string::npos);
  }

  TEST_CASE("a same-host redirect keeps secrets; 303 turns POST into GET" * doctest::timeout(20)) {
    const std::string key = "sk-same-host-key-42";
    LocalServer server;
    server.Handle("POST", "/start", [](const LocalRequest&) { return LocalResponse::Redirect(303, "next?step=2"); });
    server.Handle("GET", "/next", [](const LocalRequest& r) { return LocalResponse::Text(200, "method " + r.method); });
    server.Handle("GET", "/loop", [](const LocalRequest&) { return LocalResponse::Redirect(302, "/loop"); });
    HttpLoop loop;
    HttpRequest req;
    req.method = "POST";
    req.body = "{}";
    req.url = server.url() + "/start?key=" + key;
    req.headers = {{"Authorization", "Bearer " + key}};
    req.secret_headers = {"authorization"};
    req.secret_query_params = {"key"};
    HttpResponse r = SendAndWait(loop, req);
    CHECK(r.ok());
    CHECK(r.body == "method GET");
    auto got = server.requests();
    REQUIRE(got.size() == 2);
    CHECK(got[1].path == "/next");
    CHECK(got[1].QueryParam("step") == "2");
    CHECK(got[1].Header("authorization") == "Bearer " + key);
    CHECK(got[1].body.empty());

    req.method = "GET";
    req.url = server.url() + "/loop";
    req.max_redirects = 3;
    r = SendAndWait(loop, req);
    CHECK(r.status == 302);
    CHECK(r.error.find("too many redirects") != std::string::npos);
    CHECK(ClassifyHttpError(r) == ErrorType::kInvalidInput);
    CHECK(server.requests().size() == 2 + 4);

    req.max_redirects = 0;
    r = SendAndWait(loop, req);
    CHECK(r.status == 302);
    CHECK(r.headers["location"] == "/loop");
  }

  TEST_CASE("Retry-After is parsed from seconds and HTTP-dates" * doctest::timeout(20)) {
    LocalServer server;
    server.Handle("GET", "/busy", [](const LocalRequest&) {
      LocalResponse r = LocalResponse::Json(429, R"({"error":"slow down"})");
      r.headers.emplace_back("Retry-After", "7");
      return r;
    });
    server.Handle("GET", "/down", [](const LocalRequest&) { return LocalResponse::Json(503, "{}"); });
    HttpLoop loop;
    HttpRequest req;
    req.url = server.url() + "/busy";
    HttpResponse r = SendAndWait(loop, req);
    CHECK(r.status == 429);
    CHECK(r.retry_after == 7);
    CHECK(ClassifyHttpError(r) == ErrorType::kRateLimited);
    req.url = server.url() + "/down";
    r = SendAndWait(loop, req);
    CHECK(r.retry_after == -1);
    CHECK(ClassifyHttpError(r) == ErrorType::kUnavailable);

    const int64_t now = 1445412480;  // Wed, 21 Oct 2015 07:28:00 GMT
    CHECK(ParseRetryAfter("120", now) == 120);
    CHECK(ParseRetryAfter(" 0 ", now) == 0);
    CHECK(ParseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now) == 30);
    CHECK(ParseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now) == 0);  // in the past
    CHECK(ParseRetryAfter("soon", now) == -1);
    CHECK(ParseRetryAfter("", now) == -1);
    CHECK(ParseRetryAfter("-5", now) == -1);
  }

  TEST_CASE("ClassifyHttpError maps statuses and transport errors" * doctest::timeout(5)) {
    auto classify = [](int status, ErrorType transport = ErrorType::kNone) {
      HttpResponse r;
      r.status = status;
      r.transport_error = transport;
      return ClassifyHttpError(r);
    };
    CHECK(classify(200) == ErrorType::kNone);
    CHECK(classify(204) == ErrorType::kNone);
    CHECK(classify(400) == ErrorType::kInvalidInput);
    CHECK(classify(401) == ErrorType::kAuth);
    CHECK(classify(403) == ErrorType::kAuth);
    CHECK(classify(404) == ErrorType::kInvalidInput);
    CHECK(classify(408) == ErrorType::kUnavailable);
    CHECK(classify(413) == ErrorType::kInvalidInput);
    CHECK(classify(422) == ErrorType::kInvalidInput);
    CHECK(classify(429) == ErrorType::kRateLimited);
    CHECK(classify(500) == ErrorType::kUnavailable);
    CHECK(classify(502) == ErrorType::kUnavailable);
    CHECK(classify(503) == ErrorType::kUnavailable);
    CHECK(classify(504) == ErrorType::kUnavailable);
    CHECK(classify(302) == ErrorType::kInvalidInput);
    CHECK(classify(0, ErrorType::kTimeout) == ErrorType::kTimeout);
    CHECK(classify(0, ErrorType::kUnavailable) == ErrorType::kUnavailable);
    CHECK(classify(0, ErrorType::kCancelled) == ErrorType::kCancelled);
    CHECK(classify(200, ErrorType::kUnavailable) == ErrorType::kUnavailable);  // truncated body
  }

  TEST_CASE("destroying the loop cancels transfers, including ones sent from callbacks" * doctest::timeout(20)) {
    LocalServer server;
    server.Handle("GET", "/slow", [](const LocalRequest&) {
      LocalResponse r = LocalResponse::Text(200, "late");
      r.delay = 10;
      return r;
    });
    std::vector<ErrorType> outcomes;  // written on the loop thread, read after the join
    std::atomic<bool> timer_ran{false};
    auto start = Clock::now();
    {
      HttpLoop loop;
      HttpRequest req;
      req.url = server.url() + "/slow";
      for (int i = 0; i < 3; ++i) {
        loop.Send(req, [&loop, &outcomes, req](HttpResponse r) {
          outcomes.push_back(r.transport_error);
          // A retry from a cancellation callback during shutdown is cancelled too.
          loop.Send(req, [&outcomes](HttpResponse r2) { outcomes.push_back(r2.transport_error); });
          loop.After(0, [] {});
        });
      }
      loop.After(30, [&] { timer_ran = true; });
      for (int i = 0; i < 200 && server.request_count() < 3; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      CHECK(loop.in_flight() == 3);
    }
    CHECK(SecondsSince(start) < 5);
    CHECK(outcomes.size() == 6);
    for (ErrorType t : outcomes) CHECK(t == ErrorType::kCancelled);
    CHECK_FALSE(timer_ran);
  }

}  // TEST_SUITE
