#include "client/psctl/commands.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/psctl/export.h"
#include "client/psctl/format.h"
#include "client/psctl/plot.h"
#include "common/job_spec.h"
#include "common/job_state.h"
#include "common/rpc.h"
#include "common/status.h"

namespace ps::client {
namespace {

// Deadline of a parameter server's ServerStatus call.
constexpr absl::Duration kRpcTimeout = absl::Seconds(10);

}  // namespace

absl::StatusOr<v1::JobSpec> LoadJobSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot read job spec ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecJson(text.str());
  if (!spec.ok()) return Annotate(spec.status(), path);
  absl::Status s = ValidateJobSpec(*spec);
  if (!s.ok()) return Annotate(s, path);
  return spec;
}

absl::StatusOr<std::string> Submit(CoordinatorClient* coordinator,
                                   const v1::JobSpec& spec) {
  absl::StatusOr<std::string> id = coordinator->SubmitJob(spec);
  if (!id.ok()) return Annotate(id.status(), "job rejected");
  return id;
}

absl::Status Status(CoordinatorClient* coordinator, const std::string& job_id,
                    std::ostream& out) {
  absl::StatusOr<v1::Job> job = coordinator->GetJob(job_id);
  if (!job.ok()) return job.status();
  out << JobDetails(*job);
  return absl::OkStatus();
}

absl::Status List(CoordinatorClient* coordinator, std::ostream& out) {
  absl::StatusOr<std::vector<v1::Job>> jobs = coordinator->ListJobs();
  if (!jobs.ok()) return jobs.status();
  out << JobTable(*jobs);
  return absl::OkStatus();
}

absl::Status Cancel(CoordinatorClient* coordinator, const std::string& job_id,
                    std::ostream& out) {
  absl::StatusOr<v1::JobState> state = coordinator->CancelJob(job_id);
  if (!state.ok()) return state.status();
  out << job_id << " " << v1::JobState_Name(*state) << "\n";
  return absl::OkStatus();
}

absl::Status Plot(CoordinatorClient* coordinator, const std::string& job_id,
                  const std::string& path, std::ostream& out) {
  absl::StatusOr<v1::Job> job = coordinator->GetJob(job_id);
  if (!job.ok()) return job.status();
  absl::StatusOr<v1::JobHistory> history =
      coordinator->GetJobHistory(job_id);
  if (!history.ok()) return history.status();
  if (absl::Status s = WritePlot(*job, *history, path); !s.ok()) return s;
  out << "plot of " << job_id << " (" << history->points_size()
      << " points, steps " << history->points(0).step() << " to "
      << history->points(history->points_size() - 1).step() << ") written to "
      << path << std::endl;
  return absl::OkStatus();
}

absl::Status Cluster(CoordinatorClient* coordinator, std::ostream& out) {
  absl::StatusOr<v1::GetClusterResponse> cluster = coordinator->GetCluster();
  if (!cluster.ok()) return cluster.status();
  out << ClusterTable(*cluster);
  if (!cluster->dashboard_url().empty()) {
    out << "dashboard: " << cluster->dashboard_url() << "\n";
  }
  return absl::OkStatus();
}

absl::Status Tables(CoordinatorClient* coordinator, const std::string& job_id,
                    std::ostream& out, const RpcSecurity* security) {
  absl::StatusOr<v1::GetClusterResponse> cluster = coordinator->GetCluster();
  if (!cluster.ok()) return cluster.status();
  std::vector<ServerTables> servers;
  for (const v1::Member& m : cluster->members()) {
    if (m.role() != v1::SERVER || m.state() != v1::ALIVE) continue;
    ServerTables& st = servers.emplace_back();
    st.member_id = m.id();
    auto server =
        v1::ParameterServer::NewStub(MakeChannel(security, m.address()));
    grpc::ClientContext server_ctx;
    server_ctx.set_deadline(DeadlineIn(kRpcTimeout));
    st.status =
        FromGrpcStatus(server->ServerStatus(&server_ctx, {}, &st.response));
  }
  out << TablesTable(servers, job_id);
  return absl::OkStatus();
}

absl::Status Export(CoordinatorClient* coordinator, const std::string& job_id,
                    const std::string& path, ExportFormat format,
                    std::ostream& out,
                    std::shared_ptr<const RpcSecurity> security) {
  absl::StatusOr<v1::Job> job = coordinator->GetJob(job_id);
  if (!job.ok()) return job.status();
  ServerAccess access{.security = security};
  if (security != nullptr && security->tls()) {
    absl::StatusOr<v1::GetJobTokenResponse> token =
        coordinator->GetJobToken(job_id);
    if (!token.ok()) return token.status();
    access.job_token = token->token();
  }
  absl::Status s = ExportJob(*job, path, format, access);
  if (!s.ok()) return s;
  absl::StatusOr<std::vector<ExportedTable>> written = ReadExport(path, format);
  if (!written.ok()) return written.status();
  int64_t values = 0, rows = 0;
  for (const ExportedTable& t : *written) {
    values += static_cast<int64_t>(t.values.size());
    rows += static_cast<int64_t>(t.keys.size());
  }
  out << "exported " << written->size() << " tables (" << values << " values, "
      << rows << " sparse rows) of " << job_id << " to " << path << " ("
      << (format == ExportFormat::kPsx ? "psx" : "safetensors") << ")\n";
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> Watch(
    CoordinatorClient* coordinator, const std::string& job_id,
    std::ostream& out, absl::Duration timeout, absl::Duration every,
    const std::function<void(grpc::ClientContext*)>& on_context) {
  v1::JobState shown = v1::JOB_STATE_UNSPECIFIED;
  absl::Time last = absl::InfinitePast();
  auto show = [&](const v1::Job& job) {
    if (job.state() != shown || absl::Now() - last >= every ||
        IsFinal(job.state())) {
      out << ProgressLine(job) << std::endl;
      shown = job.state();
      last = absl::Now();
    }
  };
  // A coordinator that restarts breaks the stream (UNAVAILABLE): watch
  // again until the timeout, or until it has been unavailable for
  // kCoordinatorOutage in a row.
  constexpr absl::Duration kCoordinatorOutage = absl::Seconds(60);
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<v1::Job> job;
  absl::Time outage = absl::InfiniteFuture();  // since when it is down
  while (true) {
    const absl::Time call = absl::Now();
    job = coordinator->WatchJob(job_id, deadline - call, show, on_context);
    const absl::Time now = absl::Now();
    if (!absl::IsUnavailable(job.status()) || now >= deadline) break;
    // A stream that lasted was connected: a new outage starts now.
    if (now - call > absl::Seconds(1)) outage = absl::InfiniteFuture();
    if (outage == absl::InfiniteFuture()) {
      out << "coordinator unavailable (" << job.status().message()
          << "); watching again for up to "
          << absl::FormatDuration(kCoordinatorOutage) << std::endl;
      outage = now;
    } else if (now - outage >= kCoordinatorOutage) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  if (!job.ok()) {
    return Annotate(job.status(), absl::StrCat("watching ", job_id));
  }
  if (!IsFinal(job->state())) return coordinator->GetJob(job_id);
  return job;
}

}  // namespace ps::client
