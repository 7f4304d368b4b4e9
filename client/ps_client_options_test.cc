#include "client/ps_client_options.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps::client {
namespace {

using ::testing::HasSubstr;

TEST(PsClientOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidatePsClientOptions({}).ok());
}

TEST(PsClientOptionsTest, OptionOutOfRangeIsNamed) {
  PsClientOptions o;
  o.chunk_bytes = 2;
  absl::Status s = ValidatePsClientOptions(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("chunk_bytes 2"));
  o = {};
  o.channels_per_server = 0;
  EXPECT_THAT(ValidatePsClientOptions(o).message(),
              HasSubstr("channels_per_server"));
  o = {};
  o.small_call_spin = absl::Milliseconds(2);
  EXPECT_THAT(ValidatePsClientOptions(o).message(),
              HasSubstr("small_call_spin"));
}

TEST(PsClientOptionsTest, MapMustNameExistingServers) {
  v1::PartitionMap map;
  EXPECT_THAT(ValidateClientMap(map).message(), HasSubstr("no servers"));
  map.add_servers()->set_address("a:1");
  EXPECT_TRUE(ValidateClientMap(map).ok());
  map.set_sparse_partitions(1);
  map.add_partition_servers(3);
  absl::Status s = ValidateClientMap(map);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("partition 0 names server_index 3"));
}

}  // namespace
}  // namespace ps::client
