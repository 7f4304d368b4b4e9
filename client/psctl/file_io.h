// Whole files in and out, for the export formats: a file is read into
// memory in one piece and written so that it is either all there or not
// there at all, even across a crash.
#ifndef PS_CLIENT_PSCTL_FILE_IO_H_
#define PS_CLIENT_PSCTL_FILE_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ps::client {

// The bytes of `path`. NOT_FOUND when it does not exist, otherwise the code
// of the failing call (errno), naming the file.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

// Replaces `path` with `bytes` atomically and durably: writes a new
// temporary file beside it (same folder, so the same file system), fsyncs
// it, renames it over `path` and fsyncs the folder. A reader sees the old
// file or the new one, never a part; after a crash the temporary file may be
// left behind (named `path`.tmp-PID-N), never a half-written `path`. On
// failure the temporary file is removed and the status (from errno) names
// the file and the call that failed.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view bytes);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_FILE_IO_H_
