#include "fuzz/data_plane_job.h"

#include "common/hash.h"

namespace ps::fuzz {
namespace {

constexpr uint32_t kPartitions = 8;
constexpr uint32_t kOwned[] = {1, 2, 5, 6};

v1::TableDef* AddTable(v1::CreateTablesRequest* job, const std::string& name,
                       int64_t size, int dim, v1::OptimizerType optimizer) {
  v1::TableDef* t = job->add_tables();
  t->set_name(name);
  t->set_kind(dim > 0 ? v1::SPARSE : v1::DENSE);
  t->set_size(size);
  t->set_dim(dim);
  t->mutable_init()->set_kind(v1::Initializer::UNIFORM);
  t->mutable_init()->set_scale(0.1f);
  t->mutable_init()->set_seed(11);
  t->mutable_optimizer()->set_type(optimizer);
  t->mutable_optimizer()->set_learning_rate(0.05f);
  return t;
}

void AddRange(v1::CreateTablesRequest* job, const std::string& table,
              int64_t begin, int64_t end) {
  v1::DenseRange* r = job->add_ranges();
  r->set_table(table);
  r->set_begin(begin);
  r->set_end(end);
}

}  // namespace

JobSetup SetupOf(uint8_t setup) {
  JobSetup out;
  switch (setup & 3) {
    case 1:
      out.mode = v1::SSP;
      break;
    case 2:
      out.mode = v1::BSP;
      break;
    case 3:
      out.with_workers = false;
      break;
  }
  out.backup = (setup & 4) != 0;
  return out;
}

uint8_t SetupByte(const JobSetup& setup) {
  uint8_t out = !setup.with_workers     ? 3
                : setup.mode == v1::SSP ? 1
                : setup.mode == v1::BSP ? 2
                                        : 0;
  return out | (setup.backup ? 4 : 0);
}

v1::CreateTablesRequest DataPlaneJob(const JobSetup& setup) {
  v1::CreateTablesRequest job;
  job.set_job_id(kJobId);
  job.set_epoch(kEpoch);
  job.set_group(kGroup);
  job.set_role(setup.backup ? v1::BACKUP : v1::PRIMARY);
  job.set_consistency(setup.mode);
  if (setup.mode == v1::SSP) job.set_staleness(1);
  if (setup.with_workers) {
    job.add_worker_ids("w0");
    job.add_worker_ids("w1");
  }
  AddTable(&job, "w", 64, 0, v1::ADAM);
  AddTable(&job, "b", 4, 0, v1::SGD);
  AddTable(&job, "emb", 0, 4, v1::ADAGRAD);
  AddTable(&job, "wide", 0, 1, v1::FTRL);
  AddRange(&job, "w", 16, 48);
  AddRange(&job, "b", 0, 4);
  job.set_sparse_partitions(kPartitions);
  for (uint32_t p : kOwned) job.add_owned_partitions(p);
  return job;
}

int SparseDim(const std::string& name) {
  if (name == "emb") return 4;
  if (name == "wide") return 1;
  return 0;
}

bool OwnsKey(uint64_t key) {
  const uint32_t p = SparsePartition(key, kPartitions);
  for (uint32_t owned : kOwned) {
    if (p == owned) return true;
  }
  return false;
}

}  // namespace ps::fuzz
