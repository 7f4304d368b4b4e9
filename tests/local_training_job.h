// `psctl local` (the real binary) running a long softmax job over synthetic
// data on one server and one worker, for tests that watch a job train
// through its HTTP endpoints (dashboard, metrics). The destructor sends
// SIGINT, as Ctrl-C would: psctl cancels the job and stops the cluster.
#ifndef PS_TESTS_LOCAL_TRAINING_JOB_H_
#define PS_TESTS_LOCAL_TRAINING_JOB_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/subprocess.h"

namespace ps::testing {

class LocalTrainingJob {
 public:
  // Writes data and spec into `dir` (created), starts psctl local and waits
  // (60 s at most) until it prints the dashboard's address. The job is
  // "job-1"; 1000 epochs, so it trains until stopped.
  static absl::StatusOr<std::unique_ptr<LocalTrainingJob>> Start(
      const std::string& dir);
  ~LocalTrainingJob();

  // "http://127.0.0.1:PORT/".
  const std::string& dashboard_url() const { return url_; }
  // "127.0.0.1:PORT", for HttpGet.
  std::string dashboard_address() const {
    return url_.substr(7, url_.size() - 8);
  }
  // psctl's output so far.
  std::string Output() const;
  // SIGINT, then waits up to 60 s for psctl to end; true when it did and
  // reported the job CANCELLED.
  bool Interrupt();

 private:
  LocalTrainingJob() = default;
  std::string log_;
  std::string url_;
  std::unique_ptr<Subprocess> psctl_;
};

}  // namespace ps::testing

#endif  // PS_TESTS_LOCAL_TRAINING_JOB_H_
