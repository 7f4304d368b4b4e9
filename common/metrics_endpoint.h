// Serves a Metrics over HTTP at http://HOST:PORT/metrics, in Prometheus'
// text exposition format, from one thread of its own.
//
// Why not prometheus-cpp's Exposer: its civetweb threads are started with a
// fixed 100 KiB stack, and glibc places a process's static TLS in each
// thread's stack; in ps_worker (OpenBLAS and cuBLAS bring ~175 KiB of it)
// they cannot be created at all. This endpoint's thread has the default
// stack, and stops at once (civetweb's stop waits up to 2 s for a poll).
//
// Plain HTTP/1.1, no authentication: metrics carry counts, times and ids,
// never parameters or tokens. One request per connection, answered in turn:
// a client that sends nothing gives up its turn after kRequestTimeout.
#ifndef PS_COMMON_METRICS_ENDPOINT_H_
#define PS_COMMON_METRICS_ENDPOINT_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"

namespace ps {

class MetricsEndpoint {
 public:
  // Longest a connection may take to send its request and read the answer.
  static constexpr absl::Duration kRequestTimeout = absl::Seconds(5);

  // Binds `host`:`port` (port 0: any free port; an IPv4 or IPv6 address or
  // a host name) and serves `metrics`, which must outlive the endpoint.
  // UNAVAILABLE naming the address when it cannot be bound (in use, or not
  // an address of this machine).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& host, int port, const Metrics* metrics);
  // Stops serving (a request being answered is finished first) and joins
  // the thread.
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // host:port as bound ([host]:port for IPv6), with the real port when
  // asked for 0.
  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  MetricsEndpoint(int listen_fd, int wake_fd, std::string address, int port,
                  const Metrics* metrics);
  void Serve();
  // Reads one request from `fd` and answers it.
  void Answer(int fd) const;

  const int listen_fd_;
  const int wake_fd_;  // an eventfd: written to stop Serve()
  const std::string address_;
  const int port_;
  const Metrics* const metrics_;
  std::thread thread_;  // last: started once the rest is set
};

}  // namespace ps

#endif  // PS_COMMON_METRICS_ENDPOINT_H_
