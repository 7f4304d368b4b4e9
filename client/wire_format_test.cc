#include "client/wire_format.h"

#include <cstring>

#include "grpcpp/support/slice.h"
#include "gtest/gtest.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {
namespace {

Chunk TwoPieces() {
  Chunk chunk;
  chunk.pieces = {{0, "a", 10, 2, 4}, {0, "b", 0, 3, 0}};
  chunk.values = 5;
  return chunk;
}

grpc::ByteBuffer Buffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

TEST(WireFormatTest, PushRequestPartsParseAsOneMessage) {
  const std::string values = "0123456789abcdefghij";  // 5 floats
  const std::string bytes = PushRequestPrefix("job", 3, "w", TwoPieces()) +
                            PushRequestTail(1234567, 42, 2, values.size()) +
                            values;
  v1::PushRequest request;
  ASSERT_TRUE(request.ParseFromString(bytes));
  EXPECT_EQ(request.job_id(), "job");
  EXPECT_EQ(request.epoch(), 3u);
  EXPECT_EQ(request.worker_id(), "w");
  EXPECT_EQ(request.seq(), 1234567u);
  EXPECT_EQ(request.clock(), 42);
  EXPECT_EQ(request.clock_pushes(), 2);
  ASSERT_EQ(request.slices_size(), 2);
  EXPECT_EQ(request.slices(1).table(), "b");
  EXPECT_EQ(request.slices(0).offset(), 10);
  EXPECT_EQ(request.values(), values);
}

TEST(WireFormatTest, PullRequestHoldsTheChunksSlicesAndClock) {
  v1::PullRequest request;
  ASSERT_TRUE(request.ParseFromString(
      PullRequestBytes("job", 3, TwoPieces()) +
      VarintField(v1::PullRequest::kClockFieldNumber, 7)));
  EXPECT_EQ(request.epoch(), 3u);
  EXPECT_EQ(request.clock(), 7);
  ASSERT_EQ(request.slices_size(), 2);
  EXPECT_EQ(request.slices(0).count(), 2);
}

TEST(WireFormatTest, PullResponseIsScatteredToPieceOffsets) {
  const float values[5] = {1, 2, 3, 4, 5};
  v1::PullResponse response;
  response.set_values(reinterpret_cast<const char*>(values), sizeof(values));
  response.set_staleness(3);
  grpc::ByteBuffer buffer = Buffer(response.SerializeAsString());
  float out[6] = {0, 0, 0, 0, 0, 0};
  int64_t staleness = -1;
  ASSERT_TRUE(ScatterPullResponse(&buffer, TwoPieces(), out, &staleness).ok());
  EXPECT_EQ(staleness, 3);
  // Piece "a" (values 1, 2) goes to out[4..5], piece "b" to out[0..2].
  const float expected[6] = {3, 4, 5, 0, 1, 2};
  EXPECT_EQ(std::memcmp(out, expected, sizeof(out)), 0);
}

TEST(WireFormatTest, UnknownResponseFieldsAreSkipped) {
  const float values[5] = {1, 2, 3, 4, 5};
  v1::PullResponse response;
  response.set_values(reinterpret_cast<const char*>(values), sizeof(values));
  // Field 9, varint 1: what a newer server might add.
  grpc::ByteBuffer buffer =
      Buffer(std::string("\x48\x01", 2) + response.SerializeAsString());
  float out[6];
  int64_t staleness = -1;
  EXPECT_TRUE(ScatterPullResponse(&buffer, TwoPieces(), out, &staleness).ok());
  EXPECT_EQ(staleness, 0);
}

TEST(WireFormatTest, WrongValueCountIsDataLoss) {
  v1::PullResponse response;
  response.set_values(std::string(16, '\0'));  // 4 floats, 5 expected
  grpc::ByteBuffer buffer = Buffer(response.SerializeAsString());
  float out[6];
  int64_t staleness = 0;
  EXPECT_EQ(ScatterPullResponse(&buffer, TwoPieces(), out, &staleness).code(),
            absl::StatusCode::kDataLoss);
  grpc::ByteBuffer empty = Buffer("");
  EXPECT_EQ(ScatterPullResponse(&empty, TwoPieces(), out, &staleness).code(),
            absl::StatusCode::kDataLoss);
  grpc::ByteBuffer garbage = Buffer("\x0a\xff\xff\xff\xff\x0f");
  EXPECT_EQ(ScatterPullResponse(&garbage, TwoPieces(), out, &staleness).code(),
            absl::StatusCode::kDataLoss);
}

TEST(WireFormatTest, LoanIsOutWhileGrpcHoldsItsSlices) {
  const std::string memory = "abcdef";
  Loan loan;
  EXPECT_TRUE(loan.AwaitReturn(absl::InfinitePast()));
  {
    grpc::Slice parts[2] = {loan.Lend(memory.data(), 3),
                            loan.Lend(memory.data() + 3, 3)};
    grpc::ByteBuffer shared(parts, 2);
    grpc::ByteBuffer copy = shared;
    EXPECT_EQ(loan.out(), 2);
    shared.Clear();
    for (grpc::Slice& p : parts) p = grpc::Slice();
    EXPECT_EQ(loan.out(), 2);  // `copy` still refers to both
    EXPECT_FALSE(loan.AwaitReturn(absl::Now() + absl::Milliseconds(10)));
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(copy.Dump(&slices).ok());
    std::string read;
    for (const grpc::Slice& s : slices) {
      read.append(reinterpret_cast<const char*>(s.begin()), s.size());
      // Lent, not copied: the slices point into `memory`.
      EXPECT_GE(reinterpret_cast<const char*>(s.begin()), memory.data());
      EXPECT_LT(reinterpret_cast<const char*>(s.begin()),
                memory.data() + memory.size());
    }
    EXPECT_EQ(read, "abcdef");
  }
  EXPECT_EQ(loan.out(), 0);
  EXPECT_TRUE(loan.AwaitReturn(absl::Now() + absl::Milliseconds(10)));
}

}  // namespace
}  // namespace ps::client
