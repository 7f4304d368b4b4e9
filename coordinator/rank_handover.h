// Worker replacement: the ranks of one running job whose worker was lost
// (its lease expired), waiting for another worker to take them over, and
// the step each rank taken over resumes at. See docs/design.md, "Worker
// replacement".
//
// A value class, not thread-safe: JobManager keeps one per job under its
// lock, chooses the workers and changes the job.
#ifndef PS_COORDINATOR_RANK_HANDOVER_H_
#define PS_COORDINATOR_RANK_HANDOVER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "coordinator/membership.h"
#include "proto/ps/v1/coordinator_state.pb.h"

namespace ps::coordinator {

// A rank without a worker.
struct VacantRank {
  int rank = 0;
  std::string lost_id;       // the member that held it
  std::string lost_address;  // and its address
  absl::Time since;          // when its loss was noticed
};

class RankHandovers {
 public:
  // `rank` lost its worker `lost` at `now`. A rank already vacant keeps its
  // first loss (and its deadline).
  void Vacate(int rank, const MemberInfo& lost, absl::Time now);

  bool HasVacancy() const { return !vacant_.empty(); }
  int vacancies() const { return static_cast<int>(vacant_.size()); }

  // The rank vacant longest, when it has been vacant for more than
  // `timeout`; null otherwise.
  const VacantRank* Overdue(absl::Time now, absl::Duration timeout) const;

  // The rank vacant longest; HasVacancy() must be true.
  int OldestRank() const { return vacant_.front().rank; }
  // Takes the rank vacant longest (HasVacancy() must be true) for a worker
  // that resumes it at `step`.
  VacantRank Fill(int64_t step);

  // Where a rank's current worker starts training: 0 unless the rank was
  // handed over, then the step given to Fill().
  int64_t ResumeStep(int rank) const;

  // What the job waits for while ranks are vacant (its reason), e.g.
  // "rank 1 lost worker-2 at 127.0.0.1:5000 (no heartbeat within its
  // lease); waiting up to 1m for a worker to take it over".
  std::string Waiting(absl::Duration timeout) const;

  // Into and out of a stored job (state_store.h).
  void SaveTo(v1::StoredJob* stored) const;
  static RankHandovers Restore(const v1::StoredJob& stored);

 private:
  std::vector<VacantRank> vacant_;      // oldest first
  std::map<int, int64_t> resume_step_;  // by rank
};

// Why a job fails when `rank` found no worker within `timeout`; names the
// rank and the worker it lost.
std::string NoReplacementReason(const VacantRank& rank, absl::Duration timeout);

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_RANK_HANDOVER_H_
