// A plain HTTP/1.0 GET over loopback for tests of the daemons' HTTP
// endpoints (dashboard, metrics): no client library, a deadline on every
// step.
#ifndef PS_TESTS_HTTP_FETCH_H_
#define PS_TESTS_HTTP_FETCH_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ps::testing {

struct HttpReply {
  int status = 0;
  std::string body;
};

// GETs `url` ("http://127.0.0.1:PORT/path"; IPv4 loopback only).
// UNAVAILABLE when it cannot connect, DEADLINE_EXCEEDED past `timeout`.
absl::StatusOr<HttpReply> HttpGet(const std::string& url,
                                  absl::Duration timeout = absl::Seconds(10));

}  // namespace ps::testing

#endif  // PS_TESTS_HTTP_FETCH_H_
