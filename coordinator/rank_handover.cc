#include "coordinator/rank_handover.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ps::coordinator {

void RankHandovers::Vacate(int rank, const MemberInfo& lost, absl::Time now) {
  for (const VacantRank& v : vacant_) {
    if (v.rank == rank) return;
  }
  vacant_.push_back({rank, lost.id, lost.address, now});
}

const VacantRank* RankHandovers::Overdue(absl::Time now,
                                         absl::Duration timeout) const {
  if (vacant_.empty() || now - vacant_.front().since <= timeout) {
    return nullptr;
  }
  return &vacant_.front();
}

VacantRank RankHandovers::Fill(int64_t step) {
  VacantRank taken = vacant_.front();
  vacant_.erase(vacant_.begin());
  resume_step_[taken.rank] = step;
  return taken;
}

void RankHandovers::SaveTo(v1::StoredJob* stored) const {
  for (const VacantRank& v : vacant_) {
    v1::StoredJob::Vacancy* out = stored->add_vacant();
    out->set_rank(v.rank);
    out->set_lost_id(v.lost_id);
    out->set_lost_address(v.lost_address);
    out->set_since_ms(absl::ToUnixMillis(v.since));
  }
  for (const auto& [rank, step] : resume_step_) {
    (*stored->mutable_resume_steps())[rank] = step;
  }
}

RankHandovers RankHandovers::Restore(const v1::StoredJob& stored) {
  RankHandovers h;
  for (const v1::StoredJob::Vacancy& v : stored.vacant()) {
    h.vacant_.push_back({v.rank(), v.lost_id(), v.lost_address(),
                         absl::FromUnixMillis(v.since_ms())});
  }
  h.resume_step_.insert(stored.resume_steps().begin(),
                        stored.resume_steps().end());
  return h;
}

int64_t RankHandovers::ResumeStep(int rank) const {
  auto it = resume_step_.find(rank);
  return it == resume_step_.end() ? 0 : it->second;
}

std::string RankHandovers::Waiting(absl::Duration timeout) const {
  std::vector<std::string> lost;
  for (const VacantRank& v : vacant_) {
    lost.push_back(absl::StrCat("rank ", v.rank, " lost ", v.lost_id, " at ",
                                v.lost_address));
  }
  return absl::StrCat(absl::StrJoin(lost, ", "),
                      " (no heartbeat within its lease); waiting up to ",
                      absl::FormatDuration(timeout),
                      " for a worker to take it over");
}

std::string NoReplacementReason(const VacantRank& rank,
                                absl::Duration timeout) {
  return absl::StrCat("rank ", rank.rank, " lost its worker ", rank.lost_id,
                      " at ", rank.lost_address,
                      " (no heartbeat within its lease) and no worker took "
                      "the rank over within ",
                      absl::FormatDuration(timeout),
                      " (--worker_replace_timeout)");
}

}  // namespace ps::coordinator
