#include "coordinator/state_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ps::coordinator {
namespace {

constexpr char kFormat[] = "pscluster-coordinator-state";

// A prepared statement, finalized when it goes out of scope.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      stmt_ = nullptr;
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const { return stmt_; }
  bool ok() const { return stmt_ != nullptr; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

std::string ColumnText(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text == nullptr ? "" : reinterpret_cast<const char*>(text);
}

// Takes an exclusive lock on DIR/coordinator.lock, held while the returned
// descriptor is open: two coordinators on one state dir would overwrite each
// other's state.
absl::StatusOr<int> LockDir(const std::string& dir) {
  const std::string lock = dir + "/coordinator.lock";
  const int fd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("opening ", lock, ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "state dir ", dir,
        " is in use by another ps_coordinator (", lock, " is locked)"));
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(
    const std::string& dir, StoredState* state) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("creating state dir ", dir, ": ", ec.message()));
  }
  absl::StatusOr<int> lock_fd = LockDir(dir);
  if (!lock_fd.ok()) return lock_fd.status();
  const std::string path = absl::StrCat(dir, "/", kFileName);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    close(*lock_fd);
    return absl::InternalError(absl::StrCat("opening ", path, ": ", why));
  }
  std::unique_ptr<StateStore> store(new StateStore(path, db, *lock_fd));
  absl::MutexLock lock(&store->mu_);
  *state = StoredState();
  if (absl::Status s = store->CreateOrCheckSchema(&state->fresh); !s.ok()) {
    return s;
  }
  if (absl::Status s = store->Load(state); !s.ok()) return s;
  return store;
}

StateStore::~StateStore() {
  sqlite3_close(db_);
  close(lock_fd_);
}

absl::Status StateStore::Error(const std::string& what) const {
  return absl::InternalError(
      absl::StrCat(path_, ": ", what, ": ", sqlite3_errmsg(db_)));
}

absl::Status StateStore::Exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) ==
      SQLITE_OK) {
    return absl::OkStatus();
  }
  std::string why = message ? message : sqlite3_errmsg(db_);
  sqlite3_free(message);
  return absl::InternalError(absl::StrCat(path_, ": ", sql, ": ", why));
}

absl::Status StateStore::CreateOrCheckSchema(bool* fresh) {
  // The first statement that reads the file tells a non-database apart.
  if (sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr,
                   nullptr) != SQLITE_OK) {
    return absl::FailedPreconditionError(absl::StrCat(
        path_, " is not a usable SQLite database (", sqlite3_errmsg(db_),
        "): move it away to start an empty coordinator, or point "
        "--state_dir at the right directory"));
  }
  {
    Statement check(db_, "PRAGMA quick_check");
    std::string verdict = "no answer";
    if (check.ok() && sqlite3_step(check.get()) == SQLITE_ROW) {
      verdict = ColumnText(check.get(), 0);
    }
    if (verdict != "ok") {
      return absl::FailedPreconditionError(absl::StrCat(
          path_, " is damaged (SQLite quick_check: ", verdict, ")"));
    }
  }
  if (absl::Status s = Exec("PRAGMA synchronous=FULL"); !s.ok()) return s;
  Statement tables(db_, "SELECT count(*) FROM sqlite_master");
  if (!tables.ok() || sqlite3_step(tables.get()) != SQLITE_ROW) {
    return Error("reading the schema");
  }
  *fresh = sqlite3_column_int64(tables.get(), 0) == 0;
  if (*fresh) {
    return InTransaction([&] {
      if (absl::Status s = Exec(
              "CREATE TABLE meta(key TEXT PRIMARY KEY, value NOT NULL);"
              "CREATE TABLE jobs(number INTEGER PRIMARY KEY, record BLOB "
              "NOT NULL);"
              "CREATE TABLE members(number INTEGER PRIMARY KEY, record BLOB "
              "NOT NULL);");
          !s.ok()) {
        return s;
      }
      return Exec(absl::StrCat("INSERT INTO meta VALUES ('format', '", kFormat,
                               "'), ('schema', ", kSchemaVersion, ")"));
    });
  }
  Statement meta(db_, "SELECT key, value FROM meta");
  std::string format;
  int64_t schema = 0;
  while (meta.ok() && sqlite3_step(meta.get()) == SQLITE_ROW) {
    const std::string key = ColumnText(meta.get(), 0);
    if (key == "format") format = ColumnText(meta.get(), 1);
    if (key == "schema") schema = sqlite3_column_int64(meta.get(), 1);
  }
  if (format != kFormat) {
    return absl::FailedPreconditionError(absl::StrCat(
        path_, " is a SQLite database of another program (no 'format' = '",
        kFormat, "' in a meta table): not a ps_coordinator state file"));
  }
  if (schema < 1 || schema > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, " has schema version ", schema,
                     "; this ps_coordinator reads versions 1 to ",
                     kSchemaVersion));
  }
  return absl::OkStatus();
}

absl::Status StateStore::Load(StoredState* state) {
  Statement meta(db_, "SELECT key, value FROM meta");
  while (meta.ok() && sqlite3_step(meta.get()) == SQLITE_ROW) {
    const std::string key = ColumnText(meta.get(), 0);
    const int64_t value = sqlite3_column_int64(meta.get(), 1);
    if (key == "next_job") state->next_job = value;
    if (key == "next_epoch") state->next_epoch = static_cast<uint64_t>(value);
    if (key == "next_member") state->next_member = value;
  }
  auto read = [&](const char* sql, auto* out, const char* what) {
    Statement rows(db_, sql);
    if (!rows.ok()) return Error(absl::StrCat("reading ", what));
    int step;
    while ((step = sqlite3_step(rows.get())) == SQLITE_ROW) {
      const int64_t number = sqlite3_column_int64(rows.get(), 0);
      const void* blob = sqlite3_column_blob(rows.get(), 1);
      const int bytes = sqlite3_column_bytes(rows.get(), 1);
      if (!out->emplace_back().ParseFromArray(blob, bytes)) {
        return absl::FailedPreconditionError(
            absl::StrCat(path_, " is damaged: ", what, " row ", number,
                         " (", bytes, " bytes) does not parse"));
      }
    }
    return step == SQLITE_DONE ? absl::OkStatus()
                               : Error(absl::StrCat("reading ", what));
  };
  if (absl::Status s = read("SELECT number, record FROM jobs ORDER BY number",
                            &state->jobs, "job");
      !s.ok()) {
    return s;
  }
  return read("SELECT number, record FROM members ORDER BY number",
              &state->members, "member");
}

template <typename F>
absl::Status StateStore::InTransaction(F body) {
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  absl::Status s = body();
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) Exec("ROLLBACK").IgnoreError();
  return s;
}

absl::Status StateStore::SetCounter(const char* name, int64_t value) {
  Statement put(db_, "INSERT OR REPLACE INTO meta VALUES (?, ?)");
  if (!put.ok()) return Error("preparing a counter");
  sqlite3_bind_text(put.get(), 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(put.get(), 2, value);
  if (sqlite3_step(put.get()) != SQLITE_DONE) {
    return Error(absl::StrCat("storing ", name));
  }
  return absl::OkStatus();
}

absl::Status StateStore::PutBlob(const char* sql, int64_t key,
                                 const std::string& blob) {
  Statement put(db_, sql);
  if (!put.ok()) return Error(absl::StrCat("preparing ", sql));
  sqlite3_bind_int64(put.get(), 1, key);
  sqlite3_bind_blob(put.get(), 2, blob.data(), static_cast<int>(blob.size()),
                    SQLITE_STATIC);
  if (sqlite3_step(put.get()) != SQLITE_DONE) {
    return Error(absl::StrCat("storing row ", key));
  }
  return absl::OkStatus();
}

absl::Status StateStore::SaveJob(int64_t number, const v1::StoredJob& job,
                                 int64_t next_job, uint64_t next_epoch) {
  const std::string blob = job.SerializeAsString();
  absl::MutexLock lock(&mu_);
  return InTransaction([&] {
    if (absl::Status s = PutBlob(
            "INSERT OR REPLACE INTO jobs(number, record) VALUES (?, ?)",
            number, blob);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = SetCounter("next_job", next_job); !s.ok()) return s;
    return SetCounter("next_epoch", static_cast<int64_t>(next_epoch));
  });
}

absl::Status StateStore::SaveNextEpoch(uint64_t next_epoch) {
  absl::MutexLock lock(&mu_);
  return InTransaction(
      [&] { return SetCounter("next_epoch", static_cast<int64_t>(next_epoch)); });
}

absl::Status StateStore::SaveMember(const v1::StoredMember& member,
                                    int64_t next_member) {
  const std::string blob = member.SerializeAsString();
  absl::MutexLock lock(&mu_);
  return InTransaction([&] {
    if (absl::Status s = PutBlob(
            "INSERT OR REPLACE INTO members(number, record) VALUES (?, ?)",
            member.number(), blob);
        !s.ok()) {
      return s;
    }
    return SetCounter("next_member", next_member);
  });
}

absl::Status StateStore::DeleteMember(int64_t number) {
  absl::MutexLock lock(&mu_);
  Statement del(db_, "DELETE FROM members WHERE number = ?");
  if (!del.ok()) return Error("preparing a delete");
  sqlite3_bind_int64(del.get(), 1, number);
  if (sqlite3_step(del.get()) != SQLITE_DONE) {
    return Error(absl::StrCat("deleting member ", number));
  }
  return absl::OkStatus();
}

}  // namespace ps::coordinator
