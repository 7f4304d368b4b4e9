// Malformed and out-of-range requests sent over the wire to real daemons get
// a specific status and message, never crash them, and change nothing.
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/rpc.h"
#include "grpcpp/generic/generic_stub.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

class BadInputTest : public ClusterTest {
 protected:
  void SetUp() override {
    StartCluster(1, 1);
    grpc::ClientContext ctx;
    v1::GetClusterResponse cluster;
    ASSERT_TRUE(cluster_->coordinator()->GetCluster(&ctx, {}, &cluster).ok());
    for (const auto& m : cluster.members()) {
      if (m.role() == v1::SERVER) server_address_ = m.address();
    }
    ps_ = v1::ParameterServer::NewStub(MakeChannel(server_address_));
    v1::CreateTablesRequest create;
    create.set_job_id("manual-1");
    create.set_epoch(5);
    v1::TableDef* t = create.add_tables();
    t->set_name("w");
    t->set_size(1000);
    t->mutable_init()->set_kind(v1::Initializer::UNIFORM);
    t->mutable_init()->set_scale(1);
    t->mutable_optimizer()->set_type(v1::SGD);
    t->mutable_optimizer()->set_learning_rate(1);
    v1::DenseRange* r = create.add_ranges();
    r->set_table("w");
    r->set_begin(0);
    r->set_end(1000);
    // Sparse "emb": rows of 16, one partition, owned here.
    v1::TableDef* emb = create.add_tables();
    emb->set_name("emb");
    emb->set_kind(v1::SPARSE);
    emb->set_dim(16);
    *emb->mutable_init() = t->init();
    *emb->mutable_optimizer() = t->optimizer();
    create.set_sparse_partitions(1);
    create.add_owned_partitions(0);
    grpc::ClientContext cctx;
    v1::CreateTablesResponse created;
    ASSERT_TRUE(ps_->CreateTables(&cctx, create, &created).ok());
    initial_ = PullAll();
    initial_rows_ = PullRows(kProbeKeys);
  }

  std::string PullAll() {
    v1::PullRequest p;
    p.set_job_id("manual-1");
    p.set_epoch(5);
    v1::DenseSlice* s = p.add_slices();
    s->set_table("w");
    s->set_count(1000);
    grpc::ClientContext ctx;
    v1::PullResponse response;
    EXPECT_TRUE(ps_->Pull(&ctx, p, &response).ok());
    return response.values();
  }

  // The rows of `keys` in "emb", as the server answers them.
  std::string PullRows(const std::vector<uint64_t>& keys) {
    v1::PullRequest p;
    p.set_job_id("manual-1");
    p.set_epoch(5);
    v1::SparseSlice* s = p.add_sparse();
    s->set_table("emb");
    s->set_keys(static_cast<int64_t>(keys.size()));
    p.set_keys(KeyBytes(keys));
    grpc::ClientContext ctx;
    v1::PullResponse response;
    grpc::Status status = ps_->Pull(&ctx, p, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.values();
  }

  // Rows the server holds for "emb".
  int64_t SparseRowsHeld() {
    grpc::ClientContext ctx;
    v1::ServerStatusResponse status;
    EXPECT_TRUE(ps_->ServerStatus(&ctx, {}, &status).ok());
    for (const v1::TableStatus& t : status.tables()) {
      if (t.table() == "emb") return t.rows();
    }
    ADD_FAILURE() << "no status for table emb";
    return -1;
  }

  static std::string KeyBytes(const std::vector<uint64_t>& keys) {
    return std::string(reinterpret_cast<const char*>(keys.data()),
                       keys.size() * sizeof(uint64_t));
  }

  // A push of gradients for `rows` rows of `dim` values to new keys of the
  // sparse `table`.
  v1::PushRequest SparsePush(const std::string& table, int64_t rows, int dim) {
    v1::PushRequest p;
    p.set_job_id("manual-1");
    p.set_epoch(5);
    v1::SparseSlice* s = p.add_sparse();
    s->set_table(table);
    s->set_keys(2);
    p.set_keys(KeyBytes({1001, 1002}));
    const std::vector<float> grads(rows * dim, 1.0f);
    p.set_values(std::string(reinterpret_cast<const char*>(grads.data()),
                             grads.size() * sizeof(float)));
    return p;
  }

  v1::PushRequest GoodPush() {
    v1::PushRequest p;
    p.set_job_id("manual-1");
    p.set_epoch(5);
    v1::DenseSlice* s = p.add_slices();
    s->set_table("w");
    s->set_offset(10);
    s->set_count(4);
    p.set_values(std::string(16, '\x01'));
    return p;
  }

  void ExpectPushRejected(const v1::PushRequest& push, grpc::StatusCode code,
                          const std::string& text) {
    grpc::ClientContext ctx;
    v1::PushResponse response;
    grpc::Status s = ps_->Push(&ctx, push, &response);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_NE(s.error_message().find(text), std::string::npos)
        << s.error_message();
    EXPECT_EQ(PullAll(), initial_) << "stored values changed";
    EXPECT_TRUE(cluster_->server_process(0)->Running());
  }

  // Like ExpectPushRejected, and the sparse table neither changed nor grew.
  void ExpectSparsePushRejected(const v1::PushRequest& push,
                                grpc::StatusCode code,
                                const std::string& text) {
    const int64_t rows = SparseRowsHeld();
    ExpectPushRejected(push, code, text);
    EXPECT_EQ(SparseRowsHeld(), rows) << "a row was created";
    EXPECT_EQ(PullRows(kProbeKeys), initial_rows_) << "stored rows changed";
  }

  const std::vector<uint64_t> kProbeKeys = {7, 1ULL << 40, 99};
  std::string server_address_;
  std::unique_ptr<v1::ParameterServer::Stub> ps_;
  std::string initial_;
  std::string initial_rows_;
};

TEST_F(BadInputTest, DataPlaneRejectsEachMalformedPush) {
  v1::PushRequest p = GoodPush();
  p.set_job_id("job-404");
  ExpectPushRejected(p, grpc::StatusCode::NOT_FOUND, "job-404");
  p = GoodPush();
  p.mutable_slices(0)->set_table("nope");
  ExpectPushRejected(p, grpc::StatusCode::NOT_FOUND, "unknown table nope");
  p = GoodPush();
  p.set_epoch(4);
  ExpectPushRejected(p, grpc::StatusCode::FAILED_PRECONDITION,
                     "stale partition map");
  p = GoodPush();
  p.mutable_slices(0)->set_offset(998);
  ExpectPushRejected(p, grpc::StatusCode::OUT_OF_RANGE, "outside [0, 1000)");
  p = GoodPush();
  p.set_values(std::string(15, '\x01'));
  ExpectPushRejected(p, grpc::StatusCode::INVALID_ARGUMENT, "15 bytes");
  p = GoodPush();
  p.mutable_slices(0)->set_count(-4);
  ExpectPushRejected(p, grpc::StatusCode::OUT_OF_RANGE, "count -4");
}

TEST_F(BadInputTest, DataPlaneRejectsEachMalformedSparsePush) {
  // Each is a well-formed push (sent last, below) with one thing wrong.
  ExpectSparsePushRejected(SparsePush("w", 2, 16),
                           grpc::StatusCode::INVALID_ARGUMENT,
                           "table w is DENSE; sparse keys need a SPARSE table");
  // Rows of dimension 15 for a dim-16 table.
  ExpectSparsePushRejected(SparsePush("emb", 2, 15),
                           grpc::StatusCode::INVALID_ARGUMENT,
                           "values: 120 bytes, but the slices hold 0 dense "
                           "values + 32 sparse row values");
  // Values for three rows, two keys.
  ExpectSparsePushRejected(SparsePush("emb", 3, 16),
                           grpc::StatusCode::INVALID_ARGUMENT,
                           "values: 192 bytes");
  // A key count that does not match the key bytes.
  v1::PushRequest p = SparsePush("emb", 2, 16);
  p.mutable_sparse(0)->set_keys(3);
  ExpectSparsePushRejected(
      p, grpc::StatusCode::INVALID_ARGUMENT,
      "keys: 16 bytes, but the sparse slices count 3 keys");
  p = SparsePush("emb", 2, 16);
  p.set_keys(KeyBytes({1001, 1001}));
  ExpectSparsePushRejected(p, grpc::StatusCode::INVALID_ARGUMENT,
                           "sum the gradients of repeated keys");
  p = SparsePush("emb", 2, 16);
  p.mutable_sparse(0)->set_table("nope");
  ExpectSparsePushRejected(p, grpc::StatusCode::NOT_FOUND,
                           "unknown table nope");

  // And the well-formed push is applied: SGD with lr 1 and gradients 1.
  const std::string before = PullRows({1001, 1002});
  grpc::ClientContext ctx;
  v1::PushResponse response;
  ASSERT_TRUE(ps_->Push(&ctx, SparsePush("emb", 2, 16), &response).ok());
  const std::string after = PullRows({1001, 1002});
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); i += sizeof(float)) {
    float b, a;
    std::memcpy(&b, before.data() + i, sizeof(float));
    std::memcpy(&a, after.data() + i, sizeof(float));
    EXPECT_EQ(a, b - 1.0f) << "value " << i / sizeof(float);
  }
}

TEST_F(BadInputTest, GarbageBytesDoNotCrashTheServer) {
  grpc::GenericStub generic(MakeChannel(server_address_));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(5)));
  const char junk[] = "\xff\xff\xff\xff\x0f garbage that is not a protobuf";
  grpc::Slice slice(junk, sizeof(junk));
  grpc::ByteBuffer request(&slice, 1), response;
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/ps.v1.ParameterServer/Push", grpc::StubOptions(),
                    &request, &response, [&](grpc::Status s) {
                      status = s;
                      done.Notify();
                    });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(PullAll(), initial_);
  EXPECT_TRUE(cluster_->server_process(0)->Running());
}

TEST_F(BadInputTest, CoordinatorAnswersUnknownsAndMalformedRequests) {
  auto* c = cluster_->coordinator();
  {
    grpc::ClientContext ctx;
    v1::GetJobRequest r;
    r.set_job_id("job-42");
    v1::Job job;
    grpc::Status s = c->GetJob(&ctx, r, &job);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(s.error_message().find("job-42"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    v1::HeartbeatRequest r;
    r.set_member_id("worker-77");
    v1::HeartbeatResponse response;
    EXPECT_EQ(c->Heartbeat(&ctx, r, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    v1::RegisterRequest r;
    r.set_address("127.0.0.1:1");
    v1::RegisterResponse response;
    grpc::Status s = c->Register(&ctx, r, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("role"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    v1::SubmitJobRequest r;  // empty spec
    v1::SubmitJobResponse response;
    grpc::Status s = c->SubmitJob(&ctx, r, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("allowed"), std::string::npos)
        << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::ReportProgressRequest r;
    r.set_job_id("job-9");
    v1::ReportProgressResponse response;
    EXPECT_EQ(c->ReportProgress(&ctx, r, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_TRUE(cluster_->coordinator_process()->Running());
}

}  // namespace
}  // namespace ps::testing

namespace ps::testing {
namespace {

// Protobuf logs an error for every message with invalid UTF-8 in a string
// field; a peer sending them by the hundred gets them refused and logged
// through the "protobuf" logger at most once a second.
TEST_F(BadInputTest, InvalidUtf8FloodIsRefusedAndLoggedAtMostOnceASecond) {
  const absl::Time start = absl::Now();
  for (int i = 0; i < 200; ++i) {
    v1::PushRequest p = GoodPush();
    p.set_job_id("manual-\xff\xfe");
    grpc::ClientContext ctx;
    v1::PushResponse response;
    EXPECT_FALSE(ps_->Push(&ctx, p, &response).ok());
  }
  const int64_t seconds =
      absl::ToInt64Seconds(absl::Now() - start) + 1;  // rounded up
  EXPECT_EQ(PullAll(), initial_);
  std::ifstream log(work_dir_ + "/server0.log");
  std::string line;
  int utf8 = 0, routed = 0;
  while (std::getline(log, line)) {
    if (line.find("UTF-8") == std::string::npos) continue;
    ++utf8;
    routed += line.find("[protobuf]") != std::string::npos;
  }
  EXPECT_GE(routed, 1);
  EXPECT_EQ(routed, utf8) << "a protobuf message bypassed spdlog";
  EXPECT_LE(utf8, seconds + 1);
}

}  // namespace
}  // namespace ps::testing
