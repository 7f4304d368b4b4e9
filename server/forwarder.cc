#include "server/forwarder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "common/status.h"
#include "server/wire_format.h"

namespace ps::server {
namespace {

const std::string& ReplicateMethod() {
  static const std::string* method =
      new std::string("/ps.v1.ParameterServer/Replicate");
  return *method;
}

// Fields appended to a serialised PushRequest: protobuf keeps the last value
// of each, so these override the client's epoch.
std::string ForwardTail(uint64_t epoch, uint64_t op) {
  v1::PushRequest tail;
  tail.set_epoch(epoch);
  tail.set_replica_op(op);
  return tail.SerializeAsString();
}

}  // namespace

struct Forwarder::Push {
  GroupHandle group;
  uint64_t op = 0;
  grpc::ByteBuffer request;
  absl::Time give_up;
  absl::Mutex mu;
  int remaining ABSL_GUARDED_BY(mu) = 0;
  absl::Status error ABSL_GUARDED_BY(mu);
  std::function<void(absl::Status)> done;

  // One backup is finished with `s`; the last one calls done.
  void Finished(const absl::Status& s) {
    absl::Status result;
    {
      absl::MutexLock lock(&mu);
      if (!s.ok() && error.ok()) error = s;
      if (--remaining > 0) return;
      result = error;
    }
    done(result);
  }
};

struct Forwarder::Target {
  std::shared_ptr<Push> push;
  v1::ServerEndpoint backup;
  int attempt = 0;
  uint64_t epoch = 0;  // the epoch the attempt in flight carries
  std::unique_ptr<grpc::ClientContext> context;  // of the attempt in flight
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
};

Forwarder::Forwarder(ReportFn report,
                     std::shared_ptr<const RpcSecurity> security)
    : report_(std::move(report)), security_(std::move(security)) {
  retry_thread_ = std::thread([this] { RetryLoop(); });
}

Forwarder::~Forwarder() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  retry_thread_.join();
  {
    // Callbacks of RPCs in flight use this object.
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](int* n) { return *n == 0; }, &in_flight_),
                         kForwardAttempt + absl::Seconds(2));
  }
  // Whatever still waits for a retry fails now.
  std::vector<std::shared_ptr<Target>> left;
  {
    absl::MutexLock lock(&mu_);
    while (!later_.empty()) {
      left.push_back(later_.top().target);
      later_.pop();
    }
  }
  for (auto& t : left) {
    t->push->Finished(absl::AbortedError("server shutting down"));
  }
}

void Forwarder::Forward(const GroupHandle& group, uint64_t op,
                        const grpc::ByteBuffer& request,
                        const std::vector<v1::ServerEndpoint>& backups,
                        std::function<void(absl::Status)> done) {
  if (backups.empty()) {
    done(absl::OkStatus());
    return;
  }
  auto push = std::make_shared<Push>();
  push->group = group;
  push->op = op;
  push->request = request;
  push->give_up = absl::Now() + kForwardLimit;
  push->done = std::move(done);
  {
    absl::MutexLock lock(&push->mu);
    push->remaining = static_cast<int>(backups.size());
  }
  for (const v1::ServerEndpoint& b : backups) {
    auto target = std::make_shared<Target>();
    target->push = push;
    target->backup = b;
    Send(std::move(target));
  }
}

grpc::GenericStub* Forwarder::StubFor(const std::string& address,
                                      uint64_t op) {
  const int channel = static_cast<int>(op % kForwardChannels);
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[absl::StrCat(channel, "/", address)];
  if (stub == nullptr) {
    stub = std::make_unique<grpc::GenericStub>(MakeChannel(security_.get(), address, channel));
  }
  return stub.get();
}

void Forwarder::Send(std::shared_ptr<Target> target) {
  Push& push = *target->push;
  {
    absl::MutexLock lock(&mu_);
    if (stop_) {
      mu_.Unlock();
      push.Finished(absl::AbortedError("server shutting down"));
      mu_.Lock();
      return;
    }
  }
  // Each attempt carries the group's epoch as this server knows it now.
  std::vector<grpc::Slice> slices;
  if (!push.request.Dump(&slices).ok()) {
    push.Finished(absl::InternalError("forwarded push bytes unreadable"));
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
  }
  target->epoch = push.group.epoch();
  slices.emplace_back(ForwardTail(target->epoch, push.op));
  target->request = grpc::ByteBuffer(slices.data(), slices.size());
  target->response.Clear();
  // A fresh context per attempt: a ClientContext is good for one call.
  target->context = std::make_unique<grpc::ClientContext>();
  target->context->set_deadline(
      absl::ToChronoTime(std::min(absl::Now() + kForwardAttempt,
                                  push.give_up + absl::Seconds(1))));
  grpc::GenericStub* stub = StubFor(target->backup.address(), push.op);
  stub->UnaryCall(target->context.get(), ReplicateMethod(), grpc::StubOptions(),
                  &target->request, &target->response,
                  [this, target](grpc::Status status) {
                    OnAnswer(target, status);
                    absl::MutexLock lock(&mu_);
                    --in_flight_;
                  });
}

void Forwarder::OnAnswer(std::shared_ptr<Target> target,
                         const grpc::Status& status) {
  Push& push = *target->push;
  const GroupHandle& group = push.group;
  if (status.ok()) {
    push.Finished(absl::OkStatus());
    return;
  }
  const std::string& who = target->backup.member_id();
  if (group.fenced()) {
    push.Finished(absl::FailedPreconditionError(absl::StrCat(
        "job ", group.job_id(), " group ", group.group(),
        ": this server was replaced as its primary; refresh the map")));
    return;
  }
  if (!group.HasBackup(who)) {
    // The coordinator took it out of the group: it no longer counts.
    push.Finished(absl::OkStatus());
    return;
  }
  if (group.IsJoining(who)) {
    // A copy in progress is not waited for: it is dropped, and the copy
    // (CopyGroup) fails; the coordinator tries again.
    Logger("server")->warn("job {} group {}: copy to {} failed at op {}: {}",
                           group.job_id(), group.group(), who, push.op,
                           status.error_message());
    group.RemoveBackup(who);
    push.Finished(absl::OkStatus());
    return;
  }
  const bool replaced = status.error_code() == grpc::FAILED_PRECONDITION;
  const uint64_t sent_epoch = target->epoch;
  if (replaced && group.epoch() > sent_epoch) {
    // This server moved to a newer epoch meanwhile: send it again with it.
    Send(std::move(target));
    return;
  }
  if (replaced) {
    // The backup leads the group now (ps_service.h, Replicate): this server
    // was replaced. Fence the group.
    Logger("server")->warn(
        "job {} group {}: backup {} refused op {} ({}); this server is no "
        "longer the group's primary",
        group.job_id(), group.group(), who, push.op, status.error_message());
    group.Fence();
    push.Finished(absl::FailedPreconditionError(absl::StrCat(
        "job ", group.job_id(), " group ", group.group(), ": ", who,
        " leads the group after epoch ", sent_epoch,
        ": this server was replaced as the group's primary; refresh the map")));
    return;
  }
  if (absl::Now() >= push.give_up) {
    // The backup may or may not have applied it, and this server cannot
    // apply it without knowing: rather than let the copies differ, the
    // group stops here (fenced) until the coordinator reassigns it.
    Logger("server")->error(
        "job {} group {}: backup {} took no push for {} while it stayed in "
        "the group; fencing the group",
        group.job_id(), group.group(), who, absl::FormatDuration(kForwardLimit));
    group.Fence();
    push.Finished(absl::UnavailableError(absl::StrCat(
        "job ", group.job_id(), " group ", group.group(), ": backup ", who,
        " at ", target->backup.address(), " did not take push op ", push.op,
        " within ", absl::FormatDuration(kForwardLimit), ": ",
        status.error_message())));
    return;
  }
  if (status.error_code() == grpc::UNAVAILABLE ||
      status.error_code() == grpc::DEADLINE_EXCEEDED) {
    Report(group.job_id(), who);
  }
  ++target->attempt;
  Retry(std::move(target),
        absl::Milliseconds(std::min(20 << std::min(target->attempt, 5), 500)));
}

void Forwarder::Report(const std::string& job_id,
                       const std::string& member_id) {
  if (!report_) return;
  {
    absl::MutexLock lock(&mu_);
    absl::Time& last = reported_[member_id];
    const absl::Time now = absl::Now();
    if (now - last < absl::Seconds(1)) return;
    last = now;
  }
  report_(job_id, member_id);
}

void Forwarder::Retry(std::shared_ptr<Target> target, absl::Duration after) {
  absl::MutexLock lock(&mu_);
  if (stop_) {
    mu_.Unlock();
    target->push->Finished(absl::AbortedError("server shutting down"));
    mu_.Lock();
    return;
  }
  later_.push({absl::Now() + after, std::move(target)});
}

void Forwarder::RetryLoop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    if (later_.empty()) {
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](Forwarder* f) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                 return f->stop_ || !f->later_.empty();
                               },
                               this),
                           absl::Milliseconds(200));
      continue;
    }
    const absl::Time at = later_.top().at;
    if (absl::Now() < at) {
      mu_.AwaitWithDeadline(
          absl::Condition(
              +[](bool* stop) { return *stop; }, &stop_),
          at);
      continue;
    }
    std::shared_ptr<Target> target = later_.top().target;
    later_.pop();
    mu_.Unlock();
    Send(std::move(target));
    mu_.Lock();
  }
}

}  // namespace ps::server
