// A CPU FlightsModel for tests of the model and of the sparse trainer.
#ifndef PS_WORKER_MODEL_FLIGHTS_MODEL_TESTING_H_
#define PS_WORKER_MODEL_FLIGHTS_MODEL_TESTING_H_

#include <memory>

#include "gtest/gtest.h"
#include "worker/model/flights_model.h"

namespace ps::worker {

// The model of `spec` on the CPU backend; null, with a test failure, when
// CreateFlightsModel rejects the spec.
inline std::unique_ptr<FlightsModel> MakeCpuFlightsModel(
    const FlightsModelSpec& spec) {
  absl::StatusOr<std::unique_ptr<FlightsModel>> model =
      CreateFlightsModel(spec, ComputeOptions{.device = Device::kCpu});
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

}  // namespace ps::worker

#endif  // PS_WORKER_MODEL_FLIGHTS_MODEL_TESTING_H_
