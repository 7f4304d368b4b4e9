#include "common/http_get.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace ps {
namespace {

// Closes the socket when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Waits until `fd` is ready for `events` or the deadline passes.
absl::Status Await(int fd, short events, absl::Time deadline,
                   const std::string& what) {
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return absl::DeadlineExceededError(what);
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(ms));
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
    }
  }
}

absl::StatusOr<sockaddr_in> ParseAddress(const std::string& address) {
  std::pair<std::string, std::string> parts =
      absl::StrSplit(address, absl::MaxSplits(':', 1));
  int port = 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (!absl::SimpleAtoi(parts.second, &port) || port <= 0 || port > 65535 ||
      inet_pton(AF_INET, parts.first.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", address, "'; expected IPv4 host:port"));
  }
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Connects without blocking past the deadline.
absl::Status Connect(int fd, const sockaddr_in& addr, absl::Time deadline,
                     const std::string& address) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) ==
      0) {
    return absl::OkStatus();
  }
  if (errno != EINPROGRESS) {
    return absl::UnavailableError(
        absl::StrCat("connecting to ", address, ": ", strerror(errno)));
  }
  if (absl::Status s = Await(fd, POLLOUT, deadline,
                             absl::StrCat("connecting to ", address));
      !s.ok()) {
    return s;
  }
  int error = 0;
  socklen_t len = sizeof(error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    return absl::UnavailableError(
        absl::StrCat("connecting to ", address, ": ", strerror(error)));
  }
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> Parse(const std::string& raw,
                                   const std::string& url) {
  const size_t end = raw.find("\r\n\r\n");
  int status = 0;
  std::vector<absl::string_view> first =
      absl::StrSplit(absl::string_view(raw).substr(0, raw.find("\r\n")), ' ');
  if (end == std::string::npos || first.size() < 2 ||
      !absl::StartsWith(first[0], "HTTP/") ||
      !absl::SimpleAtoi(first[1], &status)) {
    return absl::DataLossError(
        absl::StrCat(url, " did not answer HTTP: '", raw.substr(0, 80), "'"));
  }
  return HttpResponse{status, raw.substr(end + 4)};
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(const std::string& address,
                                     const std::string& path,
                                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::string url = absl::StrCat("http://", address, path);
  absl::StatusOr<sockaddr_in> addr = ParseAddress(address);
  if (!addr.ok()) return addr.status();
  Fd sock{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0) return absl::InternalError(strerror(errno));
  if (absl::Status s = Connect(sock.fd, *addr, deadline, address); !s.ok()) {
    return s;
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", address,
                   "\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    if (absl::Status s = Await(sock.fd, POLLOUT, deadline, "sending to " + url);
        !s.ok()) {
      return s;
    }
    const ssize_t n = send(sock.fd, request.data() + sent,
                           request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat("sending to ", url, ": ", strerror(errno)));
    }
    if (n > 0) sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buffer[16384];
  while (true) {
    if (absl::Status s = Await(sock.fd, POLLIN, deadline, "reading " + url);
        !s.ok()) {
      return s;
    }
    const ssize_t n = recv(sock.fd, buffer, sizeof(buffer), 0);
    if (n == 0) break;  // the server closed: the answer is complete
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat("reading ", url, ": ", strerror(errno)));
    }
    if (n > 0) raw.append(buffer, static_cast<size_t>(n));
  }
  return Parse(raw, url);
}

}  // namespace ps
