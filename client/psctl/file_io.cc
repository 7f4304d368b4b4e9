#include "client/psctl/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace ps::client {
namespace {

absl::Status Errno(int error, absl::string_view call, absl::string_view path) {
  return absl::ErrnoToStatus(error, absl::StrCat(call, " ", path));
}

// The folder holding `path` ("." for a bare name).
std::string FolderOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
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

// Writes, fsyncs and closes the new file `tmp` (open as `fd`).
absl::Status FillAndClose(int fd, absl::string_view bytes,
                          const std::string& tmp) {
  absl::Status s = WriteAll(fd, bytes, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Errno(errno, "fsync", tmp);
  if (::close(fd) != 0 && s.ok()) s = Errno(errno, "close", tmp);
  return s;
}

// Creates a new file beside `path` with the usual permissions (0666 less
// the umask, as any other file the user writes); its descriptor, or -1 with
// errno set. *tmp is its name.
int CreateTemporary(const std::string& path, std::string* tmp) {
  static std::atomic<int> next{0};
  int fd = -1;
  for (int tries = 0; fd < 0 && tries < 100; ++tries) {
    *tmp = absl::StrCat(path, ".tmp-", ::getpid(), "-", next++);
    fd = ::open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  return fd;
}

absl::Status SyncFolder(const std::string& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "open folder", folder);
  // Some file systems cannot fsync a folder (EINVAL); the rename stands.
  absl::Status s;
  if (::fsync(fd) != 0 && errno != EINVAL) s = Errno(errno, "fsync", folder);
  ::close(fd);
  return s;
}

}  // namespace

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "cannot open", path);
  std::string bytes;
  struct stat st;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) bytes.reserve(st.st_size);
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return Errno(error, "cannot read", path);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view bytes) {
  std::string tmp;
  const int fd = CreateTemporary(path, &tmp);
  if (fd < 0) return Errno(errno, "cannot create", tmp);
  absl::Status s = FillAndClose(fd, bytes, tmp);
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Errno(errno, absl::StrCat("cannot rename ", tmp, " to"), path);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncFolder(FolderOf(path));
}

}  // namespace ps::client
