// Conversion between absl::Status, used everywhere inside the project, and
// grpc::Status, used only at the RPC edge. Codes map one to one (both follow
// google.rpc.Code); the message is kept as is.
#ifndef PS_COMMON_STATUS_H_
#define PS_COMMON_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace ps {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Prefixes the message of a non-OK status with context, keeping its code.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace ps

#endif  // PS_COMMON_STATUS_H_
