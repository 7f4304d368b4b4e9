// A minimal HTTP/1.0 GET over plain TCP, for tests and tools that read a
// daemon's /metrics page on loopback. Not a general HTTP client: no
// redirects, no chunked encoding (HTTP/1.0 servers send neither), no TLS.
#ifndef PS_COMMON_HTTP_GET_H_
#define PS_COMMON_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ps {

struct HttpResponse {
  int status = 0;    // e.g. 200
  std::string body;  // everything after the headers
};

// GETs `path` from `address` (IPv4 host:port) within `timeout`, the whole
// exchange included. UNAVAILABLE when it cannot connect, DEADLINE_EXCEEDED
// when the answer does not end in time, DATA_LOSS when it is not HTTP.
absl::StatusOr<HttpResponse> HttpGet(const std::string& address,
                                     const std::string& path,
                                     absl::Duration timeout = absl::Seconds(10));

}  // namespace ps

#endif  // PS_COMMON_HTTP_GET_H_
