// Small, learnable Fashion-MNIST-shaped data for integration tests, written as
// the same gzip idx files the worker reads, from a fixed seed.
#ifndef PS_TESTS_SYNTHETIC_DATA_H_
#define PS_TESTS_SYNTHETIC_DATA_H_

#include <string>

#include "absl/status/status.h"

namespace ps::testing {

// Writes train (train_rows) and t10k (test_rows) idx files into `dir`. Class c
// lights up a band of rows 2c..2c+2 of the 28x28 image over uniform noise, so
// a softmax model separates the classes almost perfectly.
absl::Status WriteSyntheticFashionMnist(const std::string& dir, int train_rows,
                                        int test_rows, unsigned seed);

}  // namespace ps::testing

#endif  // PS_TESTS_SYNTHETIC_DATA_H_
