#include "server/table_defs.h"

#include <string>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

// Dense "w" (10 values, all here) and sparse "emb" (dim 8) over 16
// partitions, of which this server owns 0 and 5.
v1::CreateTablesRequest Valid() {
  v1::CreateTablesRequest r;
  r.set_job_id("j");
  v1::TableDef* w = r.add_tables();
  w->set_name("w");
  w->set_size(10);
  w->mutable_init()->set_kind(v1::Initializer::ZEROS);
  v1::TableDef* emb = r.add_tables();
  emb->set_name("emb");
  emb->set_kind(v1::SPARSE);
  emb->set_dim(8);
  emb->mutable_init()->set_kind(v1::Initializer::ZEROS);
  v1::DenseRange* range = r.add_ranges();
  range->set_table("w");
  range->set_end(10);
  r.set_sparse_partitions(16);
  r.add_owned_partitions(0);
  r.add_owned_partitions(5);
  return r;
}

void ExpectInvalid(const v1::CreateTablesRequest& r, const std::string& text) {
  absl::Status s = ValidateCreateTables(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find(text), std::string::npos) << s;
}

TEST(TableDefsTest, ValidRequestPasses) {
  EXPECT_TRUE(ValidateCreateTables(Valid()).ok());
}

TEST(TableDefsTest, DenseTableNeedsASizeAndNoDim) {
  v1::CreateTablesRequest r = Valid();
  r.mutable_tables(0)->set_size(0);
  ExpectInvalid(r, "table w: size 0; allowed for DENSE: [1, 2^36]");
  r = Valid();
  r.mutable_tables(0)->set_size(kMaxDenseSize + 1);
  ExpectInvalid(r, "allowed for DENSE: [1, 2^36]");
  r = Valid();
  r.mutable_tables(0)->set_dim(4);
  ExpectInvalid(r, "table w: dim 4; allowed for DENSE: 0");
}

TEST(TableDefsTest, SparseTableNeedsADimAndNoSize) {
  v1::CreateTablesRequest r = Valid();
  r.mutable_tables(1)->set_dim(0);
  ExpectInvalid(r, "table emb: dim 0; allowed for SPARSE: [1, 4096]");
  r.mutable_tables(1)->set_dim(kMaxSparseDim + 1);
  ExpectInvalid(r, "dim 4097");
  r = Valid();
  r.mutable_tables(1)->set_size(100);
  ExpectInvalid(r, "table emb: size 100; allowed for SPARSE: 0");
  r = Valid();
  r.mutable_tables(1)->set_kind(static_cast<v1::TableKind>(7));
  ExpectInvalid(r, "kind 7; allowed: DENSE, SPARSE");
}

TEST(TableDefsTest, RangesNameDenseTablesOnly) {
  v1::CreateTablesRequest r = Valid();
  r.mutable_ranges(0)->set_table("emb");
  ExpectInvalid(r, "range names table emb, which is SPARSE");
  r = Valid();
  r.mutable_ranges(0)->set_end(11);
  ExpectInvalid(r, "range [0, 11) is not within [0, 10)");
}

TEST(TableDefsTest, SparseTablesNeedPartitions) {
  v1::CreateTablesRequest r = Valid();
  r.set_sparse_partitions(0);
  r.clear_owned_partitions();
  ExpectInvalid(r,
                "sparse_partitions: 0; allowed: [1, 2^20] for a job with "
                "SPARSE tables");
  r.set_sparse_partitions(kMaxSparsePartitions + 1);
  ExpectInvalid(r, "sparse_partitions: 1048577");
  r = Valid();
  r.add_owned_partitions(16);
  ExpectInvalid(r, "owned_partitions: 16; allowed: [0, 16)");
  r = Valid();
  r.add_owned_partitions(5);
  ExpectInvalid(r, "owned_partitions: 5 is repeated");
  // Owning no partition is allowed: the server holds no keys.
  r = Valid();
  r.clear_owned_partitions();
  EXPECT_TRUE(ValidateCreateTables(r).ok());
}

TEST(TableDefsTest, DenseOnlyJobNeedsNoPartitions) {
  v1::CreateTablesRequest r = Valid();
  r.mutable_tables()->RemoveLast();
  r.set_sparse_partitions(0);
  r.clear_owned_partitions();
  EXPECT_TRUE(ValidateCreateTables(r).ok());
  r.add_owned_partitions(0);
  ExpectInvalid(r, "owned_partitions: 0; allowed: [0, 0)");
}

TEST(TableDefsTest, NamesMustBeUniqueAndPresent) {
  v1::CreateTablesRequest r = Valid();
  r.mutable_tables(1)->set_name("w");
  ExpectInvalid(r, "table w is defined twice");
  r = Valid();
  r.mutable_tables(1)->set_name("");
  ExpectInvalid(r, "table name is empty");
  r = Valid();
  r.set_job_id("");
  ExpectInvalid(r, "job_id is empty");
}

}  // namespace
}  // namespace ps::server
