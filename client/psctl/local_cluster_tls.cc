// LocalCluster's throwaway credentials: a cluster CA made for this run and
// a certificate for each process, in work_dir/tls (common/certs.h).
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/psctl/local_cluster.h"
#include "common/certs.h"

namespace ps::client {
namespace {

// Long enough for any local run; the CA dies with the work dir.
constexpr absl::Duration kValidity = absl::Hours(24 * 30);

certs::CertRequest Request(Role role, const std::string& name) {
  certs::CertRequest r;
  r.identity = {role, name};
  if (IsDaemon(role)) {
    r.dns_names = {"localhost"};
    r.ip_addresses = {"127.0.0.1", "::1"};
  }
  r.validity = certs::ValidFor(kValidity);
  return r;
}

}  // namespace

std::string LocalCluster::TlsDir(const std::string& dir_name) const {
  if (!options_.tls) return "";
  return absl::StrCat(options_.work_dir, "/tls/", dir_name);
}

std::string LocalCluster::SecurityFlag(const std::string& dir_name) const {
  return options_.tls ? "--tls_dir=" + TlsDir(dir_name) : "--insecure";
}

absl::Status LocalCluster::SetUpSecurity() {
  if (!options_.tls) {
    security_ = RpcSecurity::Insecure();
    return absl::OkStatus();
  }
  const std::string dir = options_.work_dir + "/tls";
  // A work dir used before holds the last run's CA: a new one each run.
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot remove the old ", dir, ": ", ec.message()));
  }
  std::vector<certs::CertRequest> requests = {
      Request(Role::kCoordinator, "coordinator"),
      Request(Role::kUser, "local"), Request(Role::kAdmin, "admin")};
  for (int i = 0; i < options_.servers; ++i) {
    requests.push_back(Request(Role::kServer, absl::StrCat("server", i)));
  }
  for (int i = 0; i < options_.workers + options_.spare_workers; ++i) {
    requests.push_back(Request(Role::kWorker, absl::StrCat("worker", i)));
  }
  if (absl::Status s = certs::CreateClusterCredentials(dir, requests);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::shared_ptr<const RpcSecurity>> security =
      RpcSecurity::Tls(TlsFilesInDir(TlsDir("user-local")));
  if (!security.ok()) return security.status();
  security_ = *std::move(security);
  return absl::OkStatus();
}

}  // namespace ps::client
