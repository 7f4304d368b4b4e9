#include "tests/headless_chromium.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"

namespace ps::testing {

bool ChromiumInstalled() { return access(kChromium, X_OK) == 0; }

std::string RunChromium(const std::string& dir, const std::string& url,
                        const std::vector<std::string>& extra) {
  static int run = 0;
  const std::string profile = absl::StrCat(dir, "/chromium", ++run);
  std::vector<std::string> argv = {
      kChromium, "--headless", "--no-sandbox", "--disable-gpu",
      "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
      "--disable-crash-reporter", "--user-data-dir=" + profile,
      "--virtual-time-budget=5000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  const std::string out = profile + ".out";
  auto p = Subprocess::Start(argv, out);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return "";
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while ((*p)->Running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_FALSE((*p)->Running()) << "chromium still running on " << url;
  std::ifstream in(out);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace ps::testing
