#include "client/psctl/fault_injection.h"

#include <signal.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/partition.h"

namespace ps::client {
namespace {

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.2f s", absl::ToDoubleSeconds(d));
}

}  // namespace

absl::StatusOr<std::vector<Kill>> ParseKills(absl::string_view flag) {
  std::vector<Kill> kills;
  if (flag.empty()) return kills;
  for (absl::string_view item : absl::StrSplit(flag, ',')) {
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(item, absl::MaxSplits('@', 1));
    Kill kill;
    if (parts.first == "server") {
      kill.target = Kill::kServer;
    } else if (parts.first == "worker") {
      kill.target = Kill::kWorker;
    } else if (parts.first == "coordinator") {
      kill.target = Kill::kCoordinator;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--kill: '", item, "': the role must be server, worker or "
          "coordinator; allowed: "
          "ROLE@DELAY[,ROLE@DELAY...], e.g. server@3s"));
    }
    if (!absl::ParseDuration(parts.second, &kill.after) ||
        kill.after < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--kill: '", item, "': '", parts.second, "' is not a delay >= 0; "
          "allowed: a duration such as 3s or 1500ms"));
    }
    kills.push_back(kill);
  }
  std::sort(kills.begin(), kills.end(),
            [](const Kill& a, const Kill& b) { return a.after < b.after; });
  return kills;
}

FaultInjector::FaultInjector(LocalCluster* cluster, std::string job_id,
                             std::vector<Kill> kills, std::ostream& out)
    : cluster_(cluster),
      job_id_(std::move(job_id)),
      kills_(std::move(kills)),
      out_(out) {
  if (!kills_.empty()) thread_ = std::thread([this] { Run(); });
}

FaultInjector::~FaultInjector() { Stop(); }

std::vector<std::string> FaultInjector::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  return summary_;
}

void FaultInjector::Say(const std::string& line) {
  out_ << line << std::endl;
}

bool FaultInjector::WaitFor(const std::function<bool(const v1::Job&)>& done,
                            v1::Job* job, absl::Time deadline) {
  while (absl::Now() < deadline) {
    absl::StatusOr<v1::Job> now = cluster_->client()->GetJob(job_id_);
    if (now.ok()) {
      *job = *std::move(now);
      if (done(*job)) return true;
    }
    if (stop_.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
      return false;
    }
  }
  return false;
}

std::string FaultInjector::RestartCoordinator(const v1::Job& job,
                                              absl::Time started) {
  const int64_t step = job.progress().step();
  const absl::Time killed = absl::Now();
  absl::Status restarted = cluster_->RestartCoordinator();
  Say(absl::StrCat("fault: killed the coordinator with SIGKILL at +",
                   Seconds(killed - started), " of training (job at step ",
                   step, ")"));
  if (!restarted.ok()) {
    Say(absl::StrCat("fault: the coordinator did not start again: ",
                     restarted.ToString()));
    return absl::StrCat("coordinator killed at +", Seconds(killed - started),
                        "; not restarted: ", restarted.ToString());
  }
  Say(absl::StrCat("fault: coordinator restarted on its state dir after ",
                   Seconds(absl::Now() - killed)));
  v1::Job now;
  std::string recovery;
  if (WaitFor(
          [&](const v1::Job& j) {
            return j.state() != v1::RUNNING || j.progress().step() > step;
          },
          &now, killed + absl::Minutes(2))) {
    recovery = absl::StrCat(
        now.state() == v1::RUNNING ? "training went on" : "the job ended",
        " (", v1::JobState_Name(now.state()), ", step ",
        now.progress().step(), ") at +", Seconds(absl::Now() - started),
        ", ", Seconds(absl::Now() - killed), " after the kill");
  } else {
    recovery = "no recovery seen";
  }
  Say(absl::StrCat("fault: ", recovery));
  return absl::StrCat("coordinator killed at +", Seconds(killed - started),
                      "; ", recovery);
}

void FaultInjector::Run() {
  v1::Job job;
  // Training has started once the job reports a step.
  if (!WaitFor([](const v1::Job& j) {
        return j.progress().step() > 0 || j.state() > v1::RUNNING;
      },
               &job, absl::InfiniteFuture()) ||
      job.state() != v1::RUNNING) {
    return;
  }
  const absl::Time started = absl::Now();
  for (const Kill& kill : kills_) {
    if (stop_.WaitForNotificationWithTimeout(started + kill.after -
                                             absl::Now())) {
      return;
    }
    absl::StatusOr<v1::Job> now = cluster_->client()->GetJob(job_id_);
    if (!now.ok() || now->state() != v1::RUNNING) return;
    job = *std::move(now);
    if (kill.target == Kill::kCoordinator) {
      const std::string recovery = RestartCoordinator(job, started);
      absl::MutexLock lock(&mu_);
      summary_.push_back(recovery);
      continue;
    }
    std::string victim, address, what;
    if (kill.target == Kill::kServer) {
      const v1::PartitionMap& map = job.partition_map();
      if (map.groups_size() == 0 || map.groups(0).replicas_size() == 0) return;
      victim = map.groups(0).replicas(0).member_id();
      address = map.groups(0).replicas(0).address();
      what = "primary of group 0";
    } else {
      victim = job.worker_ids_size() > 0 ? job.worker_ids(0) : "";
      what = "rank 0";
      absl::StatusOr<v1::GetClusterResponse> members =
          cluster_->client()->GetCluster();
      if (members.ok()) {
        for (const v1::Member& m : members->members()) {
          if (m.id() == victim) address = m.address();
        }
      }
    }
    Subprocess* p = kill.target == Kill::kServer ? cluster_->ServerAt(address)
                                            : cluster_->WorkerAt(address);
    if (p == nullptr) {
      Say(absl::StrCat("fault: no process found for ", victim, " at ",
                       address, "; nothing killed"));
      continue;
    }
    const uint64_t epoch = job.partition_map().epoch();
    ::kill(p->pid(), SIGKILL);
    const absl::Time killed = absl::Now();
    Say(absl::StrCat("fault: killed ", victim, " (", what, ", pid ", p->pid(),
                     ") with SIGKILL at +", Seconds(killed - started),
                     " of training"));
    std::string recovery;
    const int attempt = job.attempt();
    if (kill.target == Kill::kServer) {
      const bool changed = WaitFor(
          [&](const v1::Job& j) {
            return j.state() != v1::RUNNING ||
                   (j.partition_map().epoch() > epoch &&
                    !HoldsAGroup(j.partition_map(), victim));
          },
          &job, killed + absl::Minutes(2));
      if (changed && job.state() == v1::PENDING && job.attempt() > attempt) {
        // Every replica of a piece was lost: the job resumes from its
        // newest checkpoint.
        if (WaitFor([](const v1::Job& j) { return j.state() != v1::PENDING; },
                    &job, killed + absl::Minutes(2)) &&
            job.state() == v1::RUNNING) {
          recovery = absl::StrCat(
              "resumed from the checkpoint at step ", job.resume_step(),
              " (attempt ", job.attempt() + 1, ") on ",
              job.partition_map().servers_size(), " servers at +",
              Seconds(absl::Now() - started), ", ",
              Seconds(absl::Now() - killed), " after the kill");
        }
      } else if (changed && job.state() == v1::RUNNING) {
        recovery = absl::StrCat(
            "failover to epoch ", job.partition_map().epoch(),
            " at +", Seconds(absl::Now() - started), ", ",
            Seconds(absl::Now() - killed), " after the kill; group 0 led by ",
            job.partition_map().groups(0).replicas(0).member_id());
      }
    } else {
      if (WaitFor(
              [&](const v1::Job& j) {
                return j.state() != v1::RUNNING ||
                       (j.worker_ids_size() > 0 && !j.worker_ids(0).empty() &&
                        j.worker_ids(0) != victim);
              },
              &job, killed + absl::Minutes(2)) &&
          job.state() == v1::RUNNING) {
        recovery = absl::StrCat("rank 0 taken over by ", job.worker_ids(0),
                                " at +", Seconds(absl::Now() - started), ", ",
                                Seconds(absl::Now() - killed),
                                " after the kill");
      }
    }
    if (recovery.empty()) {
      recovery = absl::StrCat("no recovery seen (job ",
                              v1::JobState_Name(job.state()), ")");
    }
    Say(absl::StrCat("fault: ", recovery));
    absl::MutexLock lock(&mu_);
    summary_.push_back(absl::StrCat(victim, " (", what, ") killed at +",
                                    Seconds(killed - started), "; ",
                                    recovery));
  }
}

}  // namespace ps::client
