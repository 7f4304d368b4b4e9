// Every daemon refuses a bad logging or security flag at start-up, naming
// the allowed values (an unknown --log_level used to turn logging off
// silently), and writes one JSON object a line with --log_format=json.
#include <signal.h>

#include <fstream>
#include <string>
#include <vector>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Waits (bounded) for `p` to exit and returns its exit code, or -1.
int ExitCode(Subprocess* p, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (p->Running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));  // polling the exit, bounded
  }
  return p->exit_code().value_or(-1);
}

class DaemonFlagsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(DaemonFlagsTest, BadLogFlagsAreRefusedNamingTheAllowedValues) {
  const std::string binary = RunfilesBinDir() + "/" + GetParam();
  const std::string log = std::string(std::getenv("TEST_TMPDIR")) + "/bad.log";
  for (const auto& [flag, allowed] :
       {std::pair{"--log_level=loud",
                  "allowed: trace, debug, info, warn, error, critical, off"},
        std::pair{"--log_format=xml", "allowed: text, json"}}) {
    auto p = Subprocess::Start({binary, flag, "--port=0"}, log);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(ExitCode(p->get(), absl::Seconds(10)), 2) << flag;
    const std::string output = Read(log);
    EXPECT_NE(output.find(flag), std::string::npos) << output;
    EXPECT_NE(output.find(allowed), std::string::npos) << output;
  }
}

// Secure by default: no TLS files and no --insecure, --insecure on an
// address outside loopback, and a TLS file that is not there each stop the
// daemon at start-up (exit 2) with a message naming the flag or file. No
// address is bound or dialled: the check comes first.
TEST_P(DaemonFlagsTest, SecurityFlagsAreCheckedAtStartUp) {
  const std::string binary = RunfilesBinDir() + "/" + GetParam();
  const std::string log =
      std::string(std::getenv("TEST_TMPDIR")) + "/security.log";
  const std::string missing =
      std::string(std::getenv("TEST_TMPDIR")) + "/no-such-dir";
  struct Case {
    std::vector<std::string> flags;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{}, "no TLS credentials: give --tls_dir=DIR"},
           {{"--insecure", "--host=10.1.2.3"},
            "--insecure on 10.1.2.3, which is not a loopback address"},
           {{"--tls_dir=" + missing},
            "cannot read the TLS cert file " + missing + "/tls.crt"},
           {{"--insecure", "--tls_dir=" + missing},
            "--insecure and TLS files"}}) {
    std::vector<std::string> argv = {binary, "--port=0"};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    auto p = Subprocess::Start(argv, log);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(ExitCode(p->get(), absl::Seconds(10)), 2) << c.says;
    const std::string output = Read(log);
    EXPECT_NE(output.find(c.says), std::string::npos) << output;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryDaemon, DaemonFlagsTest,
                         ::testing::Values("coordinator/ps_coordinator",
                                           "server/ps_server",
                                           "worker/ps_worker"));

TEST(JsonLogTest, CoordinatorWritesOneJsonObjectALine) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  const std::string port_file = dir + "/coordinator.addr";
  const std::string log = dir + "/json.log";
  auto p = Subprocess::Start(
      {RunfilesBinDir() + "/coordinator/ps_coordinator", "--port=0",
       "--insecure",
       "--log_format=json", "--port_file=" + port_file},
      log);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(WaitForFileLine(port_file, absl::Seconds(20), p->get()).ok());
  ASSERT_EQ(::kill((*p)->pid(), SIGTERM), 0);
  EXPECT_EQ(ExitCode(p->get(), absl::Seconds(10)), 0);
  std::istringstream lines(Read(log));
  std::string line;
  int records = 0;
  while (std::getline(lines, line)) {
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(record.is_discarded()) << "not JSON: " << line;
    EXPECT_EQ(record["component"], "coordinator") << line;
    EXPECT_TRUE(record.contains("time") && record.contains("level") &&
                record.contains("message"))
        << line;
    ++records;
  }
  EXPECT_GE(records, 2);  // serving, then the signal
}

TEST(JsonLogTest, AMemberNamesItselfOnceRegistered) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  const std::string port_file = dir + "/coordinator2.addr";
  auto coordinator = Subprocess::Start(
      {RunfilesBinDir() + "/coordinator/ps_coordinator", "--port=0",
       "--insecure", "--port_file=" + port_file},
      dir + "/coordinator2.log");
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  absl::StatusOr<std::string> address =
      WaitForFileLine(port_file, absl::Seconds(20), coordinator->get());
  ASSERT_TRUE(address.ok()) << address.status();
  const std::string log = dir + "/server-json.log";
  auto server = Subprocess::Start(
      {RunfilesBinDir() + "/server/ps_server", "--port=0", "--insecure",
       "--coordinator=" + *address, "--log_format=json"},
      log);
  ASSERT_TRUE(server.ok()) << server.status();
  nlohmann::json registered;
  for (absl::Time deadline = absl::Now() + absl::Seconds(20);
       registered.is_null() && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(20))) {
    std::istringstream lines(Read(log));
    std::string line;
    while (std::getline(lines, line)) {
      nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
      if (!record.is_discarded() &&
          record.value("message", "").find("registered") != std::string::npos) {
        registered = record;
      }
    }
  }
  ASSERT_FALSE(registered.is_null()) << Read(log);
  EXPECT_EQ(registered["member"], "server-1") << registered.dump();
}

}  // namespace
}  // namespace ps::testing
