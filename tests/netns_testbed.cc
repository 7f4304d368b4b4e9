#include "tests/netns_testbed.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/subprocess.h"

namespace ps::testing {

namespace {

constexpr absl::Duration kIpTimeout = absl::Seconds(20);

std::string IpProgram() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "ip";
}

std::string TempLog() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  static int n = 0;
  return absl::StrCat(tmp ? tmp : "/tmp", "/cmd-", getpid(), "-", ++n, ".log");
}

// Deletes test beds whose creating process is gone ("pst<pid>-...").
void DeleteStale() {
  std::string list;
  if (!RunCommand({IpProgram(), "netns", "list"}, kIpTimeout, &list).ok()) {
    return;
  }
  for (absl::string_view line : absl::StrSplit(list, '\n', absl::SkipEmpty())) {
    const absl::string_view name = line.substr(0, line.find(' '));
    if (!absl::StartsWith(name, "pst")) continue;
    int pid = 0;
    const size_t dash = name.find('-');
    if (dash == absl::string_view::npos ||
        !absl::SimpleAtoi(name.substr(3, dash - 3), &pid) || pid <= 0 ||
        kill(pid, 0) == 0) {
      continue;
    }
    (void)RunCommand({IpProgram(), "netns", "delete", std::string(name)},
                     kIpTimeout);
  }
}

}  // namespace

absl::StatusOr<int> RunCommand(const std::vector<std::string>& argv,
                               absl::Duration timeout, std::string* output) {
  const std::string log = TempLog();
  absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(argv, log);
  if (!p.ok()) return absl::UnavailableError(p.status().message());
  const absl::Time deadline = absl::Now() + timeout;
  while ((*p)->Running()) {
    if (absl::Now() > deadline) {
      (*p)->Kill();
      std::filesystem::remove(log);
      return absl::DeadlineExceededError(absl::StrCat(
          absl::StrJoin(argv, " "), " ran longer than ",
          absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(10));  // polls the child's exit
  }
  if (output != nullptr) {
    std::ifstream in(log);
    std::stringstream s;
    s << in.rdbuf();
    *output = s.str();
  }
  std::filesystem::remove(log);
  return (*p)->exit_code().value_or(-1);
}

absl::Status Testbed::Ip(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {IpProgram()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string output;
  absl::StatusOr<int> code = RunCommand(argv, kIpTimeout, &output);
  if (!code.ok()) return code.status();
  if (*code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        absl::StrJoin(argv, " "), " exited ", *code, ": ", output));
  }
  return absl::OkStatus();
}

std::string Testbed::HostNs(int host) const {
  return absl::StrCat(prefix_, "-h", host);
}
std::string Testbed::BridgeNs() const { return prefix_ + "-br"; }

std::string Testbed::Address(int host) const {
  return absl::StrCat("10.201.0.", host + 1);
}

std::vector<std::string> Testbed::InHost(
    int host, const std::vector<std::string>& argv) const {
  std::vector<std::string> out = {IpProgram(), "netns", "exec", HostNs(host)};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

absl::StatusOr<std::unique_ptr<Testbed>> Testbed::Create(int hosts) {
  DeleteStale();
  std::unique_ptr<Testbed> bed(
      new Testbed(absl::StrCat("pst", getpid()), hosts));
  const std::string br = bed->BridgeNs();
  if (absl::Status s = bed->Ip({"netns", "add", br}); !s.ok()) return s;
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"-n", br, "link", "set", "lo", "up"},
           {"-n", br, "link", "add", "br0", "type", "bridge"},
           {"-n", br, "link", "set", "br0", "up"}}) {
    if (absl::Status s = bed->Ip(args); !s.ok()) return s;
  }
  for (int i = 0; i < hosts; ++i) {
    const std::string h = bed->HostNs(i);
    const std::string cable = absl::StrCat("v", i);
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{
             {"netns", "add", h},
             {"-n", h, "link", "set", "lo", "up"},
             {"-n", br, "link", "add", cable, "type", "veth", "peer", "name",
              "eth0", "netns", h},
             {"-n", br, "link", "set", cable, "master", "br0"},
             {"-n", br, "link", "set", cable, "up"},
             {"-n", h, "addr", "add", bed->Address(i) + "/24", "dev", "eth0"},
             {"-n", h, "link", "set", "eth0", "up"}}) {
      if (absl::Status s = bed->Ip(args); !s.ok()) return s;
    }
  }
  return bed;
}

Testbed::~Testbed() {
  for (int i = 0; i < hosts_; ++i) (void)Ip({"netns", "delete", HostNs(i)});
  (void)Ip({"netns", "delete", BridgeNs()});
}

absl::Status Testbed::CutLink(int host) {
  return Ip({"-n", BridgeNs(), "link", "set", absl::StrCat("v", host), "down"});
}

absl::Status Testbed::RestoreLink(int host) {
  return Ip({"-n", BridgeNs(), "link", "set", absl::StrCat("v", host), "up"});
}

absl::Status Testbed::Qdisc(int host,
                            const std::vector<std::string>& qdisc) const {
  std::string tc = IpProgram();
  tc.replace(tc.size() - 2, 2, "tc");  // beside ip, in iproute2
  std::vector<std::string> argv = {tc, "-n", BridgeNs(), "qdisc",
                                   qdisc.empty() ? "del" : "replace", "dev",
                                   absl::StrCat("v", host), "root"};
  argv.insert(argv.end(), qdisc.begin(), qdisc.end());
  std::string output;
  absl::StatusOr<int> code = RunCommand(argv, kIpTimeout, &output);
  if (!code.ok()) return code.status();
  if (*code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        absl::StrJoin(argv, " "), " exited ", *code, ": ", output));
  }
  return absl::OkStatus();
}

absl::Status Testbed::LimitRate(int host, int64_t bits_per_second) {
  if (bits_per_second <= 0) return Qdisc(host, {});
  // A burst of 1/50 s at the rate (at least one full frame), and packets
  // queued up to a second before they are dropped.
  const int64_t burst = std::max<int64_t>(bits_per_second / 8 / 50, 1600);
  return Qdisc(host, {"tbf", "rate", absl::StrCat(bits_per_second, "bit"),
                      "burst", absl::StrCat(burst), "latency", "1000ms"});
}

}  // namespace ps::testing
