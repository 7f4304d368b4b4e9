#include "client/psctl/safetensors.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace ps::client {
namespace {

std::string Le64(uint64_t n) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out;
}

// A file with header `json` and `data`, as any writer might make it.
std::string File(const std::string& json, const std::string& data) {
  return Le64(json.size()) + json + data;
}

// The error ParseSafetensors gives for `bytes`; fails the test when it
// parses.
absl::Status ParseError(const std::string& bytes) {
  auto file = ParseSafetensors(bytes, "m.safetensors");
  EXPECT_FALSE(file.ok());
  if (file.ok()) return absl::OkStatus();
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(file.status().message().substr(0, 15), "m.safetensors: ")
      << file.status();
  return file.status();
}

bool Says(const absl::Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

Safetensors Example() {
  Safetensors file;
  const float w[3] = {1.5f, -2, 0.25f};
  const uint64_t keys[2] = {3, 1ull << 60};
  file.tensors.push_back({"w", "F32", {3}, std::string((const char*)w, 12)});
  file.tensors.push_back({"k", "U64", {2}, std::string((const char*)keys, 16)});
  file.tensors.push_back({"empty", "F32", {0, 4}, ""});
  file.metadata["format"] = "test";
  return file;
}

TEST(SafetensorsTest, EncodeThenParseRoundTrips) {
  auto bytes = EncodeSafetensors(Example());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto back = ParseSafetensors(*bytes, "m.safetensors");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->metadata, Example().metadata);
  ASSERT_EQ(back->tensors.size(), 3u);
  // In data order: 8-byte elements first.
  EXPECT_EQ(back->tensors[0].name, "k");
  EXPECT_EQ(back->tensors[0].data, Example().tensors[1].data);
  EXPECT_EQ(back->tensors[1].name, "w");
  EXPECT_EQ(back->tensors[1].shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(back->tensors[1].data, Example().tensors[0].data);
  EXPECT_EQ(back->tensors[2].name, "empty");
  EXPECT_EQ(back->tensors[2].shape, (std::vector<int64_t>{0, 4}));
}

TEST(SafetensorsTest, LayoutIsTheReferenceOne) {
  Safetensors file;
  file.tensors.push_back({"a", "F32", {2}, std::string(8, 'x')});
  auto bytes = EncodeSafetensors(file);
  ASSERT_TRUE(bytes.ok());
  const std::string json =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  // Padded with spaces so that the data starts at a multiple of 8.
  const std::string padded = json + std::string((8 - json.size() % 8) % 8, ' ');
  EXPECT_EQ(*bytes, File(padded, std::string(8, 'x')));
  EXPECT_TRUE(ParseSafetensors(File(json, std::string(8, 'x')), "a").ok());
}

TEST(SafetensorsTest, HeaderLengthIsCheckedAgainstTheFileFirst) {
  EXPECT_TRUE(Says(ParseError("abc"), "3 bytes, shorter than the header"));
  EXPECT_TRUE(Says(ParseError(Le64(1ull << 40) + "{}"),
                   "header length 1099511627776 but only 2 bytes follow"));
  EXPECT_TRUE(Says(ParseError(Le64(~0ull) + "{}"),
                   "header length 18446744073709551615 but only 2"));
  EXPECT_TRUE(Says(ParseError(File("", "")), "does not start with '{'"));
}

TEST(SafetensorsTest, HeaderMustBeWellFormedJson) {
  EXPECT_TRUE(Says(ParseError(File("{\"a\":", "")), "not a well-formed"));
  EXPECT_TRUE(Says(ParseError(File("{} x", "")), "not a well-formed"));
  EXPECT_TRUE(Says(ParseError(File("{\"\xff\":1}", "")), "not a well-formed"));
  EXPECT_TRUE(Says(ParseError(File(R"({"a": 1})", "")),
                   "tensor \"a\": its entry is not an object"));
  EXPECT_TRUE(Says(ParseError(File(R"({"__metadata__": {"k": 1}})", "")),
                   "__metadata__ \"k\" is not a string"));
}

TEST(SafetensorsTest, EntriesAreCheckedFieldByField) {
  auto entry = [](const std::string& fields) {
    return File(R"({"t": {)" + fields + "}}", std::string(8, '\0'));
  };
  EXPECT_TRUE(Says(ParseError(entry(R"("dtype": "F33", "shape": [2],
                                       "data_offsets": [0, 8])")),
                   "tensor \"t\": dtype \"F33\" is not one of BOOL, U8"));
  EXPECT_TRUE(Says(ParseError(entry(R"("dtype": "F32", "shape": [3],
                                       "data_offsets": [0, 8])")),
                   "shape [3] of F32 does not take the 8 bytes"));
  EXPECT_TRUE(Says(ParseError(entry(R"("dtype": "F32", "shape": [-2],
                                       "data_offsets": [0, 8])")),
                   "is not an array of integers >= 0"));
  EXPECT_TRUE(Says(ParseError(entry(R"("dtype": "U8", "shape":
      [4294967296, 4294967296, 4294967296], "data_offsets": [0, 8])")),
                   "of U8 does not take the 8 bytes"));
  EXPECT_TRUE(Says(ParseError(entry(R"("dtype": "F32", "shape": [2],
                                       "data_offsets": [8, 0])")),
                   "end before they begin"));
  EXPECT_TRUE(Says(ParseError(entry(R"("dtype": "F32", "shape": [2],
                                       "data_offsets": [0])")),
                   "needs \"data_offsets\""));
  EXPECT_TRUE(Says(ParseError(entry(R"("dtype": "F32", "shape": [2],
                                       "data_offsets": [0, 8], "x": 1)")),
                   "unexpected field \"x\""));
  EXPECT_TRUE(Says(ParseError(entry(R"("shape": [2], "data_offsets": [0, 8])")),
                   "needs \"dtype\""));
}

TEST(SafetensorsTest, TensorsMustCoverTheDataExactly) {
  const std::string data(16, '\0');
  auto two = [&](const std::string& a, const std::string& b) {
    return File(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": )" + a +
                    R"(}, "b": {"dtype": "F32", "shape": [2],
                    "data_offsets": )" +
                    b + "}}",
                data);
  };
  EXPECT_TRUE(ParseSafetensors(two("[0, 8]", "[8, 16]"), "x").ok());
  EXPECT_TRUE(Says(ParseError(two("[0, 8]", "[4, 12]")),
                   "tensor \"b\": data_offsets [4, 12] overlap another"));
  EXPECT_TRUE(Says(ParseError(two("[0, 8]", "[12, 20]")),
                   "data_offsets [12, 20] go past the end of the data"));
  EXPECT_TRUE(Says(ParseError(two("[4, 12]", "[12, 20]")),
                   "leave 4 bytes before them"));
  EXPECT_TRUE(Says(ParseError(File(R"({"a": {"dtype": "F32", "shape": [2],
                                   "data_offsets": [0, 8]}})",
                                   data)),
                   "8 bytes of data after the last tensor"));
}

TEST(SafetensorsTest, EveryTruncationIsAnErrorNotACrash) {
  auto bytes = EncodeSafetensors(Example());
  ASSERT_TRUE(bytes.ok());
  for (size_t n = 0; n < bytes->size(); ++n) {
    ParseError(bytes->substr(0, n)).IgnoreError();  // it checks the error
  }
}

TEST(SafetensorsTest, EncodeRefusesWhatItCannotWrite) {
  Safetensors file = Example();
  file.tensors[1].name = "w";
  EXPECT_TRUE(Says(EncodeSafetensors(file).status(), "named twice"));
  file = Example();
  file.tensors[0].dtype = "F31";
  EXPECT_TRUE(Says(EncodeSafetensors(file).status(), "dtype \"F31\""));
  file = Example();
  file.tensors[0].shape = {4};
  EXPECT_TRUE(Says(EncodeSafetensors(file).status(), "shape [4] of F32"));
  file = Example();
  file.tensors[0].name = "bad\xff";
  EXPECT_TRUE(Says(EncodeSafetensors(file).status(), "must be UTF-8"));
  file = Example();
  file.metadata["k"] = "\xc0\x80";  // an overlong NUL
  EXPECT_TRUE(Says(EncodeSafetensors(file).status(), "must be UTF-8"));
  file = Example();
  file.tensors[0].name = "__metadata__";
  EXPECT_EQ(EncodeSafetensors(file).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SafetensorsTest, FilesAreWrittenAndReadWhole) {
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/m.safetensors";
  ASSERT_TRUE(WriteSafetensors(Example(), path).ok());
  auto back = ReadSafetensors(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->tensors.size(), 3u);
  EXPECT_EQ(ReadSafetensors(path + ".missing").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ps::client
