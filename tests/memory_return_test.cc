// A long-lived ps_server serves many jobs: when a job's tables are dropped,
// the memory they held goes back to the system, not only to malloc.
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_cluster.h"
#include "client/ps_client.h"
#include "common/partition.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

// VmRSS of `pid` in bytes, or -1.
int64_t ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::string kb = line.substr(6);
    kb.resize(kb.find("kB"));
    int64_t value = 0;
    return absl::SimpleAtoi(kb, &value) ? value * 1024 : -1;
  }
  return -1;
}

TEST(MemoryReturnTest, DroppedTablesGiveTheirMemoryBack) {
  const std::string work_dir = std::getenv("TEST_TMPDIR");
  absl::StatusOr<std::vector<bench::ServerProcess>> servers =
      bench::StartServers(RunfilesBinDir() + "/server/ps_server", 1, work_dir);
  ASSERT_TRUE(servers.ok()) << servers.status();
  const pid_t pid = (*servers)[0].process->pid();

  constexpr int64_t kDense = 25 << 20;  // 100 MiB
  constexpr int64_t kKeys = 1 << 20;
  constexpr int kDim = 8;
  v1::TableDef dense;
  dense.set_name("w");
  dense.set_size(kDense);
  dense.mutable_init()->set_kind(v1::Initializer::ZEROS);
  dense.mutable_optimizer()->set_type(v1::SGD);
  dense.mutable_optimizer()->set_learning_rate(1.0f);
  v1::TableDef sparse = dense;
  sparse.set_name("e");
  sparse.set_size(0);
  sparse.set_kind(v1::SPARSE);
  sparse.set_dim(kDim);
  absl::StatusOr<v1::PartitionMap> map =
      BuildPartitionMap(1, {(*servers)[0].endpoint}, {dense, sparse});
  ASSERT_TRUE(map.ok()) << map.status();

  const int64_t before = ResidentBytes(pid);
  ASSERT_GT(before, 0);
  {
    ASSERT_TRUE(bench::CreateTables("mem", *map).ok());
    auto client = client::PsClient::Create("mem", *map, {});
    ASSERT_TRUE(client.ok()) << client.status();
    std::vector<float> grads(kDense, 1.0f);
    ASSERT_TRUE((*client)->Push({{"w", 0, kDense, 0}}, grads.data()).ok());
    std::vector<uint64_t> keys(kKeys);
    std::iota(keys.begin(), keys.end(), uint64_t{1});
    std::vector<float> rows(kKeys * kDim, 1.0f);
    ASSERT_TRUE(
        (*client)->Push({}, nullptr, {{"e", keys, rows.data()}}, 0).ok());
  }
  const int64_t during = ResidentBytes(pid);
  ASSERT_TRUE(bench::DropTables("mem", *map).ok());
  const int64_t after = ResidentBytes(pid);
  std::cerr << "ps_server resident: before " << (before >> 20) << " MiB, with "
            << "the tables " << (during >> 20) << " MiB, after the drop "
            << (after >> 20) << " MiB\n";
  // The tables alone are 100 MiB of dense values and 32 MiB of rows.
  ASSERT_GT(during - before, int64_t{132} << 20);
  // Dropped, at most a fifth of what the job added stays resident (measured:
  // 4-13%, the rest being gRPC's own buffers; without giving memory back,
  // about half stayed).
  EXPECT_LT(after - before, (during - before) / 5);
}

}  // namespace
}  // namespace ps::testing
