#include "server/test_jobs.h"

#include <cstring>
#include <vector>

namespace ps::server {

v1::CreateTablesRequest CreateTwoWorkerJob(v1::Consistency mode,
                                           int staleness) {
  v1::CreateTablesRequest r;
  r.set_job_id("j");
  r.set_epoch(1);
  r.set_consistency(mode);
  r.set_staleness(staleness);
  r.add_worker_ids("a");
  r.add_worker_ids("b");
  v1::TableDef* t = r.add_tables();
  t->set_name("w");
  t->set_size(4);
  t->mutable_init()->set_kind(v1::Initializer::ZEROS);
  t->mutable_optimizer()->set_type(v1::SGD);
  t->mutable_optimizer()->set_learning_rate(1.0f);
  v1::DenseRange* range = r.add_ranges();
  range->set_table("w");
  range->set_end(4);
  return r;
}

v1::PushRequest PushToW(const std::string& worker, int64_t clock, float g,
                        uint64_t seq) {
  v1::PushRequest p;
  p.set_job_id("j");
  p.set_epoch(1);
  p.set_worker_id(worker);
  p.set_seq(seq);
  p.set_clock(clock);
  p.set_clock_pushes(1);
  v1::DenseSlice* s = p.add_slices();
  s->set_table("w");
  s->set_count(4);
  std::vector<float> v(4, g);
  p.set_values(std::string(reinterpret_cast<const char*>(v.data()), 16));
  return p;
}

v1::PullRequest PullOfW(int64_t clock) {
  v1::PullRequest p;
  p.set_job_id("j");
  p.set_epoch(1);
  p.set_clock(clock);
  v1::DenseSlice* s = p.add_slices();
  s->set_table("w");
  s->set_count(4);
  return p;
}

v1::CreateTablesRequest CreateOneTableJob(const std::string& job_id,
                                          int64_t size) {
  v1::CreateTablesRequest create;
  create.set_job_id(job_id);
  create.set_epoch(1);
  v1::TableDef* t = create.add_tables();
  t->set_name("w");
  t->set_size(size);
  t->mutable_init()->set_kind(v1::Initializer::ZEROS);
  t->mutable_optimizer()->set_type(v1::SGD);
  t->mutable_optimizer()->set_learning_rate(1.0f);
  create.add_ranges()->set_table("w");
  create.mutable_ranges(0)->set_end(size);
  return create;
}

v1::CreateTablesRequest CreateSparseJob(const std::string& job_id,
                                        const std::string& table, int dim) {
  v1::CreateTablesRequest create;
  create.set_job_id(job_id);
  create.set_epoch(1);
  v1::TableDef* t = create.add_tables();
  t->set_name(table);
  t->set_kind(v1::SPARSE);
  t->set_dim(dim);
  t->mutable_init()->set_kind(v1::Initializer::ZEROS);
  t->mutable_optimizer()->set_type(v1::SGD);
  t->mutable_optimizer()->set_learning_rate(1.0f);
  create.set_sparse_partitions(1);
  create.add_owned_partitions(0);
  return create;
}

std::vector<float> RampGradient(int64_t size) {
  std::vector<float> g(size);
  for (int64_t i = 0; i < size; ++i) g[i] = static_cast<float>(i % 1000 + 1);
  return g;
}

v1::PushRequest PushAllOfW(const std::string& job_id,
                           const std::vector<float>& g) {
  v1::PushRequest push;
  push.set_job_id(job_id);
  push.set_epoch(1);
  push.add_slices()->set_table("w");
  push.mutable_slices(0)->set_count(static_cast<int64_t>(g.size()));
  push.set_values(std::string(reinterpret_cast<const char*>(g.data()),
                              g.size() * sizeof(float)));
  return push;
}

float FirstValue(const v1::PullResponse& response) {
  float f = 0;
  if (response.values().size() >= 4) {
    std::memcpy(&f, response.values().data(), 4);
  }
  return f;
}

}  // namespace ps::server
