#include "coordinator/state_store.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

using ::testing::HasSubstr;

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/state-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
  }
  std::string File() const { return dir_ + "/" + StateStore::kFileName; }
  std::string dir_;
};

v1::StoredJob JobNamed(const std::string& id) {
  v1::StoredJob job;
  job.mutable_job()->set_id(id);
  job.mutable_job()->set_state(v1::RUNNING);
  job.add_done(true);
  return job;
}

TEST_F(StateStoreTest, NewFileIsFreshAndEmpty) {
  StoredState state;
  auto store = StateStore::Open(dir_, &state);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE(state.fresh);
  EXPECT_EQ(state.next_job, 1);
  EXPECT_EQ(state.next_epoch, 1u);
  EXPECT_TRUE(state.jobs.empty());
}

TEST_F(StateStoreTest, JobsMembersAndCountersSurviveReopening) {
  {
    StoredState state;
    auto store = StateStore::Open(dir_, &state);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->SaveJob(2, JobNamed("job-2"), 3, 17).ok());
    ASSERT_TRUE((*store)->SaveJob(1, JobNamed("job-1"), 3, 17).ok());
    v1::StoredJob changed = JobNamed("job-1");
    changed.mutable_job()->set_reason("changed");
    ASSERT_TRUE((*store)->SaveJob(1, changed, 3, 18).ok());
    v1::StoredMember m;
    m.set_number(4);
    m.set_id("server-4");
    m.set_incarnation(99);
    ASSERT_TRUE((*store)->SaveMember(m, 5).ok());
    m.set_number(5);
    ASSERT_TRUE((*store)->SaveMember(m, 6).ok());
    ASSERT_TRUE((*store)->DeleteMember(5).ok());
  }
  StoredState state;
  auto store = StateStore::Open(dir_, &state);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_FALSE(state.fresh);
  EXPECT_EQ(state.next_job, 3);
  EXPECT_EQ(state.next_epoch, 18u);
  EXPECT_EQ(state.next_member, 6);
  ASSERT_EQ(state.jobs.size(), 2u);
  EXPECT_EQ(state.jobs[0].job().id(), "job-1");
  EXPECT_EQ(state.jobs[0].job().reason(), "changed");
  EXPECT_EQ(state.jobs[1].job().id(), "job-2");
  ASSERT_EQ(state.members.size(), 1u);
  EXPECT_EQ(state.members[0].incarnation(), 99u);
}

TEST_F(StateStoreTest, SecondOpenOfTheSameDirIsRefused) {
  StoredState state;
  auto first = StateStore::Open(dir_, &state);
  ASSERT_TRUE(first.ok());
  auto second = StateStore::Open(dir_, &state);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("in use by another"));
}

TEST_F(StateStoreTest, FileThatIsNotADatabaseIsRefusedByName) {
  std::filesystem::create_directories(dir_);
  std::ofstream(File()) << std::string(4096, 'x');
  StoredState state;
  auto store = StateStore::Open(dir_, &state);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr(File()));
  EXPECT_THAT(store.status().message(), HasSubstr("not a usable SQLite"));
}

TEST_F(StateStoreTest, DatabaseOfAnotherProgramIsRefused) {
  std::filesystem::create_directories(dir_);
  ASSERT_EQ(std::system(("sqlite3 " + File() +
                         " 'CREATE TABLE t(x); INSERT INTO t VALUES (1)'")
                            .c_str()),
            0);
  StoredState state;
  auto store = StateStore::Open(dir_, &state);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("another program"));
}

TEST_F(StateStoreTest, NewerSchemaIsRefused) {
  { StoredState state; ASSERT_TRUE(StateStore::Open(dir_, &state).ok()); }
  ASSERT_EQ(std::system(("sqlite3 " + File() +
                         " \"UPDATE meta SET value = 99 WHERE key = 'schema'\"")
                            .c_str()),
            0);
  StoredState state;
  auto store = StateStore::Open(dir_, &state);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
}

TEST_F(StateStoreTest, DamagedPagesAreRefused) {
  {
    StoredState state;
    auto store = StateStore::Open(dir_, &state);
    ASSERT_TRUE(store.ok());
    for (int i = 1; i <= 200; ++i) {
      v1::StoredJob job = JobNamed("job-" + std::to_string(i));
      job.mutable_job()->set_reason(std::string(500, 'r'));
      ASSERT_TRUE((*store)->SaveJob(i, job, i + 1, 1).ok());
    }
  }
  // Checkpoint the WAL into the file, then overwrite a page in the middle.
  ASSERT_EQ(std::system(("sqlite3 " + File() +
                         " 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null")
                            .c_str()),
            0);
  {
    std::fstream f(File(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 3);
    f << std::string(4096, '\xff');
  }
  StoredState state;
  auto store = StateStore::Open(dir_, &state);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr(File()));
}

}  // namespace
}  // namespace ps::coordinator
