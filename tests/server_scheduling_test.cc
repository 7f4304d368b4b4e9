// ps_server puts every one of its threads under SCHED_BATCH unless told not
// to (--batch_scheduling; see UseBatchScheduling in common/daemon.h).
#include <dirent.h>
#include <sched.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_cluster.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

// The scheduling policy of each thread of `pid`, from /proc (field 41 of
// stat, counted after the command name, which may hold spaces).
std::vector<int> ThreadPolicies(pid_t pid) {
  std::vector<int> policies;
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* tasks = opendir(dir.c_str());
  if (tasks == nullptr) return policies;
  while (dirent* e = readdir(tasks)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(absl::StrCat(dir, "/", e->d_name, "/stat"));
    std::stringstream text;
    text << in.rdbuf();
    const std::string stat = text.str();
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    // Fields from 3 (state) on; the policy is field 41.
    std::vector<std::string> fields =
        absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
    int policy = -1;
    if (fields.size() > 38 && absl::SimpleAtoi(fields[38], &policy)) {
      policies.push_back(policy);
    }
  }
  closedir(tasks);
  return policies;
}

std::vector<int> ServerThreadPolicies(const std::vector<std::string>& flags) {
  const std::string work_dir = std::getenv("TEST_TMPDIR");
  absl::StatusOr<std::vector<bench::ServerProcess>> servers =
      bench::StartServers(RunfilesBinDir() + "/server/ps_server", 1, work_dir,
                          flags);
  EXPECT_TRUE(servers.ok()) << servers.status();
  if (!servers.ok()) return {};
  return ThreadPolicies((*servers)[0].process->pid());
}

TEST(ServerSchedulingTest, EveryThreadIsBatchByDefault) {
  const std::vector<int> policies = ServerThreadPolicies({});
  ASSERT_GT(policies.size(), 1u);  // gRPC's threads, not only main()'s
  for (int p : policies) EXPECT_EQ(p, SCHED_BATCH);
}

TEST(ServerSchedulingTest, FlagTurnsItOff) {
  const std::vector<int> policies =
      ServerThreadPolicies({"--batch_scheduling=false"});
  ASSERT_GT(policies.size(), 1u);
  for (int p : policies) EXPECT_EQ(p, SCHED_OTHER);
}

}  // namespace
}  // namespace ps::testing
