// A test bed of "hosts" on one machine: each host is a network namespace of
// its own with one interface, eth0, at 10.201.0.(i+1)/24, cabled by a veth
// pair to a bridge that lives in a namespace of its own too. Nothing is
// added to the machine's own network namespace, and the addresses exist
// only inside the namespaces the test bed made.
//
// Daemons run on a host through `ip netns exec` (InHost). A host's link can
// be cut and restored (the bridge side of its cable goes down and up), or
// rate-limited (tc tbf; netem delays are left out: the kernels CI runs on
// have no sch_netem).
//
// Needs root and iproute2. Every namespace is deleted by the destructor;
// test beds left by a killed test process are deleted by the next Create.
// Not thread-safe.
#ifndef PS_TESTS_NETNS_TESTBED_H_
#define PS_TESTS_NETNS_TESTBED_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ps::testing {

class Testbed {
 public:
  // FAILED_PRECONDITION when namespaces cannot be made here (not root, no
  // iproute2), with the command's own words.
  static absl::StatusOr<std::unique_ptr<Testbed>> Create(int hosts);
  ~Testbed();

  int hosts() const { return hosts_; }
  // Host i's IPv4 address, e.g. "10.201.0.3".
  std::string Address(int host) const;
  // `argv` run on host i: {"ip", "netns", "exec", NAME, argv...}.
  std::vector<std::string> InHost(int host,
                                  const std::vector<std::string>& argv) const;

  // Takes host i's link down (nothing crosses it, either way), and up again.
  absl::Status CutLink(int host);
  absl::Status RestoreLink(int host);
  // Slows what the bridge sends host i to `bits_per_second` (a token
  // bucket, tc tbf); 0 removes the limit.
  absl::Status LimitRate(int host, int64_t bits_per_second);

 private:
  Testbed(std::string prefix, int hosts)
      : prefix_(std::move(prefix)), hosts_(hosts) {}
  std::string HostNs(int host) const;
  std::string BridgeNs() const;
  absl::Status Ip(const std::vector<std::string>& args) const;
  // tc on the bridge side of host i's cable: "qdisc replace ... QDISC" or,
  // with an empty `qdisc`, "qdisc del".
  absl::Status Qdisc(int host, const std::vector<std::string>& qdisc) const;

  const std::string prefix_;  // "pst<pid>": unique to the creating process
  const int hosts_;
};

// Runs `argv` to its end (at most `timeout`); its exit code, with stdout
// and stderr in *output when not null. UNAVAILABLE when it cannot start,
// DEADLINE_EXCEEDED when it ran too long (it is killed).
absl::StatusOr<int> RunCommand(const std::vector<std::string>& argv,
                               absl::Duration timeout,
                               std::string* output = nullptr);

}  // namespace ps::testing

#endif  // PS_TESTS_NETNS_TESTBED_H_
