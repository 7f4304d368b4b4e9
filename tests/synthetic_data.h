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

// Writes train.psf (train_rows) and test.psf (test_rows) PSF1 files (see
// worker/data/flights_data.h) into `dir`: flights between 8 airports at every
// hour, in time order. A flight is delayed (> 15 minutes) with probability
// sigmoid(-3 + 3 * [departs at 17:00 or later] + 2.5 * [origin is one of
// two congested airports]), so hashed-feature logistic regression reaches an
// AUC of about 0.85 and a constant predictor 0.5.
absl::Status WriteSyntheticFlights(const std::string& dir, int train_rows,
                                   int test_rows, unsigned seed);

}  // namespace ps::testing

#endif  // PS_TESTS_SYNTHETIC_DATA_H_
