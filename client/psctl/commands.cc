#include "client/psctl/commands.h"

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "client/psctl/export.h"
#include "client/psctl/format.h"
#include "common/job_spec.h"
#include "common/job_state.h"
#include "common/rpc.h"
#include "common/status.h"

namespace ps::client {
namespace {

constexpr absl::Duration kRpcTimeout = absl::Seconds(10);

absl::StatusOr<v1::Job> GetJob(v1::Coordinator::Stub* stub,
                               const std::string& job_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kRpcTimeout));
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  absl::Status s = FromGrpcStatus(stub->GetJob(&ctx, request, &job));
  if (!s.ok()) return s;
  return job;
}

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

absl::StatusOr<std::string> Submit(v1::Coordinator::Stub* stub,
                                   const v1::JobSpec& spec) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kRpcTimeout));
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitJobResponse response;
  absl::Status s = FromGrpcStatus(stub->SubmitJob(&ctx, request, &response));
  if (!s.ok()) return Annotate(s, "job rejected");
  return response.job_id();
}

absl::Status Status(v1::Coordinator::Stub* stub, const std::string& job_id,
                    std::ostream& out) {
  absl::StatusOr<v1::Job> job = GetJob(stub, job_id);
  if (!job.ok()) return job.status();
  out << JobDetails(*job);
  return absl::OkStatus();
}

absl::Status List(v1::Coordinator::Stub* stub, std::ostream& out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kRpcTimeout));
  v1::ListJobsResponse response;
  absl::Status s = FromGrpcStatus(stub->ListJobs(&ctx, {}, &response));
  if (!s.ok()) return s;
  out << JobTable({response.jobs().begin(), response.jobs().end()});
  return absl::OkStatus();
}

absl::Status Cancel(v1::Coordinator::Stub* stub, const std::string& job_id,
                    std::ostream& out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kRpcTimeout));
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::CancelJobResponse response;
  absl::Status s = FromGrpcStatus(stub->CancelJob(&ctx, request, &response));
  if (!s.ok()) return s;
  out << job_id << " " << v1::JobState_Name(response.state()) << "\n";
  return absl::OkStatus();
}

absl::Status Cluster(v1::Coordinator::Stub* stub, std::ostream& out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kRpcTimeout));
  v1::GetClusterResponse response;
  absl::Status s = FromGrpcStatus(stub->GetCluster(&ctx, {}, &response));
  if (!s.ok()) return s;
  out << ClusterTable(response);
  return absl::OkStatus();
}

absl::Status Tables(v1::Coordinator::Stub* stub, const std::string& job_id,
                    std::ostream& out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kRpcTimeout));
  v1::GetClusterResponse cluster;
  absl::Status s = FromGrpcStatus(stub->GetCluster(&ctx, {}, &cluster));
  if (!s.ok()) return s;
  std::vector<ServerTables> servers;
  for (const v1::Member& m : cluster.members()) {
    if (m.role() != v1::SERVER || m.state() != v1::ALIVE) continue;
    ServerTables& st = servers.emplace_back();
    st.member_id = m.id();
    auto server = v1::ParameterServer::NewStub(MakeChannel(m.address()));
    grpc::ClientContext server_ctx;
    server_ctx.set_deadline(DeadlineIn(kRpcTimeout));
    st.status =
        FromGrpcStatus(server->ServerStatus(&server_ctx, {}, &st.response));
  }
  out << TablesTable(servers, job_id);
  return absl::OkStatus();
}

absl::Status Export(v1::Coordinator::Stub* stub, const std::string& job_id,
                    const std::string& path, std::ostream& out) {
  absl::StatusOr<v1::Job> job = GetJob(stub, job_id);
  if (!job.ok()) return job.status();
  absl::Status s = ExportJob(*job, path);
  if (!s.ok()) return s;
  absl::StatusOr<std::vector<ExportedTable>> written = ReadExport(path);
  if (!written.ok()) return written.status();
  int64_t values = 0, rows = 0;
  for (const ExportedTable& t : *written) {
    values += static_cast<int64_t>(t.values.size());
    rows += static_cast<int64_t>(t.keys.size());
  }
  out << "exported " << written->size() << " tables (" << values << " values, "
      << rows << " sparse rows) of " << job_id << " to " << path << "\n";
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> Watch(
    v1::Coordinator::Stub* stub, const std::string& job_id, std::ostream& out,
    absl::Duration timeout, absl::Duration every,
    const std::function<void(grpc::ClientContext*)>& on_context) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(timeout));
  if (on_context) on_context(&ctx);
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  auto reader = stub->WatchJob(&ctx, request);
  v1::Job job;
  v1::JobState shown = v1::JOB_STATE_UNSPECIFIED;
  absl::Time last = absl::InfinitePast();
  while (reader->Read(&job)) {
    if (job.state() != shown || absl::Now() - last >= every ||
        IsFinal(job.state())) {
      out << ProgressLine(job) << std::endl;
      shown = job.state();
      last = absl::Now();
    }
  }
  absl::Status s = FromGrpcStatus(reader->Finish());
  if (on_context) on_context(nullptr);  // ctx ends with this call
  if (!s.ok()) return Annotate(s, absl::StrCat("watching ", job_id));
  if (!IsFinal(job.state())) return GetJob(stub, job_id);
  return job;
}

}  // namespace ps::client
