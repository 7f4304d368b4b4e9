// What the push_request, pull_request and sparse_request fuzz targets
// check a TableStore against: an oracle of which requests the job of
// fuzz/data_plane_job.h accepts, written from table_store.h's contract
// rather than from its code, and the store's state before and after.
// Built with the targets by fuzz/build.sh only (not by Bazel).
#ifndef PS_FUZZ_DATA_PLANE_CHECKS_H_
#define PS_FUZZ_DATA_PLANE_CHECKS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "fuzz/data_plane_job.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/table_store.h"

namespace ps::fuzz {

// A store holding `job`; aborts when CreateTables refuses it.
std::unique_ptr<server::TableStore> NewStore(
    const v1::CreateTablesRequest& job);

// The group's whole state (its snapshot), to see that a refused request
// changed nothing.
std::string StateOf(const server::TableStore& store, const std::string& job_id,
                    int group);

// Whether `s` is one of the errors table_store.h documents for a request
// (NOT_FOUND, FAILED_PRECONDITION, OUT_OF_RANGE, INVALID_ARGUMENT,
// RESOURCE_EXHAUSTED) with a message.
bool DocumentedError(const absl::Status& s);

// The floats a pull of the data-plane job under `setup` answers, or nothing
// when the store must refuse it: the job, group and epoch are the job's,
// the group is its PRIMARY, the clock is >= 0, every dense slice lies in a range this server
// holds, every sparse slice names a SPARSE table with keys >= 1, the keys'
// bytes are 8 per key counted, and every key is in an owned partition.
std::optional<int64_t> ExpectedPullFloats(const v1::PullRequest& request,
                                          const JobSetup& setup);

// The same for a push whose values are `values` (the bytes of its values
// field): also no key twice in one sparse slice, values of exactly the
// floats counted, all finite, and a worker named unless the job is ASP;
// a push from a primary (to a BACKUP) rather than a client.
std::optional<int64_t> ExpectedPushFloats(const v1::PushRequest& request,
                                          const std::string& values,
                                          const JobSetup& setup);

}  // namespace ps::fuzz

#endif  // PS_FUZZ_DATA_PLANE_CHECKS_H_
