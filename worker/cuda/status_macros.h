// PS_RETURN_IF_ERROR for the worker's device code, where most calls enqueue
// work that can fail and a step is a long chain of them.

#ifndef PS_WORKER_CUDA_STATUS_MACROS_H_
#define PS_WORKER_CUDA_STATUS_MACROS_H_

#include "absl/status/status.h"

// Evaluates `expr` (an absl::Status) once and returns it from the enclosing
// function unless it is OK.
#define PS_RETURN_IF_ERROR(expr)                              \
  do {                                                        \
    if (absl::Status ps_status_ = (expr); !ps_status_.ok()) { \
      return ps_status_;                                      \
    }                                                         \
  } while (false)

#endif  // PS_WORKER_CUDA_STATUS_MACROS_H_
