#include "common/metrics_endpoint.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace ps {
namespace {

constexpr size_t kMaxRequestBytes = 16 << 10;

// One connection being answered: its socket, its deadline, and the
// endpoint's stop signal, which ends any wait on the connection.
struct Connection {
  int fd;
  int wake_fd;
  absl::Time deadline;
};

// Waits until the connection is ready for `events`; false when the deadline
// passed or the endpoint is stopping.
bool Await(const Connection& c, short events) {
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(c.deadline - absl::Now());
    if (ms <= 0) return false;
    pollfd fds[2] = {{c.fd, events, 0}, {c.wake_fd, POLLIN, 0}};
    const int n = poll(fds, 2, static_cast<int>(ms));
    if (n > 0) return fds[1].revents == 0;
    if (n < 0 && errno != EINTR) return false;
  }
}

// Sends all of `data`; false when the peer went away or was too slow.
bool SendAll(const Connection& c, const std::string& data) {
  const int fd = c.fd;
  for (size_t sent = 0; sent < data.size();) {
    if (!Await(c, POLLOUT)) return false;
    const ssize_t n =
        send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    if (n > 0) sent += static_cast<size_t>(n);
  }
  return true;
}

// The request's head (up to the blank line); "" when it did not come whole
// in time.
std::string ReadHead(const Connection& c) {
  std::string head;
  char buffer[4096];
  while (head.find("\r\n\r\n") == std::string::npos &&
         head.size() < kMaxRequestBytes) {
    if (!Await(c, POLLIN)) return "";
    const ssize_t n = recv(c.fd, buffer, sizeof(buffer), 0);
    if (n == 0) return "";
    if (n < 0 && errno != EAGAIN && errno != EINTR) return "";
    if (n > 0) head.append(buffer, static_cast<size_t>(n));
  }
  return head;
}

std::string Response(int code, const char* reason, const std::string& type,
                     const std::string& body, bool with_body,
                     const char* extra_headers = "") {
  return absl::StrCat("HTTP/1.1 ", code, " ", reason,
                      "\r\nContent-Type: ", type,
                      "\r\nContent-Length: ", body.size(), "\r\n",
                      extra_headers, "Connection: close\r\n\r\n",
                      with_body ? body : "");
}

// A socket listening on host:port, or why not.
absl::StatusOr<int> Listen(const std::string& host, int port,
                           const std::string& wanted) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int e = getaddrinfo(host.c_str(), std::to_string(port).c_str(),
                                &hints, &found);
      e != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve metrics on ", wanted, ": ", gai_strerror(e)));
  }
  std::string error = "no address";
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
      error = strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", wanted, ": ", error));
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& host, int port, const Metrics* metrics) {
  const bool v6 = absl::StrContains(host, ':');
  auto address_of = [&](int p) {
    return v6 ? absl::StrCat("[", host, "]:", p) : absl::StrCat(host, ":", p);
  };
  absl::StatusOr<int> fd = Listen(host, port, address_of(port));
  if (!fd.ok()) return fd.status();
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  const int bound = BoundPort(*fd);
  if (wake < 0 || bound <= 0) {
    close(*fd);
    if (wake >= 0) close(wake);
    return absl::InternalError(absl::StrCat("metrics endpoint on ",
                                            address_of(port), ": ",
                                            strerror(errno)));
  }
  return std::unique_ptr<MetricsEndpoint>(
      new MetricsEndpoint(*fd, wake, address_of(bound), bound, metrics));
}

MetricsEndpoint::MetricsEndpoint(int listen_fd, int wake_fd,
                                 std::string address, int port,
                                 const Metrics* metrics)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      address_(std::move(address)),
      port_(port),
      metrics_(metrics),
      thread_([this] { Serve(); }) {}

MetricsEndpoint::~MetricsEndpoint() {
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    // An eventfd refuses a write only at its maximum count; it is readable
    // then, which is all Serve() looks at.
  }
  thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void MetricsEndpoint::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) continue;  // the peer gave up, or out of descriptors
    Answer(fd);
    close(fd);
  }
}

void MetricsEndpoint::Answer(int fd) const {
  const Connection c{fd, wake_fd_, absl::Now() + kRequestTimeout};
  const std::string head = ReadHead(c);
  const std::vector<absl::string_view> line = absl::StrSplit(
      absl::string_view(head).substr(0, head.find("\r\n")), ' ');
  const char* const text = "text/plain; charset=utf-8";
  if (line.size() != 3 || !absl::StartsWith(line[2], "HTTP/")) {
    SendAll(c, Response(400, "Bad Request", text, "bad request\n", true));
    return;
  }
  const bool head_only = line[0] == "HEAD";
  if (line[0] != "GET" && !head_only) {
    SendAll(c, Response(405, "Method Not Allowed", text, "GET or HEAD only\n",
                        true, "Allow: GET, HEAD\r\n"));
    return;
  }
  const absl::string_view path = line[1].substr(0, line[1].find('?'));
  if (path != "/metrics") {
    SendAll(c, Response(404, "Not Found", text, "metrics are at /metrics\n",
                        !head_only));
    return;
  }
  SendAll(c, Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                      metrics_->Text(), !head_only));
}

}  // namespace ps
