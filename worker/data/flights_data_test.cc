#include "worker/data/flights_data.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps::worker {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

struct Flight {
  int32_t minute;
  int16_t delay;
  uint16_t distance;
  std::string origin;
  std::string destination;
};

void PutLe(uint64_t v, int bytes, std::string& out) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> 8 * i));
}

std::string Header(uint64_t rows, uint32_t record_size = 16,
                   const std::string& magic = "PSF1") {
  std::string out = magic;
  PutLe(record_size, 4, out);
  PutLe(rows, 8, out);
  return out;
}

std::string Records(const std::vector<Flight>& flights) {
  std::string out;
  for (const Flight& f : flights) {
    PutLe(static_cast<uint32_t>(f.minute), 4, out);
    PutLe(static_cast<uint16_t>(f.delay), 2, out);
    PutLe(f.distance, 2, out);
    for (const std::string& code : {f.origin, f.destination}) {
      std::string field = code;
      field.resize(4, '\0');
      out += field;
    }
  }
  return out;
}

// `n` flights with distinct, increasing minutes and random other fields.
std::vector<Flight> RandomFlights(int n) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> delay(-32768, 32767);
  std::uniform_int_distribution<int> distance(0, 65535);
  std::uniform_int_distribution<int> letter('A', 'Z');
  auto code = [&] {
    return std::string{static_cast<char>(letter(rng)),
                       static_cast<char>(letter(rng)),
                       static_cast<char>(letter(rng))};
  };
  std::vector<Flight> flights;
  for (int i = 0; i < n; ++i) {
    flights.push_back({i * 7 - 3, static_cast<int16_t>(delay(rng)),
                       static_cast<uint16_t>(distance(rng)), code(), code()});
  }
  return flights;
}

class FlightsDataTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/" +
           testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
  }

  std::string Write(const std::string& bytes) {
    const std::string path = dir_ + "/flights.psf";
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  std::string dir_;
};

TEST_F(FlightsDataTest, DecodesEveryField) {
  const std::string path =
      Write(Header(2) + Records({{-1, -32768, 65535, "A", "WXYZ"},
                                 {260640, 1688, 2176, "LAS", "PHL"}}));
  absl::StatusOr<FlightRows> rows = LoadFlights(path, 0, 1);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->count, 2);
  EXPECT_EQ(rows->first_row, 0);
  EXPECT_EQ(rows->split_count, 2);
  EXPECT_THAT(rows->minute, testing::ElementsAre(-1, 260640));
  EXPECT_THAT(rows->delay, testing::ElementsAre(-32768, 1688));
  EXPECT_THAT(rows->distance, testing::ElementsAre(65535, 2176));
  EXPECT_EQ(AirportCode(rows->origin[0]), "A");
  EXPECT_EQ(AirportCode(rows->destination[0]), "WXYZ");
  EXPECT_EQ(rows->origin[1], PackAirportCode("LAS"));
  EXPECT_EQ(rows->origin[1], uint32_t{'L' | 'A' << 8 | 'S' << 16});
  EXPECT_EQ(AirportCode(rows->destination[1]), "PHL");
}

TEST_F(FlightsDataTest, ShardsCoverEveryRowExactlyOnceInOrder) {
  const std::vector<Flight> flights = RandomFlights(1000);
  const std::string path = Write(Header(1000) + Records(flights));
  for (int num_shards : {1, 3, 7, 1000, 1500}) {
    int64_t next_row = 0;
    for (int shard = 0; shard < num_shards; ++shard) {
      absl::StatusOr<FlightRows> rows = LoadFlights(path, shard, num_shards);
      ASSERT_TRUE(rows.ok()) << rows.status();
      ASSERT_EQ(rows->first_row, next_row) << shard << "/" << num_shards;
      EXPECT_EQ(rows->split_count, 1000);
      EXPECT_LE(rows->count, 1000 / num_shards + 1);
      for (int64_t i = 0; i < rows->count; ++i) {
        const Flight& want = flights[next_row + i];
        ASSERT_EQ(rows->minute[i], want.minute);
        ASSERT_EQ(rows->delay[i], want.delay);
        ASSERT_EQ(rows->distance[i], want.distance);
        ASSERT_EQ(AirportCode(rows->origin[i]), want.origin);
        ASSERT_EQ(AirportCode(rows->destination[i]), want.destination);
      }
      next_row += rows->count;
    }
    EXPECT_EQ(next_row, 1000) << num_shards << " shards";
  }
}

TEST_F(FlightsDataTest, ReadsShardsLargerThanOneReadChunk) {
  const std::vector<Flight> flights = RandomFlights(150000);
  const std::string path = Write(Header(150000) + Records(flights));
  absl::StatusOr<FlightRows> rows = LoadFlights(path, 1, 2);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->count, 75000);
  EXPECT_EQ(rows->minute.front(), flights[75000].minute);
  EXPECT_EQ(rows->minute.back(), flights.back().minute);
  EXPECT_EQ(rows->distance[70000], flights[145000].distance);
}

TEST_F(FlightsDataTest, EmptyFileLoadsEmptyShards) {
  const std::string path = Write(Header(0));
  absl::StatusOr<FlightRows> rows = LoadFlights(path, 2, 3);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->count, 0);
  EXPECT_TRUE(rows->minute.empty());
}

TEST_F(FlightsDataTest, BadShardArgumentsAreInvalidArgument) {
  const std::string path = Write(Header(1) + Records(RandomFlights(1)));
  const std::pair<int, int> bad[] = {{0, 0}, {-1, 2}, {2, 2}};
  for (auto [shard, shards] : bad) {
    absl::Status status = LoadFlights(path, shard, shards).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("shard_index"));
  }
}

TEST_F(FlightsDataTest, MissingFileIsNotFound) {
  absl::Status status = LoadFlights(dir_ + "/nope.psf", 0, 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(dir_ + "/nope.psf"));
}

TEST_F(FlightsDataTest, BadMagicIsDataLoss) {
  const std::string path =
      Write(Header(1, 16, "PSF2") + Records(RandomFlights(1)));
  absl::Status status = LoadFlights(path, 0, 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(path), HasSubstr("PSF2"), HasSubstr("PSF1")));
}

TEST_F(FlightsDataTest, WrongRecordSizeIsDataLoss) {
  const std::string path =
      Write(Header(1, 20) + Records(RandomFlights(1)) + "1234");
  absl::Status status = LoadFlights(path, 0, 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(path), HasSubstr("record size 20"),
                    HasSubstr("expected 16")));
}

TEST_F(FlightsDataTest, ShortHeaderIsDataLoss) {
  const std::string path = Write(Header(1).substr(0, 10));
  absl::Status status = LoadFlights(path, 0, 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(path), HasSubstr("10 bytes")));
}

TEST_F(FlightsDataTest, TruncatedRecordsAreDataLossForEveryShard) {
  const std::string full = Header(3) + Records(RandomFlights(3));
  const std::string path = Write(full.substr(0, full.size() - 1));
  for (int shard : {0, 1, 2}) {
    absl::Status status = LoadFlights(path, shard, 3).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(status.message(), AllOf(HasSubstr(path), HasSubstr("truncated"),
                                        HasSubstr("3 rows")));
  }
}

TEST_F(FlightsDataTest, AbsurdRowCountIsDataLossNotAnAllocation) {
  const std::string path =
      Write(Header(~uint64_t{0}) + Records(RandomFlights(1)));
  absl::Status status = LoadFlights(path, 0, 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("truncated"));
}

TEST_F(FlightsDataTest, TrailingBytesAreDataLoss) {
  const std::string path = Write(Header(1) + Records(RandomFlights(2)));
  absl::Status status = LoadFlights(path, 0, 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(path), HasSubstr("16 trailing bytes"),
                    HasSubstr("1 rows")));
}

TEST(FlightsRealDataTest, ConvertedTrainSplitShardsAndStartsWithFirstFlight) {
  const std::string path = std::string(kDefaultFlightsDir) + "/train.psf";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << path << " not found; run deploy/flights/setup.sh";
  }
  int64_t total = 0;
  int32_t last_minute = std::numeric_limits<int32_t>::min();
  for (int shard = 0; shard < 4; ++shard) {
    absl::StatusOr<FlightRows> rows = LoadFlights(path, shard, 4);
    ASSERT_TRUE(rows.ok()) << rows.status();
    EXPECT_EQ(rows->split_count, 2700000);
    EXPECT_EQ(rows->first_row, total);
    if (shard == 0) {
      // The first row of flights-3m.parquet.
      EXPECT_EQ(rows->minute[0], 1);
      EXPECT_EQ(rows->delay[0], 33);
      EXPECT_EQ(rows->distance[0], 2176);
      EXPECT_EQ(AirportCode(rows->origin[0]), "LAS");
      EXPECT_EQ(AirportCode(rows->destination[0]), "PHL");
    }
    // Chronological: the split must be in non-decreasing time order.
    for (int32_t minute : rows->minute) {
      ASSERT_LE(last_minute, minute);
      last_minute = minute;
    }
    total += rows->count;
  }
  EXPECT_EQ(total, 2700000);
}

}  // namespace
}  // namespace ps::worker
