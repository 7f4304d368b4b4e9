#include "common/member_agent.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "common/status.h"

namespace ps {

MemberAgent::MemberAgent(MemberAgentOptions options,
                         HeartbeatCallback on_heartbeat)
    : options_(std::move(options)),
      on_heartbeat_(std::move(on_heartbeat)),
      stub_(v1::Coordinator::NewStub(MakeChannel(options_.security.get(), options_.coordinator))) {}

absl::StatusOr<std::unique_ptr<MemberAgent>> MemberAgent::Start(
    MemberAgentOptions options, HeartbeatCallback on_heartbeat) {
  std::unique_ptr<MemberAgent> agent(
      new MemberAgent(std::move(options), std::move(on_heartbeat)));
  const absl::Time deadline = absl::Now() + agent->options_.register_timeout;
  absl::Status s;
  while (!(s = agent->Register()).ok()) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "could not register with coordinator ", agent->options_.coordinator,
          " within ", absl::FormatDuration(agent->options_.register_timeout),
          ": ", s.message()));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  agent->thread_ = std::thread([a = agent.get()] { a->Loop(); });
  return agent;
}

MemberAgent::~MemberAgent() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
  std::vector<std::thread> reports;
  {
    absl::MutexLock lock(&mu_);
    reports.swap(reports_);
  }
  for (std::thread& t : reports) t.join();  // each has its deadline
}

std::string MemberAgent::member_id() const {
  absl::MutexLock lock(&mu_);
  return member_id_;
}

bool MemberAgent::LeaseHeld() const {
  absl::MutexLock lock(&mu_);
  return absl::Now() - renewed_ < lease_ * 3 / 4;
}

void MemberAgent::ReportUnreachable(const std::string& job_id,
                                    std::vector<std::string> server_ids) {
  v1::ReportUnreachableRequest request;
  request.set_job_id(job_id);
  request.set_reporter(member_id());
  for (std::string& id : server_ids) request.add_server_ids(std::move(id));
  absl::MutexLock lock(&mu_);
  reports_.emplace_back([this, request] {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(options_.rpc_timeout));
    v1::ReportUnreachableResponse response;
    grpc::Status s = stub_->ReportUnreachable(&ctx, request, &response);
    if (!s.ok()) {
      Logger("member")->warn("reporting unreachable servers of {}: {}",
                             request.job_id(), s.error_message());
    }
  });
}

absl::Status MemberAgent::Register() {
  const absl::Time sent = absl::Now();
  v1::RegisterRequest request;
  request.set_role(options_.role);
  request.set_address(options_.address);
  request.set_metrics_address(options_.metrics_address);
  v1::RegisterResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(options_.rpc_timeout));
  absl::Status s = FromGrpcStatus(stub_->Register(&ctx, request, &response));
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  member_id_ = response.member_id();
  SetLogMember(member_id_);
  incarnation_ = response.incarnation();
  interval_ = absl::Milliseconds(std::max<int64_t>(response.heartbeat_interval_ms(), 10));
  lease_ = absl::Milliseconds(response.lease_ms());
  renewed_ = sent;
  Logger("member")->info("registered with {} as {} (lease {} ms)",
                         options_.coordinator, member_id_, response.lease_ms());
  return absl::OkStatus();
}

void MemberAgent::Loop() {
  while (true) {
    absl::Duration interval;
    v1::HeartbeatRequest request;
    {
      absl::MutexLock lock(&mu_);
      interval = interval_;
      request.set_member_id(member_id_);
      request.set_incarnation(incarnation_);
    }
    if (stop_.WaitForNotificationWithTimeout(interval)) return;
    v1::HeartbeatResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(options_.rpc_timeout));
    const absl::Time sent = absl::Now();
    grpc::Status s = stub_->Heartbeat(&ctx, request, &response);
    if (s.ok()) {
      {
        absl::MutexLock lock(&mu_);
        renewed_ = sent;
      }
      on_heartbeat_(response);
    } else if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      Logger("member")->warn("coordinator forgot member {}: {}; registering again",
                             request.member_id(), s.error_message());
      {
        absl::MutexLock lock(&mu_);
        renewed_ = absl::InfinitePast();
      }
      if (options_.on_forgotten) options_.on_forgotten();
      absl::Status r = Register();
      if (!r.ok()) Logger("member")->warn("register failed: {}", r.ToString());
    } else {
      Logger("member")->warn("heartbeat to {} failed: {}", options_.coordinator,
                             s.error_message());
    }
  }
}

}  // namespace ps
