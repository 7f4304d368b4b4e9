// Mutual TLS, the role policy and job tokens, over real gRPC against a real
// ps_server and ps_coordinator run with --tls_dir: every data-plane and
// control RPC from every kind of caller gets the expected code, and the
// stored values are unchanged after every refused call.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>
#include <fstream>
#include <sstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/psctl/export.h"
#include "common/authz_policy.h"
#include "common/certs.h"
#include "common/job_spec.h"
#include "common/job_token.h"
#include "common/rpc.h"
#include "common/subprocess.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "gtest/gtest.h"
#include "proto/ps/v1/ps.grpc.pb.h"
#include "tests/cluster_fixture.h"
#include "tests/synthetic_data.h"

namespace ps::testing {
namespace {

namespace gx = grpc::experimental;
using ::testing::HasSubstr;

constexpr char kJob[] = "sec-1";
constexpr int kSize = 64;

std::string Tmp() { return std::getenv("TEST_TMPDIR"); }

certs::CertRequest Daemon(Role role, const std::string& name) {
  certs::CertRequest r;
  r.identity = {role, name};
  r.dns_names = {"localhost"};
  r.ip_addresses = {"127.0.0.1"};
  r.validity = certs::ValidFor(absl::Hours(24));
  return r;
}

certs::CertRequest Person(Role role, const std::string& name) {
  certs::CertRequest r;
  r.identity = {role, name};
  r.validity = certs::ValidFor(absl::Hours(24));
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A channel presenting `cert`/`key` (either may be empty: no certificate)
// and trusting `ca`, without the product's own checks, so that a test can
// present what a real client would refuse to load (an expired certificate).
std::shared_ptr<grpc::Channel> RawChannel(const std::string& address,
                                          const std::string& ca,
                                          const std::string& cert,
                                          const std::string& key) {
  std::shared_ptr<gx::CertificateProviderInterface> provider;
  if (cert.empty()) {
    provider = std::make_shared<gx::StaticDataCertificateProvider>(ca);
  } else {
    provider = std::make_shared<gx::StaticDataCertificateProvider>(
        ca, std::vector<gx::IdentityKeyCertPair>{{key, cert}});
  }
  gx::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  if (!cert.empty()) options.watch_identity_key_cert_pairs();
  options.set_check_call_host(false);
  options.set_certificate_verifier(
      std::make_shared<gx::NoOpCertificateVerifier>());
  grpc::ChannelArguments args;
  args.SetInt("ps.test_channel", rand());  // a connection of its own
  return grpc::CreateCustomChannel(address, gx::TlsCredentials(options), args);
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(Tmp() + "/security");
    std::filesystem::remove_all(*dir_);
    ASSERT_TRUE(certs::CreateClusterCredentials(
                    *dir_ + "/pki",
                    {Daemon(Role::kCoordinator, "c"), Daemon(Role::kServer, "s"),
                     Daemon(Role::kServer, "s2"), Daemon(Role::kWorker, "w1"),
                     Daemon(Role::kWorker, "w2"), Person(Role::kUser, "alice"),
                     Person(Role::kUser, "bob"), Person(Role::kAdmin, "root")})
                    .ok());
    // Another cluster's CA and a worker certificate it issued.
    ASSERT_TRUE(certs::CreateClusterCredentials(
                    *dir_ + "/evil", {Daemon(Role::kWorker, "w1")})
                    .ok());
    std::filesystem::create_directories(*dir_ + "/data");
    ASSERT_TRUE(
        WriteSyntheticFashionMnist(*dir_ + "/data", 1000, 200, 3).ok());
    coordinator_ =
        StartDaemon("coordinator/ps_coordinator", "coordinator-c",
                    "coordinator", {})
            .release();
    const std::string join = "--coordinator=" + coordinator_->address;
    server_ =
        StartDaemon("server/ps_server", "server-s", "server", {join}).release();
    worker_ =
        StartDaemon("worker/ps_worker", "worker-w1", "worker", {join}).release();
  }
  static void TearDownTestSuite() {
    for (Running** p : {&worker_, &server_, &coordinator_}) {
      delete *p;
      *p = nullptr;
    }
  }

  struct Running {
    std::unique_ptr<Subprocess> process;
    std::string address;
  };
  static std::unique_ptr<Running> StartDaemon(
      const std::string& binary, const std::string& identity,
      const std::string& name, std::vector<std::string> flags) {
    auto out = std::make_unique<Running>();
    const std::string port_file = *dir_ + "/" + name + ".addr";
    std::vector<std::string> argv = {
        RunfilesBinDir() + "/" + binary, "--port=0",
        "--port_file=" + port_file, "--tls_dir=" + Pki(identity),
        "--tls_refresh=1s"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto p = Subprocess::Start(argv, *dir_ + "/" + name + ".log");
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return out;
    out->process = *std::move(p);
    absl::StatusOr<std::string> address = WaitForFileLine(
        port_file, absl::Seconds(30), out->process.get());
    EXPECT_TRUE(address.ok()) << address.status();
    if (address.ok()) out->address = *address;
    return out;
  }

  static std::string Pki(const std::string& identity) {
    return *dir_ + "/pki/" + identity;
  }

  // A channel to `address` as `identity` (a folder of pki/), through the
  // product's own credentials.
  static std::shared_ptr<grpc::Channel> As(const std::string& identity,
                                           const std::string& address) {
    static int index = 0;
    auto security = RpcSecurity::Tls(TlsFilesInDir(Pki(identity)));
    EXPECT_TRUE(security.ok()) << security.status();
    return MakeChannel(security->get(), address, ++index);
  }
  static std::unique_ptr<v1::ParameterServer::Stub> ServerAs(
      const std::string& identity) {
    return v1::ParameterServer::NewStub(As(identity, server_->address));
  }
  static std::unique_ptr<v1::Coordinator::Stub> CoordinatorAs(
      const std::string& identity) {
    return v1::Coordinator::NewStub(As(identity, coordinator_->address));
  }

  void SetUp() override {
    key_ = *NewJobKey();
    other_key_ = *NewJobKey();
    v1::CreateTablesRequest create;
    create.set_job_id(kJob);
    create.set_epoch(1);
    create.add_worker_ids("w1");
    create.set_job_key(key_);
    v1::TableDef* t = create.add_tables();
    t->set_name("w");
    t->set_size(kSize);
    t->mutable_init()->set_kind(v1::Initializer::UNIFORM);
    t->mutable_init()->set_scale(1);
    t->mutable_optimizer()->set_type(v1::SGD);
    t->mutable_optimizer()->set_learning_rate(1);
    v1::DenseRange* r = create.add_ranges();
    r->set_table("w");
    r->set_end(kSize);
    grpc::ClientContext ctx;
    v1::CreateTablesResponse created;
    grpc::Status s =
        ServerAs("coordinator-c")->CreateTables(&ctx, create, &created);
    ASSERT_TRUE(s.ok()) << s.error_message();
    initial_ = Values();
    ASSERT_EQ(initial_.size(), kSize * sizeof(float));
  }

  void TearDown() override {
    grpc::ClientContext ctx;
    v1::DropTablesRequest drop;
    drop.set_job_id(kJob);
    v1::DropTablesResponse dropped;
    ServerAs("coordinator-c")->DropTables(&ctx, drop, &dropped);
  }

  std::string Token(const std::string& worker, bool read_only = false,
                    const std::string& key = "", const std::string& job = kJob,
                    absl::Duration ttl = absl::Hours(1)) {
    v1::JobTokenClaims claims;
    claims.set_job_id(job);
    claims.set_worker_id(worker);
    claims.set_read_only(read_only);
    claims.set_expires_unix_ms(absl::ToUnixMillis(absl::Now() + ttl));
    return MintJobToken(claims, key.empty() ? key_ : key);
  }

  static v1::PullRequest PullAll() {
    v1::PullRequest p;
    p.set_job_id(kJob);
    p.set_epoch(1);
    v1::DenseSlice* s = p.add_slices();
    s->set_table("w");
    s->set_count(kSize);
    return p;
  }
  v1::PushRequest Push(const std::string& worker) {
    v1::PushRequest p;
    p.set_job_id(kJob);
    p.set_epoch(1);
    p.set_worker_id(worker);
    p.set_seq(++seq_);
    p.set_clock(clock_);  // advanced by a push that is applied
    p.set_clock_pushes(1);
    v1::DenseSlice* s = p.add_slices();
    s->set_table("w");
    s->set_count(kSize);
    const std::vector<float> grads(kSize, 0.5f);
    p.set_values(std::string(reinterpret_cast<const char*>(grads.data()),
                             grads.size() * sizeof(float)));
    return p;
  }

  // The table's values, read as the admin with a reader's token.
  std::string Values() {
    grpc::ClientContext ctx;
    ctx.AddMetadata(kJobTokenMetadata, Token("", /*read_only=*/true));
    v1::PullResponse response;
    grpc::Status s = ServerAs("admin-root")->Pull(&ctx, PullAll(), &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.values();
  }

  // Pull and Push as `identity` with `token` ("" none): their codes.
  std::pair<grpc::StatusCode, grpc::StatusCode> PullPush(
      const std::string& identity, const std::string& token,
      const std::string& worker = "w1") {
    auto stub = ServerAs(identity);
    grpc::ClientContext pull_ctx, push_ctx;
    if (!token.empty()) {
      pull_ctx.AddMetadata(kJobTokenMetadata, token);
      push_ctx.AddMetadata(kJobTokenMetadata, token);
    }
    v1::PullResponse pulled;
    v1::PushResponse pushed;
    const grpc::Status pull = stub->Pull(&pull_ctx, PullAll(), &pulled);
    const grpc::Status push = stub->Push(&push_ctx, Push(worker), &pushed);
    if (push.ok()) ++clock_;
    last_message_ = push.error_message();
    return {pull.error_code(), push.error_code()};
  }

  static std::string* dir_;
  static Running* server_;
  static Running* coordinator_;
  static Running* worker_;
  std::string key_, other_key_;
  std::string initial_;
  std::string last_message_;
  uint64_t seq_ = 0;
  int64_t clock_ = 0;
};

std::string* SecurityTest::dir_ = nullptr;
SecurityTest::Running* SecurityTest::server_ = nullptr;
SecurityTest::Running* SecurityTest::coordinator_ = nullptr;
SecurityTest::Running* SecurityTest::worker_ = nullptr;

using Code = grpc::StatusCode;

TEST_F(SecurityTest, DataPlaneAnswersEachCallerAndRefusalsChangeNothing) {
  struct Case {
    std::string what, identity, token, worker;
    Code pull, push;
  };
  const std::vector<Case> cases = {
      {"worker, no token", "worker-w1", "", "w1", Code::UNAUTHENTICATED,
       Code::UNAUTHENTICATED},
      {"worker, another job's token", "worker-w1",
       Token("w1", false, other_key_, "sec-2"), "w1", Code::UNAUTHENTICATED,
       Code::UNAUTHENTICATED},
      {"worker, token naming another job, signed with this key", "worker-w1",
       Token("w1", false, "", "sec-2"), "w1", Code::PERMISSION_DENIED,
       Code::PERMISSION_DENIED},
      {"worker pushing under another worker's id", "worker-w2", Token("w2"),
       "w1", Code::OK, Code::PERMISSION_DENIED},
      {"worker, expired token", "worker-w1",
       Token("w1", false, "", kJob, -absl::Seconds(1)), "w1",
       Code::UNAUTHENTICATED, Code::UNAUTHENTICATED},
      {"user with a reader's token", "user-alice", Token("", true), "w1",
       Code::OK, Code::PERMISSION_DENIED},
      {"admin with a reader's token", "admin-root", Token("", true), "w1",
       Code::OK, Code::PERMISSION_DENIED},
      {"coordinator", "coordinator-c", Token("w1"), "w1",
       Code::PERMISSION_DENIED, Code::PERMISSION_DENIED},
      {"another server", "server-s2", Token("w1"), "w1",
       Code::PERMISSION_DENIED, Code::PERMISSION_DENIED},
  };
  for (const Case& c : cases) {
    const auto [pull, push] = PullPush(c.identity, c.token, c.worker);
    EXPECT_EQ(pull, c.pull) << c.what;
    EXPECT_EQ(push, c.push) << c.what << ": " << last_message_;
    EXPECT_EQ(Values(), initial_) << c.what << " changed the table";
  }
  // The worker with its own token: both work, and the push applies.
  const auto [pull, push] = PullPush("worker-w1", Token("w1"));
  EXPECT_EQ(pull, Code::OK);
  EXPECT_EQ(push, Code::OK) << last_message_;
  EXPECT_NE(Values(), initial_);
}

TEST_F(SecurityTest, RefusalsNameWhatTheCallerLacks) {
  PullPush("worker-w2", Token("w2"), "w1");
  EXPECT_THAT(last_message_, HasSubstr("\"w1\" but the job token is for \"w2\""));
  PullPush("user-alice", Token("", true));
  EXPECT_THAT(last_message_,
              HasSubstr("spiffe://pscluster/user/alice may not call "
                        "/ps.v1.ParameterServer/Push: Push needs a worker "
                        "certificate"));
  PullPush("worker-w1", "");
  EXPECT_THAT(last_message_, HasSubstr("no ps-job-token metadata"));
}

TEST_F(SecurityTest, OnlyTheCoordinatorControlsTables) {
  for (const char* identity :
       {"worker-w1", "server-s2", "user-alice", "admin-root"}) {
    auto stub = ServerAs(identity);
    grpc::ClientContext drop_ctx;
    v1::DropTablesRequest drop;
    drop.set_job_id(kJob);
    v1::DropTablesResponse dropped;
    EXPECT_EQ(stub->DropTables(&drop_ctx, drop, &dropped).error_code(),
              Code::PERMISSION_DENIED)
        << identity;
    grpc::ClientContext seal_ctx;
    v1::SealTablesRequest seal;
    seal.set_job_id(kJob);
    v1::SealTablesResponse sealed;
    EXPECT_EQ(stub->SealTables(&seal_ctx, seal, &sealed).error_code(),
              Code::PERMISSION_DENIED)
        << identity;
    grpc::ClientContext replicate_ctx;
    v1::PushResponse pushed;
    EXPECT_EQ(stub->Replicate(&replicate_ctx, Push("w1"), &pushed).error_code(),
              std::string(identity) == "server-s2" ? Code::INVALID_ARGUMENT
                                      : Code::PERMISSION_DENIED)
        << identity;
    EXPECT_EQ(Values(), initial_) << identity;
  }
}

TEST_F(SecurityTest, HandshakeRefusesMissingForeignAndExpiredCertificates) {
  const std::string ca = ReadFile(*dir_ + "/pki/ca.crt");
  absl::StatusOr<certs::Pem> cluster_ca = certs::ReadCa(*dir_ + "/pki");
  ASSERT_TRUE(cluster_ca.ok());
  certs::CertRequest expired = Daemon(Role::kWorker, "w1");
  expired.validity = {absl::Now() - absl::Hours(48),
                      absl::Now() - absl::Hours(24)};
  absl::StatusOr<certs::Pem> old = certs::IssueCertificate(*cluster_ca, expired);
  ASSERT_TRUE(old.ok()) << old.status();
  struct Case {
    std::string what;
    std::shared_ptr<grpc::Channel> channel;
  };
  const std::vector<Case> cases = {
      {"no certificate", RawChannel(server_->address, ca, "", "")},
      {"another cluster's CA",
       RawChannel(server_->address, ReadFile(*dir_ + "/evil/ca.crt"),
                  ReadFile(*dir_ + "/evil/worker-w1/tls.crt"),
                  ReadFile(*dir_ + "/evil/worker-w1/tls.key"))},
      {"expired certificate",
       RawChannel(server_->address, ca, old->cert, old->key)},
      {"plaintext",
       MakeChannel(RpcSecurity::Insecure().get(), server_->address, 77)},
  };
  for (const Case& c : cases) {
    auto stub = v1::ParameterServer::NewStub(c.channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
    ctx.AddMetadata(kJobTokenMetadata, Token("w1"));
    v1::PushResponse pushed;
    const grpc::Status s = stub->Push(&ctx, Push("w1"), &pushed);
    EXPECT_TRUE(s.error_code() == Code::UNAVAILABLE ||
                s.error_code() == Code::UNAUTHENTICATED)
        << c.what << ": " << s.error_code() << " " << s.error_message();
  }
  EXPECT_EQ(Values(), initial_);
}

TEST_F(SecurityTest, AFinishedJobsWorkerTokenNoLongerWorks) {
  const std::string worker_token = Token("w1");
  ASSERT_EQ(PullPush("worker-w1", worker_token).second, Code::OK);
  const std::string after_push = Values();
  // A reader's token taken before the job ends.
  const std::string reader_token = Token("", /*read_only=*/true);
  // The coordinator seals the job's tables as it ends.
  grpc::ClientContext ctx;
  v1::SealTablesRequest seal;
  seal.set_job_id(kJob);
  v1::SealTablesResponse sealed;
  ASSERT_TRUE(
      ServerAs("coordinator-c")->SealTables(&ctx, seal, &sealed).ok());
  const auto [pull, push] = PullPush("worker-w1", worker_token);
  EXPECT_EQ(pull, Code::PERMISSION_DENIED);
  EXPECT_EQ(push, Code::PERMISSION_DENIED);
  EXPECT_THAT(last_message_, HasSubstr("sec-1 has ended"));
  // Readers' tokens, older or newer, still read the kept tables.
  grpc::ClientContext read_ctx;
  read_ctx.AddMetadata(kJobTokenMetadata, reader_token);
  v1::PullResponse pulled;
  ASSERT_TRUE(
      ServerAs("user-alice")->Pull(&read_ctx, PullAll(), &pulled).ok());
  EXPECT_EQ(pulled.values(), after_push);
  EXPECT_EQ(Values(), after_push);
}

TEST_F(SecurityTest, HealthIsOpenToEveryCertificateAndReflectionToAdmins) {
  for (const char* identity :
       {"worker-w1", "user-alice", "admin-root", "coordinator-c"}) {
    grpc::GenericStub stub(As(identity, server_->address));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
    grpc::Slice empty("");  // an empty HealthCheckRequest: all services
    grpc::ByteBuffer request(&empty, 1), response;
    grpc::Status s;
    absl::Notification done;
    stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", {}, &request,
                   &response, [&](grpc::Status status) {
                     s = status;
                     done.Notify();
                   });
    done.WaitForNotification();
    EXPECT_TRUE(s.ok()) << identity << ": " << s.error_message();
  }
  for (const auto& [identity, code] :
       std::vector<std::pair<std::string, Code>>{
           {"user-alice", Code::PERMISSION_DENIED},
           {"admin-root", Code::OK}}) {
    grpc::GenericStub stub(As(identity, server_->address));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
    grpc::CompletionQueue cq;
    auto call = stub.PrepareCall(
        &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        &cq);
    void* tag;
    bool ok;
    call->StartCall(reinterpret_cast<void*>(1));
    cq.Next(&tag, &ok);
    call->WritesDone(reinterpret_cast<void*>(2));
    cq.Next(&tag, &ok);
    grpc::Status s;
    call->Finish(&s, reinterpret_cast<void*>(3));
    cq.Next(&tag, &ok);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    EXPECT_EQ(s.error_code(), code) << identity << ": " << s.error_message();
  }
}

TEST_F(SecurityTest, UsersSeeAndChangeOnlyTheirOwnJobsWhichTrainWithTokens) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecJson(absl::StrCat(
      R"({"name": "alice's", "model": {"type": "SOFTMAX"},
      "data": {"dataset": "FASHION_MNIST", "dir": ")", *dir_, R"(/data"},
      "optimizer": {"type": "SGD", "learningRate": 0.1},
      "training": {"epochs": 1, "batchSize": 32, "reportEverySteps": 5},
      "cluster": {"numWorkers": 1, "numServers": 1}})"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = *spec;
  {
    grpc::ClientContext ctx;
    v1::SubmitJobResponse response;
    EXPECT_EQ(CoordinatorAs("worker-w1")
                  ->SubmitJob(&ctx, submit, &response)
                  .error_code(),
              Code::PERMISSION_DENIED);
  }
  grpc::ClientContext ctx;
  v1::SubmitJobResponse submitted;
  grpc::Status s =
      CoordinatorAs("user-alice")->SubmitJob(&ctx, submit, &submitted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string id = submitted.job_id();
  auto get = [&](const std::string& identity) {
    grpc::ClientContext c;
    v1::GetJobRequest request;
    request.set_job_id(id);
    v1::Job job;
    grpc::Status status = CoordinatorAs(identity)->GetJob(&c, request, &job);
    return std::make_pair(status, job);
  };
  auto [alice, job] = get("user-alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(job.owner(), "alice");
  auto [bob, ignored] = get("user-bob");
  EXPECT_EQ(bob.error_code(), Code::PERMISSION_DENIED);
  EXPECT_THAT(bob.error_message(), HasSubstr("is not yours: user bob"));
  EXPECT_TRUE(get("admin-root").first.ok());
  EXPECT_TRUE(get("worker-w2").first.ok());  // follows a failover's map
  EXPECT_EQ(get("server-s2").first.error_code(), Code::PERMISSION_DENIED);
  {
    grpc::ClientContext c;
    v1::ListJobsResponse list;
    ASSERT_TRUE(CoordinatorAs("user-bob")->ListJobs(&c, {}, &list).ok());
    for (const v1::Job& j : list.jobs()) EXPECT_NE(j.id(), id);
  }
  for (const char* identity : {"user-bob", "worker-w1"}) {
    grpc::ClientContext c;
    v1::CancelJobRequest cancel;
    cancel.set_job_id(id);
    v1::CancelJobResponse cancelled;
    EXPECT_EQ(
        CoordinatorAs(identity)->CancelJob(&c, cancel, &cancelled).error_code(),
        Code::PERMISSION_DENIED)
        << identity;
  }
  {
    grpc::ClientContext c;
    v1::GetJobTokenRequest request;
    request.set_job_id(id);
    v1::GetJobTokenResponse token;
    EXPECT_EQ(CoordinatorAs("user-bob")
                  ->GetJobToken(&c, request, &token)
                  .error_code(),
              Code::PERMISSION_DENIED);
  }
  // The worker trains with the tokens its heartbeats bring.
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (absl::Now() < deadline && get("user-alice").second.state() != v1::SUCCEEDED &&
         get("user-alice").second.state() != v1::FAILED) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  job = get("user-alice").second;
  ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  // Its owner exports it with a reader's token; without one, nothing.
  grpc::ClientContext c;
  v1::GetJobTokenRequest request;
  request.set_job_id(id);
  v1::GetJobTokenResponse token;
  s = CoordinatorAs("user-alice")->GetJobToken(&c, request, &token);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto alice_tls = RpcSecurity::Tls(TlsFilesInDir(Pki("user-alice")));
  ASSERT_TRUE(alice_tls.ok());
  client::ServerAccess access{.security = *alice_tls};
  absl::Status exported = client::ExportJob(job, *dir_ + "/a.psx",
                                            client::ExportFormat::kPsx, access);
  EXPECT_EQ(exported.code(), absl::StatusCode::kUnauthenticated) << exported;
  access.job_token = token.token();
  exported = client::ExportJob(job, *dir_ + "/a.psx",
                               client::ExportFormat::kPsx, access);
  EXPECT_TRUE(exported.ok()) << exported;
}

TEST_F(SecurityTest, MembersRegisterOnlyInTheirCertificatesRole) {
  struct Case {
    std::string identity;
    v1::Role role;
    Code code;
  };
  for (const Case& c : std::vector<Case>{
           {"worker-w1", v1::SERVER, Code::PERMISSION_DENIED},
           {"server-s2", v1::WORKER, Code::PERMISSION_DENIED},
           {"user-alice", v1::WORKER, Code::PERMISSION_DENIED},
           {"admin-root", v1::SERVER, Code::PERMISSION_DENIED},
           {"worker-w2", v1::WORKER, Code::OK}}) {
    grpc::ClientContext ctx;
    v1::RegisterRequest request;
    request.set_role(c.role);
    request.set_address("127.0.0.1:1");
    v1::RegisterResponse response;
    const grpc::Status s =
        CoordinatorAs(c.identity)->Register(&ctx, request, &response);
    EXPECT_EQ(s.error_code(), c.code)
        << c.identity << " as " << v1::Role_Name(c.role) << ": "
        << s.error_message();
  }
}

TEST_F(SecurityTest, OnlyAMembersOwnCertificateReportsForIt) {
  // The suite's worker registered with certificate w1.
  grpc::ClientContext ctx;
  v1::GetClusterResponse cluster;
  ASSERT_TRUE(CoordinatorAs("admin-root")->GetCluster(&ctx, {}, &cluster).ok());
  std::string w1;
  for (const v1::Member& m : cluster.members()) {
    if (m.address() == worker_->address) w1 = m.id();
  }
  ASSERT_FALSE(w1.empty());
  for (const auto& [identity, code] :
       std::vector<std::pair<std::string, Code>>{
           {"worker-w2", Code::PERMISSION_DENIED},
           {"worker-w1", Code::NOT_FOUND}}) {  // no such job: past the check
    grpc::ClientContext c;
    v1::ReportProgressRequest report;
    report.set_member_id(w1);
    report.set_job_id("job-999");
    v1::ReportProgressResponse reported;
    const grpc::Status s =
        CoordinatorAs(identity)->ReportProgress(&c, report, &reported);
    EXPECT_EQ(s.error_code(), code) << identity << ": " << s.error_message();
    if (code == Code::PERMISSION_DENIED) {
      EXPECT_THAT(s.error_message(),
                  HasSubstr("worker w2 may not report for " + w1));
    }
  }
}


// The PEM certificate the server presents to a new connection.
std::string PresentedCertificate(const std::string& address,
                                 const std::string& identity_dir,
                                 int channel_index) {
  auto security = RpcSecurity::Tls(TlsFilesInDir(identity_dir));
  if (!security.ok()) return "";
  auto stub = v1::ParameterServer::NewStub(
      MakeChannel(security->get(), address, channel_index));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
  v1::ServerStatusResponse status;
  if (!stub->ServerStatus(&ctx, {}, &status).ok()) return "";
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr) return "";
  const auto certs = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  return certs.empty() ? "" : std::string(certs[0].data(), certs[0].size());
}

TEST_F(SecurityTest, ARotatedCertificateIsServedWithoutARestartUnderLoad) {
  const std::string before = PresentedCertificate(
      server_->address, Pki("user-alice"), 1000);
  ASSERT_FALSE(before.empty());
  // Issued anew, as `psctl certs issue` does: a new key and certificate
  // in place (each file replaced atomically).
  absl::StatusOr<certs::Pem> ca = certs::ReadCa(*dir_ + "/pki");
  ASSERT_TRUE(ca.ok());
  certs::CertRequest request = Daemon(Role::kServer, "s");
  request.validity = certs::ValidFor(absl::Hours(12));  // within the CA's
  absl::StatusOr<certs::Pem> renewed = certs::IssueCertificate(*ca, request);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  // A worker pulls and pushes all along, over one channel.
  std::atomic<bool> stop{false};
  std::atomic<int> applied{0}, failed{0};
  std::string first_failure;
  std::thread load([&] {
    auto stub = ServerAs("worker-w1");
    const std::string token = Token("w1");
    while (!stop.load()) {
      grpc::ClientContext pull_ctx, push_ctx;
      pull_ctx.AddMetadata(kJobTokenMetadata, token);
      push_ctx.AddMetadata(kJobTokenMetadata, token);
      v1::PullResponse pulled;
      v1::PushResponse pushed;
      grpc::Status s = stub->Pull(&pull_ctx, PullAll(), &pulled);
      if (s.ok()) s = stub->Push(&push_ctx, Push("w1"), &pushed);
      if (s.ok()) {
        ++clock_;
        ++applied;
      } else if (failed++ == 0) {
        first_failure = s.error_message();
      }
    }
  });
  const absl::Status written =
      certs::WriteTlsDir(Pki("server-s"), ca->cert, *renewed);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::string now_served;
  for (int i = 1001; absl::Now() < deadline; ++i) {
    now_served = PresentedCertificate(server_->address, Pki("user-alice"), i);
    if (now_served == renewed->cert) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  const int applied_at_rotation = applied.load();
  // Pushes go on after the rotation too.
  while (applied.load() < applied_at_rotation + 5 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  stop = true;
  load.join();
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(now_served, renewed->cert)
      << "the server still presents its old certificate after 30 s";
  EXPECT_NE(before, renewed->cert);
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_GE(applied.load(), applied_at_rotation + 5);
}

// Any method through a generic stream: one empty request, then the
// status. Unary, client-, server- and bidi-streaming methods all accept
// that shape on the wire.
grpc::Status CallEmpty(const std::shared_ptr<grpc::Channel>& channel,
                       const std::string& method) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
  grpc::CompletionQueue cq;
  void* tag;
  bool ok;
  auto call = stub.PrepareCall(&ctx, method, &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  call->WritesDone(reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer response;
  do {
    call->Read(&response, reinterpret_cast<void*>(4));
    cq.Next(&tag, &ok);
  } while (ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// Every method of both services from every role: refused by the role policy
// exactly when the role table says so (an allowed call reaches its handler,
// which refuses the empty request on its own terms), and the table is the
// same afterwards.
TEST_F(SecurityTest, EveryMethodFromEveryRoleMatchesTheRoleTable) {
  const std::vector<std::pair<std::string, Role>> callers = {
      {"coordinator-c", Role::kCoordinator}, {"server-s2", Role::kServer},
      {"worker-w2", Role::kWorker},         {"user-bob", Role::kUser},
      {"admin-root", Role::kAdmin}};
  int checked = 0;
  for (const auto* service :
       {v1::ParameterServer::service_full_name(),
        v1::Coordinator::service_full_name()}) {
    const google::protobuf::ServiceDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            service);
    ASSERT_NE(descriptor, nullptr) << service;
    const bool server = std::string(service) == "ps.v1.ParameterServer";
    for (int m = 0; m < descriptor->method_count(); ++m) {
      const std::string method =
          absl::StrCat("/", service, "/", descriptor->method(m)->name());
      const std::vector<Role> allowed = RolesAllowed(method);
      EXPECT_FALSE(allowed.empty()) << method << " is not in the role table";
      for (const auto& [identity, role] : callers) {
        const grpc::Status s = CallEmpty(
            As(identity, server ? server_->address : coordinator_->address),
            method);
        const bool refused_by_policy =
            s.error_code() == Code::PERMISSION_DENIED &&
            s.error_message().find(" may not call ") != std::string::npos;
        const bool may =
            std::find(allowed.begin(), allowed.end(), role) != allowed.end();
        EXPECT_EQ(refused_by_policy, !may)
            << identity << " " << method << ": " << s.error_code() << " "
            << s.error_message();
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 5 * 25);  // 29 methods when written
  EXPECT_EQ(Values(), initial_);
}

}  // namespace
}  // namespace ps::testing
