// `psctl plot`: a job's training curves (loss, accuracy and examples/s over
// steps, from the coordinator's recorded history) drawn by gnuplot into a
// PNG or SVG file.
#ifndef PS_CLIENT_PSCTL_PLOT_H_
#define PS_CLIENT_PSCTL_PLOT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

struct PlotOptions {
  // The gnuplot program: a path, or a name looked up in $PATH.
  std::string gnuplot = "gnuplot";
  // gnuplot is stopped (and the plot fails) after this long.
  absl::Duration timeout = absl::Seconds(60);
};

// True for a name WritePlot can write: one ending in .png or .svg.
bool IsPlotFileName(const std::string& path);

// Writes `history`'s curves for `job` to `path`, whose extension picks the
// format (.png or .svg). A temporary data file goes to $TMPDIR (or /tmp)
// and is removed. Errors: INVALID_ARGUMENT for another extension;
// FAILED_PRECONDITION when the history has no point yet or gnuplot is not
// installed (naming the Debian package); INTERNAL with gnuplot's own words
// when it fails; DEADLINE_EXCEEDED when it runs past the timeout.
absl::Status WritePlot(const v1::Job& job, const v1::JobHistory& history,
                       const std::string& path,
                       const PlotOptions& options = {});

// The gnuplot script WritePlot runs (exposed for tests): three panels over
// `data` (tab-separated step, loss, accuracy, examples/s), into `path`.
std::string PlotScript(const v1::Job& job, const std::string& data,
                       const std::string& path);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_PLOT_H_
