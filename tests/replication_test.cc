// Replication's guarantees with real server processes and real gRPC:
//   - exactly once: pushes acknowledged before a primary's SIGKILL are all
//     on its backup afterwards, and none is applied twice, though clients
//     send every unanswered push again to the new primary;
//   - fencing: a primary frozen (SIGSTOP) and replaced never applies or
//     serves the group again once it runs (SIGCONT).
// Here the test plays the coordinator (CreateTables, SetReplicas, the
// clients' refresh_map), so that it decides exactly when the map moves.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/bench_cluster.h"
#include "client/ps_client.h"
#include "common/partition.h"
#include "common/rpc.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

constexpr char kJob[] = "replicated";
constexpr int kThreads = 4;
constexpr int64_t kPerThread = 256;  // values each thread pushes to
constexpr int64_t kValues = kThreads * kPerThread;

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::vector<bench::ServerProcess>> servers =
        bench::StartServers(RunfilesBinDir() + "/server/ps_server", 2,
                            std::getenv("TEST_TMPDIR"));
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = *std::move(servers);
    v1::TableDef table;
    table.set_name("w");
    table.set_size(kValues);
    table.mutable_init()->set_kind(v1::Initializer::ZEROS);
    table.mutable_optimizer()->set_type(v1::SGD);
    table.mutable_optimizer()->set_learning_rate(1.0f);
    absl::StatusOr<v1::PartitionMap> map =
        BuildPartitionMap(1, {servers_[0].endpoint}, {table});
    ASSERT_TRUE(map.ok()) << map.status();
    map_ = *map;
    // One group: primary servers_[0], backup servers_[1].
    v1::ReplicaGroup* group = map_.add_groups();
    *group->add_replicas() = servers_[0].endpoint;
    *group->add_replicas() = servers_[1].endpoint;
    map_.set_replicas(2);
    for (int k = 0; k < 2; ++k) {
      v1::CreateTablesRequest request;
      request.set_job_id(kJob);
      request.set_epoch(1);
      *request.mutable_tables() = map_.tables();
      for (v1::DenseRange& r : RangesOf(map_, 0)) *request.add_ranges() = r;
      request.set_group(0);
      request.set_role(k == 0 ? v1::PRIMARY : v1::BACKUP);
      if (k == 0) *request.add_backups() = servers_[1].endpoint;
      ASSERT_TRUE(Call(k).CreateTables(Context().get(), request, nullptr).ok());
    }
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(DeadlineIn(absl::Seconds(5)));
    return ctx;
  }
  // A stub of server k (responses discarded where the caller passes null).
  struct Stub {
    std::unique_ptr<v1::ParameterServer::Stub> stub;
    grpc::Status CreateTables(grpc::ClientContext* ctx,
                              const v1::CreateTablesRequest& r,
                              v1::CreateTablesResponse*) {
      v1::CreateTablesResponse out;
      return stub->CreateTables(ctx, r, &out);
    }
  };
  Stub Call(int k) {
    return {v1::ParameterServer::NewStub(MakeChannel(servers_[k].endpoint.address()))};
  }

  // The coordinator's part after servers_[0] is gone: servers_[1] leads
  // the group alone at epoch 2.
  absl::StatusOr<v1::PartitionMap> FailOver() {
    absl::MutexLock lock(&mu_);
    if (promoted_.ok() && promoted_map_.epoch() == 2) return promoted_map_;
    v1::SetReplicasRequest request;
    request.set_job_id(kJob);
    request.set_epoch(2);
    request.set_group(0);
    request.set_role(v1::PRIMARY);
    v1::SetReplicasResponse response;
    auto stub = v1::ParameterServer::NewStub(
        MakeChannel(servers_[1].endpoint.address()));
    grpc::Status s = stub->SetReplicas(Context().get(), request, &response);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    promoted_map_ = map_;
    promoted_map_.set_epoch(2);
    promoted_map_.mutable_groups(0)->mutable_replicas()->DeleteSubrange(0, 1);
    ++failovers_;
    return promoted_map_;
  }

  std::vector<float> PullFrom(const v1::PartitionMap& map) {
    auto client = client::PsClient::Create(kJob, map, {});
    EXPECT_TRUE(client.ok()) << client.status();
    std::vector<float> values(kValues, -1.0f);
    absl::Status s = (*client)->Pull({{"w", 0, kValues, 0}}, values.data());
    EXPECT_TRUE(s.ok()) << s;
    return values;
  }

  std::vector<bench::ServerProcess> servers_;
  v1::PartitionMap map_;
  absl::Mutex mu_;
  absl::Status promoted_ = absl::OkStatus();
  v1::PartitionMap promoted_map_;
  int failovers_ = 0;
};

TEST_F(ReplicationTest, AcknowledgedPushesSurviveThePrimarysDeathExactlyOnce) {
  constexpr int kPushes = 400;
  std::atomic<int64_t> acknowledged_total{0};
  std::vector<int64_t> acknowledged(kThreads, 0), failed(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      client::PsClientOptions options;
      options.worker_id = absl::StrCat("pusher-", t);
      options.rpc_timeout = absl::Seconds(2);
      options.failover_timeout = absl::Seconds(30);
      options.refresh_map = [this](uint64_t,
                                   const std::vector<std::string>&) {
        return FailOver();
      };
      auto client = client::PsClient::Create(kJob, map_, options);
      ASSERT_TRUE(client.ok()) << client.status();
      // Each push subtracts 1 (SGD, lr 1) from this thread's values only.
      std::vector<float> grads(kPerThread, 1.0f);
      const std::vector<client::TableRef> refs = {
          {"w", t * kPerThread, kPerThread, 0}};
      for (int i = 0; i < kPushes; ++i) {
        if ((*client)->Push(refs, grads.data()).ok()) {
          ++acknowledged[t];
          ++acknowledged_total;
        } else {
          ++failed[t];
        }
      }
    });
  }
  // Mid-stream: the primary dies.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (acknowledged_total.load() < kThreads * kPushes / 4 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_LT(acknowledged_total.load(), kThreads * kPushes)
      << "the pushes ended before the kill";
  ASSERT_EQ(kill(servers_[0].process->pid(), SIGKILL), 0);
  for (std::thread& t : threads) t.join();
  {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(failovers_, 1);
  }
  const std::vector<float> values = PullFrom(promoted_map_);
  for (int t = 0; t < kThreads; ++t) {
    std::cerr << "thread " << t << ": " << acknowledged[t]
              << " acknowledged, " << failed[t] << " failed\n";
    for (int64_t i = 0; i < kPerThread; ++i) {
      const float applied = -values[t * kPerThread + i];
      // Every acknowledged push is there; none is there twice; a push that
      // returned an error may or may not be.
      ASSERT_GE(applied, acknowledged[t]) << "thread " << t << " value " << i;
      ASSERT_LE(applied, acknowledged[t] + failed[t])
          << "thread " << t << " value " << i;
    }
  }
}

// The whole state of server k's copy of group 0, as ReadSnapshot streams it.
std::string ReadSnapshot(const bench::ServerProcess& server, uint64_t* op) {
  auto stub =
      v1::ParameterServer::NewStub(MakeChannel(server.endpoint.address()));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
  v1::ReadSnapshotRequest request;
  request.set_job_id(kJob);
  request.set_group(0);
  auto reader = stub->ReadSnapshot(&ctx, request);
  std::string bytes;
  v1::SnapshotChunk chunk;
  bool first = true;
  while (reader->Read(&chunk)) {
    if (first) *op = chunk.op();
    first = false;
    bytes += chunk.data();
  }
  EXPECT_TRUE(reader->Finish().ok());
  return bytes;
}

// Concurrent pushes from several workers reach the primary in whatever
// order; the backup applies them in the primary's, so both copies end up
// the same to the last bit: values, optimizer state, dedup record, clocks.
TEST_F(ReplicationTest, ReplicasAreIdenticalByteForByte) {
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = client::PsClient::Create(
          kJob, map_, {.worker_id = absl::StrCat("pusher-", t)});
      ASSERT_TRUE(client.ok()) << client.status();
      // Every thread writes every value, with gradients whose sums round
      // differently in different orders.
      std::vector<float> grads(kValues);
      for (int i = 0; i < 100; ++i) {
        for (int64_t v = 0; v < kValues; ++v) {
          grads[v] = 0.1f * static_cast<float>((t * 7 + i * 13 + v) % 17) /
                     static_cast<float>(3 + t);
        }
        ASSERT_TRUE(
            (*client)->Push({{"w", 0, kValues, 0}}, grads.data()).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  uint64_t primary_op = 0, backup_op = 0;
  const std::string primary = ReadSnapshot(servers_[0], &primary_op);
  const std::string backup = ReadSnapshot(servers_[1], &backup_op);
  EXPECT_EQ(primary_op, kThreads * 100u);
  EXPECT_EQ(backup_op, primary_op);
  EXPECT_GT(primary.size(), kValues * sizeof(float));
  EXPECT_TRUE(primary == backup) << "the copies differ";
}

TEST_F(ReplicationTest, ReplacedPrimaryNeverAppliesNorServesTheGroupAgain) {
  auto client = client::PsClient::Create(kJob, map_, {.worker_id = "w"});
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<float> grads(kValues, 1.0f);
  const std::vector<client::TableRef> refs = {{"w", 0, kValues, 0}};
  ASSERT_TRUE((*client)->Push(refs, grads.data()).ok());

  // The primary freezes; the coordinator (here, the test) gives the group
  // to the backup, which takes a push.
  const pid_t zombie = servers_[0].process->pid();
  ASSERT_EQ(kill(zombie, SIGSTOP), 0);
  absl::StatusOr<v1::PartitionMap> promoted = FailOver();
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  auto fresh = client::PsClient::Create(kJob, *promoted, {.worker_id = "w2"});
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->Push(refs, grads.data()).ok());
  ASSERT_EQ(kill(zombie, SIGCONT), 0);

  // A client still holding the old map reaches the old primary: its push
  // is refused (the backup, now primary at a newer epoch, fences it), and
  // so is any pull from it afterwards.
  auto stale = client::PsClient::Create(
      kJob, map_, {.worker_id = "w3", .rpc_timeout = absl::Seconds(10),
                   .max_attempts = 1});
  ASSERT_TRUE(stale.ok());
  absl::Status pushed = (*stale)->Push(refs, grads.data());
  EXPECT_EQ(pushed.code(), absl::StatusCode::kFailedPrecondition) << pushed;
  std::vector<float> values(kValues);
  absl::Status pulled = (*stale)->Pull(refs, values.data());
  EXPECT_EQ(pulled.code(), absl::StatusCode::kFailedPrecondition) << pulled;

  // The zombie applied nothing after the first push; the new primary has
  // both pushes and only those.
  auto stub = v1::ParameterServer::NewStub(
      MakeChannel(servers_[0].endpoint.address()));
  v1::ServerStatusResponse status;
  ASSERT_TRUE(stub->ServerStatus(Context().get(), {}, &status).ok());
  ASSERT_EQ(status.jobs_size(), 1);
  EXPECT_EQ(status.jobs(0).pushes_applied(), 1);
  EXPECT_TRUE(status.jobs(0).fenced());
  const std::vector<float> now = PullFrom(*promoted);
  for (float v : now) ASSERT_EQ(v, -2.0f);
}

}  // namespace
}  // namespace ps::testing
