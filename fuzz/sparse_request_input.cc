#include "fuzz/sparse_request_input.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ps::fuzz {
namespace {

// Reads fixed-size fields; past the end, zeros.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <typename T>
  T Next() {
    T v{};
    const size_t n = std::min(sizeof(T), size_ - at_);
    std::memcpy(&v, data_ + at_, n);
    at_ += n;
    return v;
  }

  std::string Bytes(size_t n) {
    n = std::min(n, size_ - at_);
    std::string out(reinterpret_cast<const char*>(data_) + at_, n);
    at_ += n;
    return out;
  }

  std::string Rest() { return Bytes(size_ - at_); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

template <typename T>
void Put(T v, std::string* out) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

void SetMode(int mode, v1::CreateTablesRequest* job) {
  if (mode == 1) {
    job->set_consistency(v1::SSP);
    job->set_staleness(1);
  } else {
    job->set_consistency(mode == 2 ? v1::BSP : v1::ASP);
  }
  if (mode != 3) {
    job->add_worker_ids("w0");
    job->add_worker_ids("w1");
  }
}

void AddDenseTable(v1::CreateTablesRequest* job) {
  v1::TableDef* dense = job->add_tables();
  dense->set_name("d");
  dense->set_size(4);
  dense->mutable_init()->set_kind(v1::Initializer::ZEROS);
  dense->mutable_optimizer()->set_type(v1::SGD);
  dense->mutable_optimizer()->set_learning_rate(0.1f);
  v1::DenseRange* range = job->add_ranges();
  range->set_table("d");
  range->set_begin(0);
  range->set_end(4);
}

}  // namespace

SparseRequestInput DecodeSparseRequest(const uint8_t* data, size_t size) {
  Reader r(data, size);
  SparseRequestInput in;
  const uint8_t flags = r.Next<uint8_t>();
  in.push = (flags & 1) != 0;
  in.values_from_input = (flags & 8) != 0;
  v1::CreateTablesRequest& job = in.job;
  job.set_job_id(kSparseJob);
  job.set_epoch(1);
  SetMode((flags >> 1) & 3, &job);
  job.set_sparse_partitions(r.Next<uint32_t>());
  const int owned = r.Next<uint8_t>() & 15;
  for (int i = 0; i < owned; ++i) job.add_owned_partitions(r.Next<uint32_t>());
  const int tables = 1 + r.Next<uint8_t>() % 3;
  for (int i = 0; i < tables; ++i) {
    v1::TableDef* t = job.add_tables();
    t->set_name(absl::StrCat("t", i));
    t->set_kind(v1::SPARSE);
    t->set_dim(r.Next<uint16_t>());
    t->mutable_init()->set_kind(v1::Initializer::UNIFORM);
    t->mutable_init()->set_scale(0.5f);
    t->mutable_optimizer()->set_type(
        static_cast<v1::OptimizerType>(r.Next<uint8_t>() % 8));
    t->mutable_optimizer()->set_learning_rate(0.1f);
  }
  AddDenseTable(&job);
  const int slices = r.Next<uint8_t>() % 8;
  for (int i = 0; i < slices; ++i) {
    const int table = r.Next<uint8_t>();
    v1::SparseSlice* s = in.slices.Add();
    s->set_table(table < tables    ? absl::StrCat("t", table)
                 : table == tables ? std::string("d")
                                   : std::string("none"));
    s->set_keys(r.Next<int64_t>());
  }
  in.keys = r.Bytes(r.Next<uint16_t>());
  if (in.values_from_input) in.values = r.Rest();
  return in;
}

std::string EncodeSparseRequest(const SparseSeed& seed) {
  std::string out;
  Put<uint8_t>((seed.push ? 1 : 0) | (seed.mode & 3) << 1 |
                   (seed.values_from_input ? 8 : 0),
               &out);
  Put(seed.partitions, &out);
  Put<uint8_t>(seed.owned.size(), &out);
  for (uint32_t p : seed.owned) Put(p, &out);
  Put<uint8_t>(seed.tables.size() - 1, &out);
  for (const SparseSeed::Table& t : seed.tables) {
    Put(t.dim, &out);
    Put(t.optimizer, &out);
  }
  Put<uint8_t>(seed.slices.size(), &out);
  for (const SparseSeed::Slice& s : seed.slices) {
    Put(s.table, &out);
    Put(s.keys, &out);
  }
  Put<uint16_t>(seed.keys.size() * 8, &out);
  for (uint64_t k : seed.keys) Put(k, &out);
  return out + seed.values;
}

}  // namespace ps::fuzz
