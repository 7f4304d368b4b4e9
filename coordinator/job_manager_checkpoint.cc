// JobManager's checkpoints and resume (job_manager.h; docs/design.md,
// "Checkpoints").
#include <algorithm>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/job_state.h"
#include "common/job_token.h"
#include "common/logging.h"
#include "coordinator/job_manager.h"
#include "coordinator/job_placement.h"
#include "server/checkpoint_file.h"

namespace ps::coordinator {
namespace {

constexpr int kMaxAutoResumes = 3;
constexpr char kManifest[] = "manifest.json";
// Longest wait for every rank to reach a checkpoint's cut, and to load.
constexpr absl::Duration kCheckpointTimeout = absl::Minutes(10);

std::string CheckpointDir(const v1::Job& job, int64_t step) {
  return absl::StrCat(job.spec().training().checkpoint().dir(), "/", job.id(),
                      "/ckpt-", step);
}

std::string GroupFile(int group) { return absl::StrCat("group-", group, ".snap"); }

int KeepOf(const v1::Job& job) {
  const int keep = job.spec().training().checkpoint().keep();
  return keep > 0 ? keep : 3;
}

// Whether the tables of two maps are the same model: names, kinds, sizes
// and dims, in order.
std::string TableDifference(const v1::PartitionMap& checkpoint,
                            const v1::PartitionMap& job) {
  if (checkpoint.tables_size() != job.tables_size()) {
    return absl::StrCat("the checkpoint has ", checkpoint.tables_size(),
                        " tables, the job ", job.tables_size(),
                        ": another model shape");
  }
  for (int i = 0; i < job.tables_size(); ++i) {
    const v1::TableDef& a = checkpoint.tables(i);
    const v1::TableDef& b = job.tables(i);
    if (a.name() != b.name() || a.kind() != b.kind() || a.size() != b.size() ||
        a.dim() != b.dim()) {
      return absl::StrCat("table ", i, " is ", a.name(), " of ", a.size(),
                          " values (dim ", a.dim(), ") in the checkpoint but ",
                          b.name(), " of ", b.size(), " values (dim ", b.dim(),
                          ") in the job: another model shape");
    }
  }
  return "";
}

}  // namespace

int64_t JobManager::CutStep(const Record& r, int64_t ahead) const {
  int64_t furthest = 0, last = 0;
  for (int rank = 0; rank < r.tasks.ranks(); ++rank) {
    furthest = std::max(furthest, r.tasks.ReportedStep(rank));
    last = std::max(last, r.tasks.ReportedTotal(rank));
  }
  const int64_t step = furthest + ahead;
  return last > 0 ? std::min(step, last) : step;
}

absl::StatusOr<v1::CheckpointInfo> JobManager::Checkpoint(
    const std::string& job_id) {
  const absl::Time start = clock_();
  v1::Job job;
  int64_t step = 0, ahead = 0;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Record*> r = Find(job_id);
    if (!r.ok()) return r.status();
    job = (*r)->job;
    if (job.state() != v1::RUNNING) {
      return absl::FailedPreconditionError(absl::StrCat(
          job_id, " is ", v1::JobState_Name(job.state()),
          "; only a RUNNING job is checkpointed"));
    }
    if (job.spec().training().checkpoint().dir().empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          job_id, " has no training.checkpoint.dir: its spec says where "
          "checkpoints go"));
    }
    if ((*r)->checkpointing) {
      return absl::FailedPreconditionError(
          absl::StrCat(job_id, ": a checkpoint is being taken already"));
    }
    (*r)->checkpointing = true;
    ahead = std::max(4, 2 * job.spec().training().report_every_steps());
    step = CutStep(**r, ahead);
  }
  absl::StatusOr<v1::CheckpointInfo> info = WriteCheckpointAt(job, step, ahead);
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> r = Find(job_id);
  if (!r.ok()) return r.status();
  (*r)->checkpointing = false;
  (*r)->last_checkpoint = clock_();
  if (!info.ok()) {
    ++events_.checkpoints_failed;
    (*r)->retry_checkpoint = clock_() + absl::Seconds(10);
    Logger("jobs")->warn("{}: checkpoint failed: {}; the next in 10 s at the "
                         "earliest", job_id, info.status().ToString());
    return info.status();
  }
  info->set_write_seconds(absl::ToDoubleSeconds(clock_() - start));
  ++events_.checkpoints_written;
  *(*r)->job.add_checkpoints() = *info;
  std::vector<std::string> old;
  auto* list = (*r)->job.mutable_checkpoints();
  while (list->size() > KeepOf((*r)->job)) {
    old.push_back(list->Get(0).dir());
    list->DeleteSubrange(0, 1);
  }
  Changed(*r);
  for (const std::string& dir : old) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  Logger("jobs")->info(
      "{}: checkpoint at step {} in {} ({} bytes, pushes held at most {} us, "
      "{:.3f} s)",
      job_id, info->step(), info->dir(), info->bytes(), info->pause_us(),
      info->write_seconds());
  return info;
}

absl::StatusOr<v1::CheckpointInfo> JobManager::WriteCheckpointAt(
    const v1::Job& job, int64_t step, int64_t ahead) {
  const v1::PartitionMap& map = job.partition_map();
  for (int attempt = 0;; ++attempt) {
    const std::string dir = CheckpointDir(job, step);
    std::vector<v1::WriteCheckpointResponse> written(map.groups_size());
    const std::vector<absl::Status> done =
        RunConcurrently(map.groups_size(), [&](int g) -> absl::Status {
          if (map.groups(g).replicas_size() == 0) {
            return absl::UnavailableError(
                absl::StrCat("group ", g, " has no replica"));
          }
          v1::WriteCheckpointRequest request;
          request.set_job_id(job.id());
          request.set_group(g);
          request.set_epoch(map.epoch());
          request.set_at_clock(step);
          request.set_path(absl::StrCat(dir, "/", GroupFile(g)));
          absl::StatusOr<v1::WriteCheckpointResponse> w =
              servers_->WriteCheckpoint(map.groups(g).replicas(0), request,
                                        kCheckpointTimeout);
          if (!w.ok()) return w.status();
          written[g] = *w;
          return absl::OkStatus();
        });
    absl::Status failed;
    bool past = false;
    for (const absl::Status& s : done) {
      if (s.ok()) continue;
      past |= absl::StrContains(s.message(), "past the checkpoint's cut");
      if (failed.ok()) failed = s;
    }
    if (!failed.ok()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);  // no manifest: not one
      if (!past || attempt >= 4) return failed;
      step += ahead << attempt;  // the ranks went faster: further ahead
      continue;
    }
    server::CheckpointManifest manifest;
    manifest.job_id = job.id();
    manifest.checkpoint_id = step;
    manifest.created_unix_ms = absl::ToUnixMillis(clock_());
    manifest.job_spec = job.spec();
    manifest.partition_map = map;
    manifest.epoch = map.epoch();
    manifest.consistency = job.spec().training().consistency();
    for (int rank = 0; rank < job.push_worker_ids_size(); ++rank) {
      manifest.ranks.push_back({job.push_worker_ids(rank), step});
    }
    v1::CheckpointInfo info;
    for (int g = 0; g < map.groups_size(); ++g) {
      manifest.files.push_back(
          {g, GroupFile(g), written[g].size(), written[g].crc32()});
      info.set_bytes(info.bytes() + static_cast<int64_t>(written[g].size()));
      info.set_pause_us(std::max(info.pause_us(), written[g].pause_us()));
    }
    if (absl::Status s = server::WriteManifestFile(
            absl::StrCat(dir, "/", kManifest), manifest);
        !s.ok()) {
      return s;
    }
    info.set_dir(dir);
    info.set_step(step);
    info.set_time_ms(manifest.created_unix_ms);
    return info;
  }
}

void JobManager::RunCheckpoints() {
  std::string due;
  {
    absl::ReaderMutexLock lock(&mu_);
    const absl::Time now = clock_();
    for (const auto& [n, r] : jobs_) {
      const v1::CheckpointSpec& c = r.job.spec().training().checkpoint();
      if (r.job.state() != v1::RUNNING || c.dir().empty() || r.checkpointing ||
          now < r.retry_checkpoint) {
        continue;
      }
      int64_t slowest = -1;
      for (int rank = 0; rank < r.tasks.ranks(); ++rank) {
        const int64_t s = r.tasks.ReportedStep(rank);
        slowest = slowest < 0 ? s : std::min(slowest, s);
      }
      const int64_t last = r.job.checkpoints().empty()
                               ? r.job.resume_step()
                               : r.job.checkpoints().rbegin()->step();
      const bool by_steps =
          c.every_steps() > 0 && slowest >= last + c.every_steps();
      const bool by_time =
          c.every_seconds() > 0 &&
          now - r.last_checkpoint >= absl::Seconds(c.every_seconds());
      if (by_steps || by_time) {
        due = r.job.id();
        break;
      }
    }
  }
  if (!due.empty()) Checkpoint(due).IgnoreError();  // logged inside
}

absl::StatusOr<v1::ResumeJobResponse> JobManager::Resume(
    const v1::ResumeJobRequest& request) {
  std::string dir = request.from();
  v1::Job job;
  {
    absl::ReaderMutexLock lock(&mu_);
    const Record* r = FindConst(request.job_id());
    if (r == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("unknown job '", request.job_id(), "'"));
    }
    job = r->job;
  }
  if (job.state() != v1::FAILED && job.state() != v1::CANCELLED) {
    return absl::FailedPreconditionError(absl::StrCat(
        job.id(), " is ", v1::JobState_Name(job.state()),
        "; only a FAILED or CANCELLED job is resumed"));
  }
  if (dir.empty()) {
    if (job.checkpoints().empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          job.id(), " has no checkpoint; name one with --from=DIR"));
    }
    dir = job.checkpoints().rbegin()->dir();
  }
  if (request.num_servers() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_servers: ", request.num_servers(), "; allowed: >= 0"));
  }
  absl::StatusOr<server::CheckpointManifest> manifest =
      server::ReadManifestFile(absl::StrCat(dir, "/", kManifest));
  if (!manifest.ok()) return manifest.status();
  if (manifest->job_id != job.id()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, "/", kManifest, " is a checkpoint of ",
                     manifest->job_id, ", not of ", job.id()));
  }
  if (job.partition_map().tables_size() > 0) {
    if (std::string d = TableDifference(manifest->partition_map,
                                        job.partition_map());
        !d.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, "/", kManifest, ": ", d));
    }
  }
  if (static_cast<int>(manifest->ranks.size()) !=
      job.spec().cluster().num_workers()) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, "/", kManifest, " has ", manifest->ranks.size(),
        " ranks; the job has ", job.spec().cluster().num_workers()));
  }
  for (const server::CheckpointFile& f : manifest->files) {
    const std::string path = absl::StrCat(dir, "/", f.name);
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) {
      return absl::NotFoundError(absl::StrCat(
          "checkpoint file ", path, " (group ", f.group, "): ", ec.message()));
    }
    if (size != f.size) {
      return absl::DataLossError(absl::StrCat(
          "checkpoint file ", path, " is ", size, " bytes; its manifest says ",
          f.size));
    }
  }
  std::vector<std::string> push_ids;
  int64_t step = 0;
  for (const server::CheckpointRank& rank : manifest->ranks) {
    push_ids.push_back(rank.worker_id);
    step = rank.step;
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> r = Find(job.id());
  if (!r.ok()) return r.status();
  if ((*r)->job.state() != job.state()) {
    return absl::FailedPreconditionError(
        absl::StrCat(job.id(), " changed meanwhile; try again"));
  }
  Requeue(*r, dir, step, push_ids, request.num_servers(),
          absl::StrCat("resumed by a user from ", dir));
  v1::ResumeJobResponse response;
  response.set_from(dir);
  response.set_step(step);
  return response;
}

void JobManager::Requeue(Record* r, const std::string& dir, int64_t step,
                         const std::vector<std::string>& push_worker_ids,
                         int servers, const std::string& why) {
  v1::Job& job = r->job;
  for (const std::string& w : job.worker_ids()) {
    auto it = busy_.find(w);
    if (it != busy_.end() && it->second == job.id()) busy_.erase(it);
  }
  if (job.partition_map().servers_size() > 0 && r->drop_on.empty()) {
    // Live servers only: the new attempt waits for this drop, and a dead
    // server has lost the tables anyway.
    std::vector<v1::ServerEndpoint> live;
    for (const v1::ServerEndpoint& e : ServersOfJob(job)) {
      std::optional<MemberInfo> m = members_->Get(e.member_id());
      if (m.has_value() && m->alive) live.push_back(e);
    }
    if (!live.empty()) QueueDrop(r, std::move(live));
  }
  if (servers > 0) job.mutable_spec()->mutable_cluster()->set_num_servers(servers);
  job.clear_partition_map();
  job.clear_worker_ids();
  job.clear_push_worker_ids();
  for (const std::string& id : push_worker_ids) job.add_push_worker_ids(id);
  job.clear_progress();
  job.clear_result();
  job.set_end_time_ms(0);
  job.set_attempt(job.attempt() + 1);
  if (!r->job_key.empty()) {
    // A new attempt's key retires every token of the attempts before.
    absl::StatusOr<std::string> key = NewJobKey();
    if (key.ok()) r->job_key = *std::move(key);
  }
  job.set_resumed_from(dir);
  job.set_resume_step(step);
  job.set_state(v1::PENDING);
  job.set_reason(absl::StrCat("queued to resume at step ", step, " (", why,
                              ")"));
  r->tasks = TaskReports();
  r->handovers = RankHandovers();
  Changed(r);
  ++events_.jobs_resumed;
  Logger("jobs")->warn("{}: attempt {} queued, resuming at step {} from {}: {}",
                       job.id(), job.attempt(), step, dir, why);
}

bool JobManager::ResumeByItself(Record* r, const std::string& why) {
  const v1::Job& job = r->job;
  if (job.checkpoints().empty() || job.attempt() >= kMaxAutoResumes) {
    return false;
  }
  const v1::CheckpointInfo& newest = *job.checkpoints().rbegin();
  std::vector<std::string> push_ids(job.push_worker_ids().begin(),
                                    job.push_worker_ids().end());
  // As many servers as are left, when fewer than the job had.
  const int live = static_cast<int>(members_->Live(v1::SERVER).size());
  const int had = job.partition_map().servers_size();
  Requeue(r, newest.dir(), newest.step(), push_ids,
          live < had ? std::max(live, 1) : 0, why);
  return true;
}

absl::Status JobManager::LoadCheckpoint(const v1::Job& job) {
  const std::string path = absl::StrCat(job.resumed_from(), "/", kManifest);
  absl::StatusOr<server::CheckpointManifest> manifest =
      server::ReadManifestFile(path);
  if (!manifest.ok()) return manifest.status();
  if (std::string d =
          TableDifference(manifest->partition_map, job.partition_map());
      !d.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", d));
  }
  v1::LoadCheckpointRequest base;
  base.set_job_id(job.id());
  base.set_epoch(job.partition_map().epoch());
  *base.mutable_old_map() = manifest->partition_map;
  *base.mutable_map() = job.partition_map();
  for (const server::CheckpointFile& f : manifest->files) {
    v1::CheckpointFileRef* ref = base.add_files();
    ref->set_group(f.group);
    ref->set_path(absl::StrCat(job.resumed_from(), "/", f.name));
    ref->set_size(f.size);
    ref->set_crc32(f.crc32);
  }
  for (const server::CheckpointRank& rank : manifest->ranks) {
    base.add_resume_steps(rank.step);
  }
  std::vector<std::pair<v1::ServerEndpoint, int>> calls;
  for (int g = 0; g < job.partition_map().groups_size(); ++g) {
    for (const v1::ServerEndpoint& e : job.partition_map().groups(g).replicas()) {
      calls.push_back({e, g});
    }
  }
  const std::vector<absl::Status> done =
      RunConcurrently(static_cast<int>(calls.size()), [&](int i) {
        v1::LoadCheckpointRequest request = base;
        request.set_group(calls[i].second);
        return servers_->LoadCheckpoint(calls[i].first, request,
                                        kCheckpointTimeout);
      });
  for (const absl::Status& s : done) {
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("resuming from ",
                                                 job.resumed_from(), ": ",
                                                 s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace ps::coordinator
