#include "tests/http_fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ps::testing {

namespace {

// Waits for `events` on `fd` until `deadline`.
bool Ready(int fd, short events, absl::Time deadline) {
  pollfd p{fd, events, 0};
  const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  return ms > 0 && poll(&p, 1, static_cast<int>(ms)) == 1;
}

}  // namespace

absl::StatusOr<HttpReply> HttpGet(const std::string& url,
                                  absl::Duration timeout) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("not an http URL: ", url));
  }
  const size_t slash = rest.find('/');
  const absl::string_view host_port = rest.substr(0, slash);
  const std::string path =
      slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  const size_t colon = host_port.rfind(':');
  int port = 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(host_port.substr(colon + 1), &port) ||
      inet_pton(AF_INET, std::string(host_port.substr(0, colon)).c_str(),
                &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("no IPv4 address and port in ", url));
  }
  addr.sin_port = htons(port);
  const absl::Time deadline = absl::Now() + timeout;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
      errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", url));
  }
  if (!Ready(fd, POLLOUT, deadline)) {
    return absl::DeadlineExceededError(absl::StrCat("connecting to ", url));
  }
  int error = 0;
  socklen_t len = sizeof(error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", url));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", host_port, "\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return absl::UnavailableError(absl::StrCat("cannot send to ", url));
  }
  std::string reply;
  char buf[16384];
  for (;;) {
    if (!Ready(fd, POLLIN, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat("reading ", url));
    }
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0 && errno != EAGAIN) {
      return absl::UnavailableError(absl::StrCat("reading ", url));
    }
    if (n > 0) reply.append(buf, n);
  }
  HttpReply r;
  const size_t head_end = reply.find("\r\n\r\n");
  if (!absl::StartsWith(reply, "HTTP/1.") || reply.size() < 12 ||
      head_end == std::string::npos ||
      !absl::SimpleAtoi(reply.substr(9, 3), &r.status)) {
    return absl::DataLossError(absl::StrCat("no HTTP reply from ", url));
  }
  r.body = reply.substr(head_end + 4);
  return r;
}

}  // namespace ps::testing
