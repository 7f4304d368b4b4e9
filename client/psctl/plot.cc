#include "client/psctl/plot.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/subprocess.h"

namespace ps::client {

namespace {

// A gnuplot single-quoted string: '' stands for a quote inside one.
std::string Quoted(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "''"}}), "'");
}

// `name` as a runnable path: itself when it has a slash, else the first
// executable file of that name on $PATH; "" when there is none.
std::string FindProgram(const std::string& name) {
  if (absl::StrContains(name, '/')) {
    return access(name.c_str(), X_OK) == 0 ? name : "";
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl =
      absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/psctl-plot-XXXXXX");
  return mkdtemp(tmpl.data()) ? tmpl : "";
}

std::string Tail(const std::string& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  if (s.size() > 600) s = s.substr(s.size() - 600);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "no message" : s;
}

}  // namespace

bool IsPlotFileName(const std::string& path) {
  return path.size() > 4 &&
         (absl::EndsWith(path, ".png") || absl::EndsWith(path, ".svg"));
}

std::string PlotScript(const v1::Job& job, const std::string& data,
                       const std::string& path) {
  const bool svg = absl::EndsWith(path, ".svg");
  const std::string title =
      absl::StrCat(job.id(), ": ", v1::ModelType_Name(job.spec().model().type()),
                   ", ", v1::JobState_Name(job.state()));
  const std::string d = Quoted(data);
  const std::string style = "with lines lw 2";
  return absl::StrCat(
      svg ? "set terminal svg size 900,900 font 'sans,11' background "
            "'white'\n"
          : "set terminal pngcairo size 900,900 font 'sans,10'\n",
      "set output ", Quoted(path), "\n",
      "set datafile separator '\\t'\n"
      "set grid\n"
      "set key top right\n"
      "set xlabel 'step (all workers)'\n"
      "set multiplot layout 3,1 title ",
      Quoted(title), "\n",
      "set ylabel 'training loss'\n"
      "plot ", d, " using 1:2 ", style, " lc rgb '#d62728' title 'loss'\n",
      "set ylabel 'training accuracy'\n"
      "set yrange [0:1]\n"
      "plot ", d, " using 1:3 ", style, " lc rgb '#1f77b4' title 'accuracy'\n",
      "set autoscale y\n"
      "set ylabel 'examples/s'\n"
      "plot ", d, " using 1:4 ", style,
      " lc rgb '#2ca02c' title 'examples/s'\n",
      "unset multiplot\n"
      "set output\n");
}

absl::Status WritePlot(const v1::Job& job, const v1::JobHistory& history,
                       const std::string& path, const PlotOptions& options) {
  if (!IsPlotFileName(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("plot file '", path,
                     "' has an unknown format; allowed: a name ending in "
                     ".png or .svg"));
  }
  if (history.points().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        job.id(), " has no progress recorded yet (", v1::JobState_Name(job.state()),
        "): nothing to plot"));
  }
  const std::string gnuplot = FindProgram(options.gnuplot);
  if (gnuplot.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("gnuplot ('", options.gnuplot,
                     "') is not installed: psctl plot needs it (Debian "
                     "package gnuplot-nox)"));
  }
  const std::string dir = TempDir();
  if (dir.empty()) return absl::InternalError("cannot make a temporary folder");
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};
  const std::string data = dir + "/history.tsv";
  {
    std::ofstream out(data);
    for (const v1::HistoryPoint& p : history.points()) {
      out << p.step() << '\t' << p.loss() << '\t' << p.accuracy() << '\t'
          << p.examples_per_sec() << '\n';
    }
    std::ofstream script(dir + "/plot.gp");
    script << PlotScript(job, data, path);
    if (!out || !script) {
      return absl::InternalError(absl::StrCat("cannot write into ", dir));
    }
  }
  absl::StatusOr<std::unique_ptr<Subprocess>> child =
      Subprocess::Start({gnuplot, dir + "/plot.gp"}, dir + "/gnuplot.log");
  if (!child.ok()) return child.status();
  const absl::Time deadline = absl::Now() + options.timeout;
  while ((*child)->Running()) {
    if (absl::Now() > deadline) {
      (*child)->Kill();
      return absl::DeadlineExceededError(absl::StrCat(
          "gnuplot did not finish the plot within ", absl::FormatDuration(options.timeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));  // polls the child's exit
  }
  if ((*child)->exit_code() != 0) {
    return absl::InternalError(absl::StrCat(
        "gnuplot failed writing ", path, ": ", Tail(dir + "/gnuplot.log")));
  }
  return absl::OkStatus();
}

}  // namespace ps::client
