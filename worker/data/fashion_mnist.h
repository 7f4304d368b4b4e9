// Loader for the Fashion-MNIST data set in its original gzip'd idx format,
// as shipped by Debian's dataset-fashion-mnist package.
//
// A worker loads only its own contiguous shard of a split, so N workers
// together see every example exactly once.

#ifndef PS_WORKER_DATA_FASHION_MNIST_H_
#define PS_WORKER_DATA_FASHION_MNIST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ps::worker {

// Where Debian's dataset-fashion-mnist package installs the files.
// Mean and standard deviation of the training pixels (scaled to [0, 1]); the
// worker standardises inputs with them, as torchvision's Normalize does.
inline constexpr float kFashionMnistMean = 0.2860f;
inline constexpr float kFashionMnistStd = 0.3530f;

inline constexpr char kDefaultFashionMnistDir[] =
    "/usr/share/datasets/fashion-mnist";

// A dense, row-major block of labelled examples.
struct Examples {
  int64_t count = 0;        // Number of rows.
  int64_t split_count = 0;  // Rows in the whole split, over all shards.
  int64_t dim = 0;          // Features per row (784 = 28x28 for Fashion-MNIST).
  std::vector<float> x;     // count * dim pixels, scaled from 0..255 to [0, 1].
  std::vector<int32_t> y;   // count labels, each in [0, 10).
};

// x <- (x - mean) / std, in place.
void Standardize(float mean, float std, Examples* examples);

enum class Split {
  kTrain,  // train-{images-idx3,labels-idx1}-ubyte.gz, 60000 rows.
  kTest,   // t10k-{images-idx3,labels-idx1}-ubyte.gz, 10000 rows.
};

// Loads rows [shard_index * N / num_shards, (shard_index + 1) * N / num_shards)
// of `split`, where N is the split's row count, from the idx files in `dir`.
// The shards for shard_index = 0..num_shards-1 partition the split; a shard
// is empty when num_shards > N.
//
// Both files are read to the end and checked as a whole even though only the
// shard is decoded, so every shard of a damaged file fails the same way.
// Memory grows with the data actually read, never with a header's claims.
//
// Errors:
//   InvalidArgument: num_shards < 1 or shard_index outside [0, num_shards).
//   NotFound:        a file is missing (the message names its path).
//   DataLoss:        a file is not a valid idx file of the expected kind: bad
//                    magic number, bad dimensions, truncated or trailing
//                    data, corrupt gzip stream, image and label counts that
//                    differ, or a label outside [0, 10).
//   Other codes:     the OS refused to open a file (e.g. PermissionDenied).
absl::StatusOr<Examples> LoadFashionMnist(const std::string& dir, Split split,
                                          int shard_index, int num_shards);

}  // namespace ps::worker

#endif  // PS_WORKER_DATA_FASHION_MNIST_H_
