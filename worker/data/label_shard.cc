#include "worker/data/label_shard.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ps::worker {

absl::StatusOr<Examples> ShardByLabel(const Examples& all, int rank,
                                      int num_ranks) {
  if (num_ranks < 1 || rank < 0 || rank >= num_ranks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rank ", rank, " of ", num_ranks, "; allowed: 0 <= rank < ranks"));
  }
  std::vector<int64_t> order(all.count);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&all](int64_t a, int64_t b) {
    return all.y[a] < all.y[b];
  });
  const int64_t begin = all.count * rank / num_ranks;
  const int64_t end = all.count * (rank + 1) / num_ranks;
  Examples out;
  out.count = end - begin;
  out.split_count = all.split_count > 0 ? all.split_count : all.count;
  out.dim = all.dim;
  out.x.reserve(out.count * out.dim);
  out.y.reserve(out.count);
  for (int64_t i = begin; i < end; ++i) {
    const int64_t row = order[i];
    out.x.insert(out.x.end(), all.x.begin() + row * all.dim,
                 all.x.begin() + (row + 1) * all.dim);
    out.y.push_back(all.y[row]);
  }
  return out;
}

}  // namespace ps::worker
