// A push whose server stops reading mid-request (the process is frozen with
// SIGSTOP): PsClient sends push values straight from the caller's buffer,
// so it must not return while gRPC still holds that memory, and must not
// wait for it without bound either.
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_cluster.h"
#include "client/call_batch.h"
#include "client/ps_client.h"
#include "common/partition.h"
#include "common/rpc.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

TEST(FrozenServerTest, PushEndsWithinItsBoundsAndGivesBackTheGradients) {
  const std::string work_dir = std::getenv("TEST_TMPDIR");
  absl::StatusOr<std::vector<bench::ServerProcess>> servers =
      bench::StartServers(RunfilesBinDir() + "/server/ps_server", 1, work_dir);
  ASSERT_TRUE(servers.ok()) << servers.status();
  constexpr int64_t kValues = 16 << 20;  // 64 MB: more than loopback buffers
  v1::TableDef table;
  table.set_name("w");
  table.set_size(kValues);
  table.mutable_init()->set_kind(v1::Initializer::ZEROS);
  table.mutable_optimizer()->set_type(v1::SGD);
  table.mutable_optimizer()->set_learning_rate(1.0f);
  absl::StatusOr<v1::PartitionMap> map =
      BuildPartitionMap(1, {(*servers)[0].endpoint}, {table});
  ASSERT_TRUE(map.ok()) << map.status();
  ASSERT_TRUE(bench::CreateTables("frozen", *map).ok());
  const absl::Duration timeout = absl::Seconds(1);
  auto client = client::PsClient::Create(
      "frozen", *map, {.rpc_timeout = timeout, .max_attempts = 1});
  ASSERT_TRUE(client.ok()) << client.status();
  const std::vector<client::TableRef> refs = {{"w", 0, kValues, 0}};
  std::vector<float> grads(kValues, 1.0f), values(kValues);
  ASSERT_TRUE((*client)->Push(refs, grads.data()).ok());

  const pid_t pid = (*servers)[0].process->pid();
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  const absl::Time start = absl::Now();
  absl::Status s = (*client)->Push(refs, grads.data());
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(kill(pid, SIGCONT), 0);
  // The call fails as a timeout naming the server; INTERNAL would mean that
  // gRPC kept the gradients past kMaxTransportHold.
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("push to server"), std::string::npos) << s;
  EXPECT_LT(took, timeout + client::CallBatch::kWaitGrace + kMaxTransportHold)
      << "took " << took;
  std::cerr << "push to a frozen server returned after " << took << "\n";

  // The buffer is the caller's again: rewriting it cannot reach the server.
  // The thawed server then answers a new client, and holds each value
  // -1 (the first push) or -2 (if the timed-out push arrived whole), never
  // anything from the rewritten buffer.
  std::fill(grads.begin(), grads.end(), 1000.0f);
  auto fresh = client::PsClient::Create("frozen", *map, {});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_TRUE((*fresh)->Pull(refs, values.data()).ok());
  for (int64_t i = 0; i < kValues; i += 4099) {
    ASSERT_TRUE(values[i] == -1.0f || values[i] == -2.0f)
        << "value " << i << " is " << values[i];
  }
}

}  // namespace
}  // namespace ps::testing
