#include "client/psctl/plot.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace ps::client {
namespace {

v1::Job Job() {
  v1::Job job;
  job.set_id("job-7");
  job.set_state(v1::SUCCEEDED);
  job.mutable_spec()->mutable_model()->set_type(v1::MLP);
  return job;
}

v1::JobHistory History(int points) {
  v1::JobHistory h;
  for (int i = 0; i < points; ++i) {
    v1::HistoryPoint* p = h.add_points();
    p->set_step(10 * i);
    p->set_loss(2.0 / (i + 1));
    p->set_accuracy(1 - 1.0 / (i + 2));
    p->set_examples_per_sec(1000 + i);
  }
  return h;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Out(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

TEST(PlotTest, WritesAPngWithGnuplot) {
  const std::string path = Out("curves.png");
  ASSERT_TRUE(WritePlot(Job(), History(50), path).ok());
  const std::string png = Read(path);
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST(PlotTest, WritesAnSvgWithThreePanels) {
  const std::string path = Out("curves.svg");
  ASSERT_TRUE(WritePlot(Job(), History(20), path).ok());
  const std::string svg = Read(path);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("training loss"), std::string::npos);
  EXPECT_NE(svg.find("training accuracy"), std::string::npos);
  EXPECT_NE(svg.find("examples/s"), std::string::npos);
  EXPECT_NE(svg.find("job-7: MLP, SUCCEEDED"), std::string::npos);
}

TEST(PlotTest, AQuoteInThePathIsQuotedForGnuplot) {
  const std::string path = Out("it's.svg");
  ASSERT_TRUE(WritePlot(Job(), History(3), path).ok());
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(PlotTest, RefusesWhatItCannotDraw) {
  absl::Status s = WritePlot(Job(), History(5), Out("curves.jpg"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(".png or .svg"), std::string::npos) << s;
  s = WritePlot(Job(), History(0), Out("empty.png"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("no progress recorded"), std::string::npos) << s;
  s = WritePlot(Job(), History(5), Out("none.png"),
                {.gnuplot = "no-such-gnuplot"});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("gnuplot-nox"), std::string::npos) << s;
  s = WritePlot(Job(), History(5), Out("no/such/dir/x.png"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("gnuplot failed"), std::string::npos) << s;
  EXPECT_FALSE(IsPlotFileName(".png"));
  EXPECT_TRUE(IsPlotFileName("a.svg"));
}

}  // namespace
}  // namespace ps::client
