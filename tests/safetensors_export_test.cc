// `psctl export --format=safetensors` of a job trained on real processes:
// the file loads in Python with only json and numpy
// (tests/check_safetensors.py) and holds, bit for bit, what the PSX export
// of the same job holds.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/psctl/export.h"
#include "common/subprocess.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

class SafetensorsExportTest : public ClusterTest {
 protected:
  // Runs `argv` to its end; its exit code. Output goes to *output.
  int Run(const std::vector<std::string>& argv, std::string* output) {
    const std::string log = absl::StrCat(work_dir_, "/run", runs_++, ".log");
    auto p = Subprocess::Start(argv, log);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return -1;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while ((*p)->Running() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    std::ifstream in(log);
    std::stringstream s;
    s << in.rdbuf();
    *output = s.str();
    EXPECT_FALSE((*p)->Running()) << *output;
    return (*p)->exit_code().value_or(-1);
  }

  int Psctl(const std::string& coordinator, const std::string& job_id,
            const std::string& out, const std::string& format,
            std::string* output) {
    return Run(
        {RunfilesBinDir() + "/client/psctl/psctl", "export", job_id,
         "--coordinator=" + coordinator, "--insecure", "--out=" + out,
         "--format=" + format},
        output);
  }

  int runs_ = 0;
};

void ExpectSameTables(const std::vector<client::ExportedTable>& a,
                      const std::vector<client::ExportedTable>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].sparse, b[i].sparse);
    EXPECT_EQ(a[i].keys, b[i].keys) << a[i].name;
    EXPECT_EQ(a[i].values, b[i].values) << a[i].name;
  }
}

TEST_F(SafetensorsExportTest, LoadsWithJsonAndNumpyAndMatchesThePsxExport) {
  StartCluster(/*servers=*/2, /*workers=*/1);
  v1::JobSpec spec = FlightsSpec(v1::WIDE_DEEP, /*workers=*/1, /*epochs=*/1);
  const std::string id = Submit(spec);
  ASSERT_EQ(WaitForEnd(id, absl::Seconds(120)).state(), v1::SUCCEEDED);

  const std::string psx = work_dir_ + "/m.psx";
  const std::string st = work_dir_ + "/m.safetensors";
  const std::string coordinator = cluster_->coordinator_address();
  std::string out;
  ASSERT_EQ(Psctl(coordinator, id, psx, "psx", &out), 0) << out;
  ASSERT_EQ(Psctl(coordinator, id, st, "safetensors", &out), 0) << out;
  EXPECT_NE(out.find(absl::StrCat("of ", id, " to ", st, " (safetensors)")),
            std::string::npos)
      << out;

  auto from_psx = client::ReadExport(psx);
  auto from_st = client::ReadExport(st, client::ExportFormat::kSafetensors);
  ASSERT_TRUE(from_psx.ok()) << from_psx.status();
  ASSERT_TRUE(from_st.ok()) << from_st.status();
  ASSERT_GE(from_st->size(), 4u);  // wide, embed, bias, the deep layers
  EXPECT_EQ((*from_st)[1].name, "embed");
  EXPECT_TRUE((*from_st)[1].sparse);
  EXPECT_GT((*from_st)[1].keys.size(), 40u);
  ExpectSameTables(*from_psx, *from_st);

  ASSERT_EQ(Run({"/usr/bin/python3",
                 RunfilesBinDir() + "/tests/check_safetensors.py", st, psx},
                &out),
            0)
      << out;
  std::cout << out;
  EXPECT_NE(out.find(absl::StrCat("safetensors matches psx: ", from_psx->size(),
                                  " tables, job ", id)),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("embed: sparse"), std::string::npos) << out;
}

// Refused before psctl connects: no cluster is needed to see it.
TEST_F(SafetensorsExportTest, AnUnknownFormatIsAUsageErrorNamingTheAllowed) {
  work_dir_ = std::getenv("TEST_TMPDIR");
  std::string out;
  EXPECT_EQ(Psctl("127.0.0.1:1", "job-1", work_dir_ + "/m.onnx", "onnx", &out),
            2);
  EXPECT_NE(out.find("--format: 'onnx' is not an export format; allowed: "
                     "psx, safetensors"),
            std::string::npos)
      << out;
  EXPECT_FALSE(std::ifstream(work_dir_ + "/m.onnx").good());
}

}  // namespace
}  // namespace ps::testing
