#include "client/psctl/format.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_format.h"
#include "common/model_layout.h"

namespace ps::client {

std::string Clock(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "-";
  const int64_t s = std::llround(seconds);
  if (s >= 3600)
    return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

std::string ProgressLine(const v1::Job& job) {
  const v1::JobProgress& p = job.progress();
  std::string line =
      absl::StrCat(job.id(), " ", v1::JobState_Name(job.state()));
  if (job.state() == v1::PENDING)
    return absl::StrCat(line, " (", job.reason(), ")");
  absl::StrAppendFormat(&line, " epoch %d/%d step %d/%d", p.epoch(),
                        job.spec().training().epochs(), p.step(),
                        p.total_steps());
  if (p.step() > 0) {
    absl::StrAppendFormat(&line, " loss %.4f acc %.1f%% %.0f ex/s ETA %s",
                          p.loss(), 100 * p.accuracy(), p.examples_per_sec(),
                          Clock(p.eta_seconds()));
  }
  return line;
}

std::string ReplicaLines(const v1::PartitionMap& map) {
  if (map.groups_size() == 0) return "";
  int short_groups = 0;
  std::string groups;
  for (int g = 0; g < map.groups_size(); ++g) {
    std::vector<std::string> ids;
    for (const v1::ServerEndpoint& e : map.groups(g).replicas()) {
      ids.push_back(e.member_id());
    }
    short_groups += map.groups(g).replicas_size() < map.replicas();
    absl::StrAppend(&groups, "          group ", g, ": ",
                    ids.empty() ? "(none)" : absl::StrJoin(ids, ", "),
                    ids.empty() ? "" : "  (primary first)", "\n");
  }
  return absl::StrCat(
      "replicas: ", map.replicas(), " per group, epoch ", map.epoch(), ", ",
      short_groups == 0
          ? std::string("fully replicated")
          : absl::StrCat(short_groups, " of ", map.groups_size(),
                         " groups short of replicas"),
      "\n", groups);
}

// The job's learning mode, or "" for plain per-step training.
std::string ModeLine(const v1::TrainingSpec& t) {
  if (t.has_federated()) {
    return absl::StrFormat(
        "mode:     FedAvg, %d rounds, %.0f%% of the workers a round, %d local "
        "epoch%s\n",
        t.epochs(), 100 * t.federated().client_fraction(),
        t.federated().local_epochs(),
        t.federated().local_epochs() == 1 ? "" : "s");
  }
  if (t.has_averaging()) {
    return absl::StrCat(
        "mode:     local SGD, ", t.averaging().local_steps(),
        t.averaging().local_steps() == 1 ? " local step" : " local steps",
        " a round",
        t.averaging().mixing().empty() ? ", models averaged"
                                       : ", mixed by the job's matrix",
        "\n");
  }
  return "";
}

// A federated job's accuracy after each round.
std::string RoundLines(const v1::JobResult& r) {
  if (r.rounds().empty()) return "";
  std::string out = absl::StrFormat("rounds:   %5s %9s %9s  %s\n", "ROUND",
                                    "TEST ACC", "TEST LOSS", "CLIENTS");
  for (const v1::RoundResult& round : r.rounds()) {
    absl::StrAppendFormat(&out, "          %5d %8.2f%% %9.4f  %s\n",
                          round.round(), 100 * round.test_accuracy(),
                          round.test_loss(),
                          absl::StrJoin(round.clients(), " "));
  }
  return out;
}

namespace {

// An ensemble's members, one line each: what the member is and its own test
// figures, under the result line (which is the weighted ensemble's).
std::string MemberLines(const v1::Job& job) {
  const auto& members = job.spec().model().ensemble().members();
  absl::StatusOr<std::vector<std::vector<int64_t>>> sizes =
      MemberLayerSizes(job.spec());
  std::string out;
  for (const v1::MemberResult& m : job.result().members()) {
    std::string what;
    if (sizes.ok() && m.index() >= 0 && m.index() < members.size()) {
      const std::vector<int64_t>& s = (*sizes)[m.index()];
      what = absl::StrCat("  (", absl::StrJoin(s, "-"), ", seed ",
                          MemberSeed(job.spec(), m.index()), ")");
    }
    absl::StrAppendFormat(&out,
                          "          member %d: test accuracy %.2f%%  test "
                          "loss %.4f  weight %.3f%s\n",
                          m.index(), 100 * m.test_accuracy(), m.test_loss(),
                          m.weight(), what);
  }
  return out;
}

}  // namespace

std::string JobDetails(const v1::Job& job) {
  std::string out =
      absl::StrCat("job:      ", job.id(), " (", job.spec().name(), ")\n",
                   "state:    ", v1::JobState_Name(job.state()), "\n");
  if (!job.reason().empty())
    absl::StrAppend(&out, "reason:   ", job.reason(), "\n");
  absl::StrAppend(&out, "workers:  ", job.spec().cluster().num_workers(),
                  "  servers: ", job.partition_map().servers_size(), "\n");
  absl::StrAppend(&out, ReplicaLines(job.partition_map()));
  absl::StrAppend(&out, "progress: ", ProgressLine(job), "\n");
  if (job.attempt() > 0) {
    absl::StrAppend(&out, "resumed:  attempt ", job.attempt() + 1,
                    ", from step ", job.resume_step(), " of ",
                    job.resumed_from(), "\n");
  }
  if (!job.checkpoints().empty()) {
    const v1::CheckpointInfo& c = *job.checkpoints().rbegin();
    absl::StrAppendFormat(
        &out,
        "checkpoint: %d kept; newest at step %d in %s (%d bytes, %.2f s, "
        "pushes held %d us)\n",
        job.checkpoints_size(), c.step(), c.dir(), c.bytes(), c.write_seconds(),
        c.pause_us());
  }
  const v1::Consistency mode = job.spec().training().consistency();
  absl::StrAppend(
      &out, "sync:     ",
      mode == v1::CONSISTENCY_UNSPECIFIED ? "ASP" : v1::Consistency_Name(mode),
      mode == v1::SSP
          ? absl::StrCat("(", job.spec().training().staleness(), ")")
          : "",
      ", max staleness ", job.progress().max_staleness(), "\n");
  absl::StrAppend(&out, ModeLine(job.spec().training()));
  if (job.state() == v1::SUCCEEDED) {
    const v1::JobResult& r = job.result();
    if (IsSparseModel(job.spec().model().type())) {
      absl::StrAppendFormat(&out,
                            "result:   test AUC %.4f  log-loss %.4f  accuracy "
                            "%.2f%%  (%d test examples)  trained in %.1f s\n",
                            r.test_auc(), r.test_loss(),
                            100 * r.test_accuracy(), r.test_examples(),
                            r.train_seconds());
    } else {
      absl::StrAppendFormat(&out,
                            "result:   test accuracy %.2f%%  test loss %.4f  "
                            "(%d test examples)  trained in %.1f s\n",
                            100 * r.test_accuracy(), r.test_loss(),
                            r.test_examples(), r.train_seconds());
      absl::StrAppend(&out, MemberLines(job));
    }
    if (r.train_examples_per_sec() > 0) {
      absl::StrAppendFormat(&out,
                            "          training loop: %.0f examples/s over all "
                            "workers\n",
                            r.train_examples_per_sec());
    }
    absl::StrAppend(&out, RoundLines(r));
  }
  return out;
}

std::string JobTable(const std::vector<v1::Job>& jobs) {
  std::string out = absl::StrFormat("%-10s %-10s %-24s %-12s %s\n", "JOB",
                                    "STATE", "NAME", "STEP", "RESULT / REASON");
  for (const v1::Job& j : jobs) {
    std::string result = j.reason();
    if (j.state() == v1::SUCCEEDED) {
      result =
          IsSparseModel(j.spec().model().type())
              ? absl::StrFormat("auc %.4f", j.result().test_auc())
              : absl::StrFormat("acc %.2f%%", 100 * j.result().test_accuracy());
    }
    absl::StrAppendFormat(
        &out, "%-10s %-10s %-24s %-12s %s\n", j.id(),
        v1::JobState_Name(j.state()), j.spec().name().substr(0, 24),
        absl::StrCat(j.progress().step(), "/", j.progress().total_steps()),
        result);
  }
  return out;
}

std::string ClusterTable(const v1::GetClusterResponse& cluster) {
  std::string out =
      absl::StrFormat("%-12s %-7s %-22s %-6s %-10s %s\n", "MEMBER", "ROLE",
                      "ADDRESS", "STATE", "HEARTBEAT", "JOB");
  for (const v1::Member& m : cluster.members()) {
    absl::StrAppendFormat(
        &out, "%-12s %-7s %-22s %-6s %-10s %s\n", m.id(),
        m.role() == v1::SERVER ? "server" : "worker", m.address(),
        m.state() == v1::ALIVE ? "alive" : "dead",
        absl::StrCat(m.last_heartbeat_age_ms(), "ms ago"), m.job_id());
  }
  absl::StrAppend(&out, "lease: ", cluster.lease_ms(), " ms\n");
  absl::StrAppend(&out, MetricsLines(cluster));
  return out;
}

std::string MetricsLines(const v1::GetClusterResponse& cluster) {
  std::string out;
  auto line = [&out](const std::string& name, const std::string& address) {
    if (address.empty()) return;
    if (out.empty()) out = "metrics (Prometheus):\n";
    absl::StrAppendFormat(&out, "  %-12s http://%s/metrics\n", name, address);
  };
  line("coordinator", cluster.metrics_address());
  for (const v1::Member& m : cluster.members()) {
    if (m.state() == v1::ALIVE) line(m.id(), m.metrics_address());
  }
  return out;
}

std::string TablesTable(const std::vector<ServerTables>& servers,
                        const std::string& job_id) {
  std::string out = absl::StrFormat(
      "%-12s %-10s %-5s %-8s %-16s %-6s %12s %12s %14s %s\n", "SERVER", "JOB",
      "GROUP", "ROLE", "TABLE", "KIND", "ROWS", "VALUES", "BYTES", "BYTES/RAW");
  for (const ServerTables& s : servers) {
    if (!s.status.ok()) {
      absl::StrAppend(&out, s.member_id, "  no answer: ", s.status.message(),
                      "\n");
      continue;
    }
    for (const v1::TableStatus& t : s.response.tables()) {
      if (!job_id.empty() && t.job_id() != job_id) continue;
      const bool sparse = t.kind() == v1::SPARSE;
      if (!sparse && t.values() == 0) continue;  // no range of it here
      std::string role = "-";
      for (const v1::JobServerStats& j : s.response.jobs()) {
        if (j.job_id() == t.job_id() && j.group() == t.group()) {
          role = j.fenced() ? "fenced"
                            : absl::AsciiStrToLower(
                                  v1::ReplicaRole_Name(j.role()));
        }
      }
      absl::StrAppendFormat(
          &out, "%-12s %-10s %-5d %-8s %-16s %-6s %12s %12d %14d %s\n",
          s.member_id, t.job_id(), t.group(), role, t.table(),
          sparse ? "sparse" : "dense",
          sparse ? absl::StrCat(t.rows()) : "-", t.values(), t.bytes(),
          t.raw_bytes() > 0
              ? absl::StrFormat("%.2f",
                                static_cast<double>(t.bytes()) / t.raw_bytes())
              : "-");
    }
  }
  return out;
}

}  // namespace ps::client
