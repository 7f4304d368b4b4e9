#include "server/sparse_keys.h"

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "gtest/gtest.h"

namespace ps::server {
namespace {

google::protobuf::RepeatedPtrField<v1::SparseSlice> Slices(
    const std::vector<int64_t>& counts) {
  google::protobuf::RepeatedPtrField<v1::SparseSlice> out;
  for (int64_t n : counts) {
    v1::SparseSlice* s = out.Add();
    s->set_table("emb");
    s->set_keys(n);
  }
  return out;
}

std::string Bytes(const std::vector<uint64_t>& keys) {
  return std::string(reinterpret_cast<const char*>(keys.data()),
                     keys.size() * 8);
}

TEST(SparseKeysTest, DecodesKeysSliceAfterSlice) {
  const std::vector<uint64_t> keys = {7, 0, ~uint64_t{0}};
  absl::StatusOr<std::vector<uint64_t>> got =
      DecodeKeys(Slices({2, 1}), Bytes(keys));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, keys);
  EXPECT_TRUE(DecodeKeys(Slices({}), "")->empty());
}

TEST(SparseKeysTest, CountsThatDoNotMatchTheBytesAreRejected) {
  const std::string three = Bytes({1, 2, 3});
  absl::Status s = DecodeKeys(Slices({2}), three).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("keys: 24 bytes, but the sparse slices count 2 "
                             "keys"),
            std::string::npos)
      << s;
  s = DecodeKeys(Slices({3}), three.substr(0, 23)).status();
  EXPECT_NE(s.message().find("23 bytes"), std::string::npos) << s;
  s = DecodeKeys(Slices({1, 0}), three).status();
  EXPECT_NE(s.message().find("keys 0; allowed: >= 1"), std::string::npos) << s;
  constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();
  s = DecodeKeys(Slices({kHuge, kHuge}), three).status();
  EXPECT_NE(s.message().find("more than 2^63"), std::string::npos) << s;
}

TEST(SparseKeysTest, RepeatedKeyInAPushSliceIsNamed) {
  EXPECT_TRUE(CheckDistinct(std::vector<uint64_t>{1, 2, 3}, "emb").ok());
  absl::Status s = CheckDistinct(std::vector<uint64_t>{1, 9, 2, 9}, "emb");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("table emb: key 9 appears more than once"),
            std::string::npos)
      << s;
}

TEST(SparseKeysTest, OwnedPartitionsFollowSparsePartition) {
  const std::vector<uint32_t> owned = {1, 3};
  const OwnedPartitions parts(4, owned);
  for (uint64_t k = 0; k < 100; ++k) {
    const uint32_t p = SparsePartition(k, 4);
    EXPECT_EQ(parts.Owns(k), p == 1 || p == 3) << k;
  }
  uint64_t foreign = 0;
  while (parts.Owns(foreign)) ++foreign;
  absl::Status s = parts.CheckOwned(std::vector<uint64_t>{foreign}, "emb", 9);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(
      s.message().find(absl::StrCat("key ", foreign, " is in sparse partition ",
                                    SparsePartition(foreign, 4))),
      std::string::npos)
      << s;
  EXPECT_NE(s.message().find("refresh the map"), std::string::npos);
  EXPECT_FALSE(OwnedPartitions().Owns(5));
  EXPECT_EQ(
      OwnedPartitions().CheckOwned(std::vector<uint64_t>{5}, "emb", 1).code(),
      absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace ps::server
