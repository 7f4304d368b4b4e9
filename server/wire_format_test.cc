#include "server/wire_format.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace ps::server {
namespace {

v1::PushRequest FullPush() {
  v1::PushRequest p;
  p.set_job_id("job-1");
  p.set_epoch(7);
  p.set_worker_id("w-3");
  p.set_seq(123456789);
  for (int i = 0; i < 2; ++i) {
    v1::DenseSlice* s = p.add_slices();
    s->set_table(i == 0 ? "w" : "b");
    s->set_offset(100 * i);
    s->set_count(5);
  }
  std::string values(40, '\0');
  for (int i = 0; i < 40; ++i) values[i] = static_cast<char>(i * 7);
  p.set_values(values);
  p.set_clock(-1);  // ten-byte varint
  p.set_clock_pushes(3);
  // Sparse rows: their slices and keys are small fields, parsed with the
  // rest; their gradients sit in `values` after the dense ones.
  v1::SparseSlice* sparse = p.add_sparse();
  sparse->set_table("emb");
  sparse->set_keys(2);
  const uint64_t keys[2] = {1, ~uint64_t{0}};
  p.set_keys(std::string(reinterpret_cast<const char*>(keys), sizeof(keys)));
  return p;
}

std::vector<absl::string_view> CutAt(const std::string& bytes,
                                     std::vector<size_t> cuts) {
  cuts.push_back(bytes.size());
  std::vector<absl::string_view> pieces;
  size_t at = 0;
  for (size_t cut : cuts) {
    pieces.push_back(absl::string_view(bytes).substr(at, cut - at));
    at = cut;
  }
  return pieces;
}

absl::Status Parse(const std::string& bytes, v1::PushRequest* fields,
                   std::string* values) {
  std::vector<absl::string_view> views;
  absl::Status s = ParsePushRequest(CutAt(bytes, {}), fields, &views);
  *values = absl::StrJoin(views, "");
  return s;
}

void ExpectSameExceptValues(v1::PushRequest got, v1::PushRequest want) {
  want.clear_values();
  EXPECT_EQ(got.SerializeAsString(), want.SerializeAsString());
}

TEST(ParsePushRequestTest, SplitsFieldsAndValuesAtAnyCut) {
  const v1::PushRequest push = FullPush();
  const std::string bytes = push.SerializeAsString();
  for (size_t a = 0; a <= bytes.size(); ++a) {
    for (size_t b = a; b <= bytes.size(); b += 3) {
      v1::PushRequest fields;
      std::vector<absl::string_view> values;
      ASSERT_TRUE(ParsePushRequest(CutAt(bytes, {a, b}), &fields, &values).ok())
          << "cuts " << a << ", " << b;
      ExpectSameExceptValues(fields, push);
      EXPECT_EQ(absl::StrJoin(values, ""), push.values());
      for (absl::string_view v : values) {
        EXPECT_TRUE(v.data() >= bytes.data() &&
                    v.data() + v.size() <= bytes.data() + bytes.size())
            << "values must be views into the input, not copies";
      }
    }
  }
}

TEST(ParsePushRequestTest, SparseSlicesAndKeysAreParsedIntoTheFields) {
  const v1::PushRequest push = FullPush();
  v1::PushRequest fields;
  std::string values;
  ASSERT_TRUE(Parse(push.SerializeAsString(), &fields, &values).ok());
  ASSERT_EQ(fields.sparse_size(), 1);
  EXPECT_EQ(fields.sparse(0).table(), "emb");
  EXPECT_EQ(fields.sparse(0).keys(), 2);
  EXPECT_EQ(fields.keys(), push.keys());
  EXPECT_EQ(values, push.values());
}

TEST(ParsePushRequestTest, ValuesMayComeInAnyOrderAndTheLastWins) {
  v1::PushRequest head = FullPush();
  head.clear_values();
  v1::PushRequest first, last;
  first.set_values("first---");
  last.set_values("last");
  // Concatenated messages merge: the values field appears twice.
  const std::string bytes = first.SerializeAsString() +
                            head.SerializeAsString() + last.SerializeAsString();
  v1::PushRequest fields;
  std::string values;
  ASSERT_TRUE(Parse(bytes, &fields, &values).ok());
  ExpectSameExceptValues(fields, head);
  EXPECT_EQ(values, "last");
}

TEST(ParsePushRequestTest, UnknownFieldsAreSkipped) {
  const v1::PushRequest push = FullPush();
  std::string bytes = push.SerializeAsString();
  bytes += std::string("\xc8\x06\x05", 3);              // field 105, varint 5
  bytes += std::string("\xd2\x06\x02hi", 5);            // field 106, "hi"
  bytes += std::string("\xdb\x06\x08\x01\xdc\x06", 6);  // group 107 {1: 1}
  bytes += std::string("\xe5\x06\x01\x02\x03\x04", 6);  // field 108, fixed32
  bytes += std::string("\x35\x01\x02\x03\x04", 5);      // field 6 as fixed32
  v1::PushRequest fields;
  std::string values;
  ASSERT_TRUE(Parse(bytes, &fields, &values).ok());
  EXPECT_EQ(fields.job_id(), "job-1");
  EXPECT_EQ(fields.clock_pushes(), 3);
  EXPECT_EQ(values, push.values());
}

TEST(ParsePushRequestTest, MissingValuesAreEmpty) {
  v1::PushRequest push = FullPush();
  push.clear_values();
  v1::PushRequest fields;
  std::string values = "stale";
  ASSERT_TRUE(Parse(push.SerializeAsString(), &fields, &values).ok());
  EXPECT_EQ(values, "");
  ASSERT_TRUE(Parse("", &fields, &values).ok());
  EXPECT_EQ(fields.job_id(), "");
}

TEST(ParsePushRequestTest, MalformedBytesAreInvalidArgument) {
  const std::vector<std::string> cases = {
      std::string("\x08", 1),          // epoch tag, no varint
      std::string("\x10\xff\xff", 3),  // truncated varint
      std::string("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12),
      std::string("\x32\x64\x01\x02\x03", 5),      // values: 100 bytes, has 3
      std::string("\x32\xff\xff\xff\xff\x0f", 6),  // values: 4 GB
      std::string("\x32", 1),                      // values tag, no length
      std::string("\x0a\x05jo", 4),                // job_id past the end
      std::string("\x00", 1),                      // tag 0
      std::string("\x80", 1),                      // truncated tag
      std::string("\x0f", 1),                      // wire type 7
      std::string("\x0c", 1),                      // end group, none open
      std::string("\x0b\x08\x01", 3),              // group never closed
      std::string("\x2a\x02\x08\xff", 4),          // slice with a cut varint
      std::string("\x0a\x02\xc3\x28", 4),          // job_id not UTF-8
      std::string("\xff\xff\xff\xff\x0f garbage", 13),
  };
  for (const std::string& bytes : cases) {
    v1::PushRequest fields;
    std::string values;
    absl::Status s = Parse(bytes, &fields, &values);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument)
        << absl::CEscape(bytes) << ": " << s;
    EXPECT_NE(s.message().find("PushRequest"), std::string::npos) << s;
  }
}

// CodedInputStream reads a varint of up to 10 bytes for a tag and drops
// the bits past 32; protobuf's parser refuses a tag or a length longer than
// 5 bytes. The push parser follows protobuf's, so that the server reads a
// push as every other reader of the message does. (Found by the
// push_request fuzz target.)
TEST(ParsePushRequestTest, TagsAndLengthsLongerThanProtobufAllowsAreRefused) {
  const std::vector<std::string> refused = {
      // unknown field 33818640 (fixed64) after a 7-byte tag
      std::string("\x81\x81\x81\x81\x81\x81\x2f\0\x32\x2e\0\x81\x81\x2e\0", 15),
      std::string("\x90\x80\x80\x80\x80\x00\x05", 7),  // epoch, 6-byte tag
      // values: 6-byte tag; a tag whose bits past 32 are dropped
      std::string("\xb2\x80\x80\x80\x80\x00\x00", 7),
      std::string("\xb2\x80\x80\x80\x80\x01\x00", 7),
      std::string("\x32\x80\x80\x80\x80\x80\x00", 7),  // values: 6-byte length
      // a slice with an over-long tag inside
      std::string("\x2a\x07\x90\x80\x80\x80\x80\x00\x05", 9),
  };
  for (const std::string& bytes : refused) {
    for (size_t cut = 0; cut <= bytes.size(); ++cut) {
      v1::PushRequest fields;
      std::vector<absl::string_view> views;
      absl::Status s = ParsePushRequest(CutAt(bytes, {cut}), &fields, &views);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument)
          << absl::CEscape(bytes) << " cut at " << cut << ": " << s;
      EXPECT_FALSE(v1::PushRequest().ParseFromString(bytes))
          << absl::CEscape(bytes);
    }
  }
  // 5 bytes are allowed, as by protobuf: epoch 5, values "ab".
  const std::string five(
      "\x90\x80\x80\x80\x00\x05\x32\x82\x80\x80\x80\x00"
      "ab",
      14);
  v1::PushRequest fields;
  std::string values;
  ASSERT_TRUE(Parse(five, &fields, &values).ok());
  EXPECT_EQ(fields.epoch(), 5u);
  EXPECT_EQ(values, "ab");
  EXPECT_TRUE(v1::PushRequest().ParseFromString(five));
}

TEST(ParsePushRequestTest, EveryTruncationParsesOrFailsCleanly) {
  const std::string bytes = FullPush().SerializeAsString();
  for (size_t n = 0; n < bytes.size(); ++n) {
    v1::PushRequest fields;
    std::string values;
    absl::Status s = Parse(bytes.substr(0, n), &fields, &values);
    EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kInvalidArgument)
        << n << ": " << s;
  }
}

TEST(ParseMessageTest, ParsesAcrossPiecesAndRejectsGarbage) {
  v1::PullRequest pull;
  pull.set_job_id("job-1");
  pull.set_epoch(3);
  pull.set_clock(9);
  pull.add_slices()->set_table("w");
  pull.add_sparse()->set_table("emb");
  pull.mutable_sparse(0)->set_keys(1);
  pull.set_keys(std::string(8, '\x07'));
  const std::string bytes = pull.SerializeAsString();
  v1::PullRequest parsed;
  ASSERT_TRUE(ParseMessage(CutAt(bytes, {1, 5, 6}), &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), bytes);
  absl::Status s = ParseMessage(CutAt(bytes.substr(0, 5), {3}), &parsed);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ps.v1.PullRequest"), std::string::npos) << s;
}

TEST(FramePullResponseTest, HeadValuesTailParseAsPullResponse) {
  for (int64_t value_bytes : {0, 4, 200, 4 << 20}) {
    for (int64_t staleness : {0, 1, 300, -2}) {
      const std::string values(value_bytes, '\x5a');
      PullResponseFraming framing = FramePullResponse(value_bytes, staleness);
      v1::PullResponse parsed;
      ASSERT_TRUE(parsed.ParseFromString(framing.head + values + framing.tail));
      EXPECT_EQ(parsed.values(), values);
      EXPECT_EQ(parsed.staleness(), staleness);
      if (staleness == 0) {
        EXPECT_TRUE(framing.tail.empty());
      }
    }
  }
}

}  // namespace
}  // namespace ps::server
