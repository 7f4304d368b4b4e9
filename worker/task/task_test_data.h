// Tasks over tiny synthetic data sets, shared by the task runner's and the
// task slot's tests.
#ifndef PS_WORKER_TASK_TASK_TEST_DATA_H_
#define PS_WORKER_TASK_TASK_TEST_DATA_H_

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "proto/ps/v1/ps.pb.h"
#include "tests/synthetic_data.h"

namespace ps::worker {

// A fresh folder under the test's temporary directory.
inline std::string TestDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Rank 0 of 1 of a softmax job over 200 synthetic Fashion-MNIST training
// and 100 test examples written into a fresh folder: 7 steps of 32, a
// report every 2.
inline v1::Task MnistTask(const std::string& job_id) {
  const std::string dir = TestDir(job_id);
  EXPECT_TRUE(ps::testing::WriteSyntheticFashionMnist(dir, 200, 100, 1).ok());
  v1::Task task;
  task.set_job_id(job_id);
  task.set_rank(0);
  task.set_num_workers(1);
  v1::JobSpec& spec = *task.mutable_spec();
  spec.mutable_model()->set_type(v1::SOFTMAX);
  spec.mutable_data()->set_dataset(v1::FASHION_MNIST);
  spec.mutable_data()->set_dir(dir);
  spec.mutable_training()->set_epochs(1);
  spec.mutable_training()->set_batch_size(32);
  spec.mutable_training()->set_seed(3);
  spec.mutable_training()->set_report_every_steps(2);
  return task;
}

// Rank 0 of 1 of a SPARSE_LR job over 500 synthetic training and 200 test
// flights: 4 steps of 128, a report every 2.
inline v1::Task FlightsTask(const std::string& job_id) {
  const std::string dir = TestDir(job_id);
  EXPECT_TRUE(ps::testing::WriteSyntheticFlights(dir, 500, 200, 1).ok());
  v1::Task task;
  task.set_job_id(job_id);
  task.set_rank(0);
  task.set_num_workers(1);
  v1::JobSpec& spec = *task.mutable_spec();
  spec.mutable_model()->set_type(v1::SPARSE_LR);
  spec.mutable_model()->set_hash_bits(16);
  spec.mutable_data()->set_dataset(v1::FLIGHTS);
  spec.mutable_data()->set_dir(dir);
  spec.mutable_training()->set_epochs(1);
  spec.mutable_training()->set_batch_size(128);
  spec.mutable_training()->set_seed(3);
  spec.mutable_training()->set_report_every_steps(2);
  return task;
}

// A task that fails at once: its data folder does not exist.
inline v1::Task MissingDataTask(const std::string& job_id) {
  v1::Task task = MnistTask(job_id);
  task.mutable_spec()->mutable_data()->set_dir("/nonexistent/" + job_id);
  return task;
}

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_TASK_TEST_DATA_H_
