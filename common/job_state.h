// Facts about job states that the coordinator and its clients share.
#ifndef PS_COMMON_JOB_STATE_H_
#define PS_COMMON_JOB_STATE_H_

#include "proto/ps/v1/ps.pb.h"

namespace ps {

// SUCCEEDED, FAILED and CANCELLED are final: a job never leaves them.
inline bool IsFinal(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED ||
         state == v1::CANCELLED;
}

}  // namespace ps

#endif  // PS_COMMON_JOB_STATE_H_
