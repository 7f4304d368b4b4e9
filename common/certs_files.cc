// TLS directories and the CA's files on disk (common/certs.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/certs.h"

namespace ps::certs {
namespace {

// Who may read a file: anyone the umask lets (certificates), or only its
// owner, whatever the umask (keys).
enum class Access { kPublic, kOwnerOnly };

absl::Status Errno(int error, absl::string_view call, absl::string_view path) {
  return absl::ErrnoToStatus(error, absl::StrCat(call, " ", path));
}

absl::Status MakeDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Errno(ec.value(), "cannot create folder", dir);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, absl::string_view bytes,
                      const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(errno, "write", path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Writes `bytes` to a new hidden file in `dir` beside `name`, fsynced and
// closed; its path. A key's file is 0600 from its creation on.
absl::StatusOr<std::string> WriteTemporary(const std::string& dir,
                                           absl::string_view name,
                                           absl::string_view bytes,
                                           Access access) {
  static std::atomic<int> next{0};
  const mode_t mode = access == Access::kOwnerOnly ? 0600 : 0644;
  std::string tmp;
  int fd = -1;
  for (int tries = 0; fd < 0 && tries < 100; ++tries) {
    tmp = absl::StrCat(dir, "/.", name, ".tmp-", ::getpid(), "-", next++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) return Errno(errno, "cannot create", tmp);
  absl::Status s;
  if (access == Access::kOwnerOnly && ::fchmod(fd, mode) != 0) {
    s = Errno(errno, "fchmod", tmp);
  }
  if (s.ok()) s = WriteAll(fd, bytes, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Errno(errno, "fsync", tmp);
  if (::close(fd) != 0 && s.ok()) s = Errno(errno, "close", tmp);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return tmp;
}

// Replaces `dir`/`name` with `bytes` in one rename.
absl::Status ReplaceFile(const std::string& dir, absl::string_view name,
                         absl::string_view bytes, Access access) {
  absl::StatusOr<std::string> tmp = WriteTemporary(dir, name, bytes, access);
  if (!tmp.ok()) return tmp.status();
  const std::string path = absl::StrCat(dir, "/", name);
  if (std::rename(tmp->c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(tmp->c_str());
    return Errno(error, absl::StrCat("cannot rename ", *tmp, " to"), path);
  }
  return absl::OkStatus();
}

// Creates `dir`/`name` holding `bytes`, whole or not at all; ALREADY_EXISTS
// when it exists (a hard link never replaces its target).
absl::Status CreateFile(const std::string& dir, absl::string_view name,
                        absl::string_view bytes, Access access) {
  absl::StatusOr<std::string> tmp = WriteTemporary(dir, name, bytes, access);
  if (!tmp.ok()) return tmp.status();
  const std::string path = absl::StrCat(dir, "/", name);
  const int linked = ::link(tmp->c_str(), path.c_str());
  const int error = errno;
  ::unlink(tmp->c_str());
  if (linked == 0) return absl::OkStatus();
  if (error == EEXIST) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, " exists; a CA is never replaced"));
  }
  return Errno(error, absl::StrCat("cannot link ", *tmp, " to"), path);
}

absl::Status SyncFolder(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "open folder", dir);
  // Some file systems cannot fsync a folder (EINVAL); the renames stand.
  absl::Status s;
  if (::fsync(fd) != 0 && errno != EINVAL) s = Errno(errno, "fsync", dir);
  ::close(fd);
  return s;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "cannot open", path);
  std::string bytes;
  char buffer[1 << 14];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      if (n < 0) return Errno(error, "cannot read", path);
      return bytes;
    }
    bytes.append(buffer, static_cast<size_t>(n));
  }
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

absl::Status WriteTlsDir(const std::string& dir, absl::string_view ca_cert_pem,
                         const Pem& leaf) {
  absl::Status s = MakeDir(dir);
  // The CA first, so that a reader trusts it before it sees a leaf it
  // signed; the key before the certificate, which readers tend to watch.
  if (s.ok()) s = ReplaceFile(dir, kCaCertFile, ca_cert_pem, Access::kPublic);
  if (s.ok()) s = ReplaceFile(dir, kKeyFile, leaf.key, Access::kOwnerOnly);
  if (s.ok()) s = ReplaceFile(dir, kCertFile, leaf.cert, Access::kPublic);
  if (s.ok()) s = SyncFolder(dir);
  return s;
}

absl::Status WriteNewCa(const std::string& dir, const Pem& ca) {
  if (absl::Status s = MakeDir(dir); !s.ok()) return s;
  for (const char* name : {kCaCertFile, kCaKeyFile}) {
    const std::string path = absl::StrCat(dir, "/", name);
    if (Exists(path)) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " exists; a CA is never replaced"));
    }
  }
  absl::Status s = CreateFile(dir, kCaKeyFile, ca.key, Access::kOwnerOnly);
  if (!s.ok()) return s;
  s = CreateFile(dir, kCaCertFile, ca.cert, Access::kPublic);
  if (!s.ok()) {
    // The key is ours (the link created it): no half CA stays behind.
    ::unlink(absl::StrCat(dir, "/", kCaKeyFile).c_str());
    return s;
  }
  return SyncFolder(dir);
}

absl::StatusOr<Pem> ReadCa(const std::string& dir) {
  absl::StatusOr<std::string> cert =
      ReadFile(absl::StrCat(dir, "/", kCaCertFile));
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key =
      ReadFile(absl::StrCat(dir, "/", kCaKeyFile));
  if (!key.ok()) return key.status();
  return Pem{*std::move(cert), *std::move(key)};
}

absl::Status CreateClusterCredentials(
    const std::string& out_dir, const std::vector<CertRequest>& identities) {
  if (identities.empty()) {
    return absl::InvalidArgumentError(
        "identities: empty; give at least one to issue a certificate for");
  }
  Validity hull = identities.front().validity;
  std::set<std::string> names;
  for (const CertRequest& r : identities) {
    hull.not_before = std::min(hull.not_before, r.validity.not_before);
    hull.not_after = std::max(hull.not_after, r.validity.not_after);
    if (!names.insert(TlsDirName(r.identity)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "identities: ", IdentityUri(r.identity.role, r.identity.name),
          " is given twice"));
    }
  }
  // Everything is issued before anything is written.
  absl::StatusOr<Pem> ca = CreateCa("pscluster CA", hull);
  if (!ca.ok()) return ca.status();
  std::vector<Pem> leaves;
  for (const CertRequest& r : identities) {
    absl::StatusOr<Pem> leaf = IssueCertificate(*ca, r);
    if (!leaf.ok()) return leaf.status();
    leaves.push_back(*std::move(leaf));
  }
  if (absl::Status s = WriteNewCa(out_dir, *ca); !s.ok()) return s;
  for (size_t i = 0; i < identities.size(); ++i) {
    const std::string dir =
        absl::StrCat(out_dir, "/", TlsDirName(identities[i].identity));
    if (absl::Status s = WriteTlsDir(dir, ca->cert, leaves[i]); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

std::string TlsDirName(const Identity& identity) {
  return absl::StrCat(RoleName(identity.role), "-", identity.name);
}

}  // namespace ps::certs
