// `psctl health ADDR`: one grpc.health.v1.Health/Check call, over the same
// mutual TLS as every other channel. It exists for probes that must present
// a certificate, such as a Kubernetes exec probe running in the daemon's
// own pod with the daemon's own certificate (the kubelet's built-in gRPC
// probe cannot present one; docs/design.md#deployment).
//
// The two health messages are tiny (one string field, one enum field), so
// they are encoded here rather than generated: Debian's gRPC ships no
// health.proto.
#ifndef PS_CLIENT_PSCTL_HEALTH_H_
#define PS_CLIENT_PSCTL_HEALTH_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/rpc_security.h"

namespace ps::client {

// grpc.health.v1.HealthCheckResponse.ServingStatus, same numbers.
enum class ServingStatus {
  kUnknown = 0,
  kServing = 1,
  kNotServing = 2,
  kServiceUnknown = 3,  // only Watch answers this; Check says NOT_FOUND
};

// "SERVING", "NOT_SERVING", ...; "UNKNOWN" for anything else.
absl::string_view ServingStatusName(ServingStatus status);

// The wire bytes of HealthCheckRequest{service}.
std::string EncodeHealthCheckRequest(absl::string_view service);

// Parses HealthCheckResponse bytes. Unknown fields are skipped, as protobuf
// does; a status number outside the enum is kUnknown. INVALID_ARGUMENT when
// the bytes are not a well-formed message.
absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(
    absl::string_view bytes);

// Asks `address` for the health of `service` ("" = the server as a whole),
// waiting at most `timeout`. `security` null means plaintext. Errors are the
// call's: UNAVAILABLE when nothing answers or the handshake fails,
// NOT_FOUND for a service the server does not know, DEADLINE_EXCEEDED.
absl::StatusOr<ServingStatus> CheckHealth(const RpcSecurity* security,
                                          const std::string& address,
                                          const std::string& service,
                                          absl::Duration timeout);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_HEALTH_H_
