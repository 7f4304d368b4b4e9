// Non-IID shards for federated experiments (DataSpec.shard BY_LABEL): a
// rank's shard is a contiguous range of the split sorted by label.
#ifndef PS_WORKER_DATA_LABEL_SHARD_H_
#define PS_WORKER_DATA_LABEL_SHARD_H_

#include "absl/status/statusor.h"
#include "worker/data/fashion_mnist.h"

namespace ps::worker {

// Rows [r*N/n, (r+1)*N/n) of `all` (a whole split, N = all.count) after a
// stable sort by label: with 10 balanced classes and 5 ranks, rank r holds
// exactly labels {2r, 2r+1}. split_count stays N. InvalidArgument unless
// 0 <= rank < num_ranks.
absl::StatusOr<Examples> ShardByLabel(const Examples& all, int rank,
                                      int num_ranks);

}  // namespace ps::worker

#endif  // PS_WORKER_DATA_LABEL_SHARD_H_
