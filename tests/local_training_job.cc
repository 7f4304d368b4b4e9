#include "tests/local_training_job.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/cluster_fixture.h"
#include "tests/synthetic_data.h"

namespace ps::testing {

absl::StatusOr<std::unique_ptr<LocalTrainingJob>> LocalTrainingJob::Start(
    const std::string& dir) {
  std::filesystem::create_directories(dir + "/data");
  if (absl::Status s = WriteSyntheticFashionMnist(dir + "/data", 2000, 200, 3);
      !s.ok()) {
    return s;
  }
  const std::string spec = dir + "/spec.json";
  std::ofstream(spec) << R"({"name": "trains", "model": {"type": "SOFTMAX"},
      "data": {"dataset": "FASHION_MNIST", "dir": ")"
                      << dir << R"(/data"},
      "optimizer": {"type": "SGD", "learningRate": 0.05},
      "training": {"epochs": 1000, "batchSize": 32, "reportEverySteps": 5},
      "cluster": {"numWorkers": 1}})";
  std::unique_ptr<LocalTrainingJob> job(new LocalTrainingJob());
  job->log_ = dir + "/psctl.log";
  absl::StatusOr<std::unique_ptr<Subprocess>> psctl = Subprocess::Start(
      {RunfilesBinDir() + "/client/psctl/psctl", "local", spec,
       "--servers=1", "--workers=1", "--bin_dir=" + RunfilesBinDir(),
       "--work_dir=" + dir + "/logs"},
      job->log_);
  if (!psctl.ok()) return psctl.status();
  job->psctl_ = *std::move(psctl);
  const std::regex printed("dashboard: (http://127\\.0\\.0\\.1:[0-9]+/)");
  for (absl::Time deadline = absl::Now() + absl::Seconds(60);
       absl::Now() < deadline && job->psctl_->Running();
       absl::SleepFor(absl::Milliseconds(50))) {
    std::smatch m;
    const std::string out = job->Output();
    if (std::regex_search(out, m, printed)) {
      job->url_ = m[1];
      return job;
    }
  }
  return absl::DeadlineExceededError(
      "psctl local printed no dashboard address:\n" + job->Output());
}

std::string LocalTrainingJob::Output() const {
  std::ifstream in(log_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool LocalTrainingJob::Interrupt() {
  if (psctl_->Running()) kill(psctl_->pid(), SIGINT);
  for (absl::Time deadline = absl::Now() + absl::Seconds(60);
       psctl_->Running() && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(50))) {
  }
  return !psctl_->Running() &&
         Output().find("CANCELLED") != std::string::npos;
}

LocalTrainingJob::~LocalTrainingJob() { Interrupt(); }

}  // namespace ps::testing
