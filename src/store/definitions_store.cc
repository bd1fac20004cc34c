#include "store/definitions_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include "common/logging.h"

namespace sluice::store {
namespace {

// Written into the SQLite header (PRAGMA application_id) so that a store can tell its own file
// from any other SQLite database: "SLDF", Sluice definitions.
constexpr std::int32_t kApplicationId = 0x534C4446;

// A commit this slow means the disk is struggling; the broker loop was blocked for all of it.
constexpr auto kSlowCommit = std::chrono::milliseconds(500);

// Schema version 1; see definitions_format.md. STRICT makes SQLite refuse a value of the wrong
// type instead of storing it, and the CHECKs keep the booleans to 0 and 1. AUTOINCREMENT is
// there for its promise that a queue id is never handed out twice.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE vhosts (
  name TEXT PRIMARY KEY NOT NULL
) STRICT;
CREATE TABLE exchanges (
  vhost TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  durable INTEGER NOT NULL CHECK (durable IN (0, 1)),
  auto_delete INTEGER NOT NULL CHECK (auto_delete IN (0, 1)),
  internal INTEGER NOT NULL CHECK (internal IN (0, 1)),
  arguments BLOB NOT NULL,
  PRIMARY KEY (vhost, name)
) STRICT;
CREATE TABLE queues (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  vhost TEXT NOT NULL,
  name TEXT NOT NULL,
  durable INTEGER NOT NULL CHECK (durable IN (0, 1)),
  auto_delete INTEGER NOT NULL CHECK (auto_delete IN (0, 1)),
  arguments BLOB NOT NULL,
  UNIQUE (vhost, name)
) STRICT;
CREATE TABLE bindings (
  vhost TEXT NOT NULL,
  source TEXT NOT NULL,
  destination TEXT NOT NULL,
  destination_is_queue INTEGER NOT NULL CHECK (destination_is_queue IN (0, 1)),
  routing_key TEXT NOT NULL,
  arguments BLOB NOT NULL,
  UNIQUE (vhost, source, destination, destination_is_queue, routing_key, arguments)
) STRICT;
CREATE INDEX bindings_by_destination ON bindings (vhost, destination, destination_is_queue);
)sql";

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// Binds parameters 1, 2, 3… in order and remembers the first failure. SQLITE_STATIC is safe
// because every statement is stepped and reset (see Reset) before the bound values go away.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* stmt) : stmt_(stmt) {}

  Binder& text(const std::string& v) {
    return check(
        sqlite3_bind_text64(stmt_, ++index_, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  // NOTE: a null pointer would bind SQL NULL, and NULLs are never equal in a UNIQUE
  // constraint, so empty arguments are bound as an empty blob instead.
  Binder& blob(const Bytes& v) {
    if (v.empty()) return check(sqlite3_bind_zeroblob(stmt_, ++index_, 0));
    return check(sqlite3_bind_blob64(stmt_, ++index_, v.data(), v.size(), SQLITE_STATIC));
  }
  Binder& integer(std::int64_t v) { return check(sqlite3_bind_int64(stmt_, ++index_, v)); }
  Binder& boolean(bool v) { return integer(v ? 1 : 0); }
  Binder& null() { return check(sqlite3_bind_null(stmt_, ++index_)); }

  int rc() const { return rc_; }

 private:
  Binder& check(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
    return *this;
  }

  sqlite3_stmt* stmt_;
  int index_ = 0;
  int rc_ = SQLITE_OK;
};

// Leaves a cached statement ready for its next use, whichever way the call returns.
class Reset {
 public:
  explicit Reset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Reset(const Reset&) = delete;
  Reset& operator=(const Reset&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

std::string column_text(sqlite3_stmt* stmt, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  if (p == nullptr) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, col))};
}

Bytes column_blob(sqlite3_stmt* stmt, int col) {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, col));
  if (p == nullptr) return {};  // an empty blob comes back as a null pointer
  return {p, p + sqlite3_column_bytes(stmt, col)};
}

bool column_bool(sqlite3_stmt* stmt, int col) { return sqlite3_column_int(stmt, col) != 0; }

definitions_errc errc_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return definitions_errc::corrupt;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return definitions_errc::locked;
    case SQLITE_CONSTRAINT:
      return definitions_errc::conflict;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return definitions_errc::invalid_argument;
    default:
      return definitions_errc::io_error;
  }
}

// A new file's directory entry is durable only once its directory is synced. SQLite does that
// for the journal and the WAL it creates, but not for the database file itself.
Result<void> sync_directory_of(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    return Error{definitions_errc::io_error,
                 fmt::format("definitions store {}: cannot sync directory {}: {}", path,
                             dir.string(), std::strerror(err))};
  }
  ::close(fd);
  return ok();
}

class DefinitionsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "store.definitions"; }
  std::string message(int value) const override {
    switch (static_cast<definitions_errc>(value)) {
      case definitions_errc::io_error:
        return "I/O error";
      case definitions_errc::corrupt:
        return "database corrupt";
      case definitions_errc::unsupported_version:
        return "unsupported schema version";
      case definitions_errc::not_a_definitions_store:
        return "not a definitions store";
      case definitions_errc::locked:
        return "database locked";
      case definitions_errc::conflict:
        return "conflict";
      case definitions_errc::invalid_argument:
        return "invalid argument";
    }
    return "unknown definitions store error";
  }
};

}  // namespace

const std::error_category& definitions_category() {
  static const DefinitionsCategory category;
  return category;
}

struct DefinitionsStore::Statements {
  Stmt put_vhost, delete_vhost_bindings, delete_vhost_exchanges, delete_vhost_queues, delete_vhost;
  Stmt put_exchange, delete_exchange, delete_exchange_bindings;
  Stmt find_queue_id, put_queue, delete_queue, delete_queue_bindings;
  Stmt put_binding, delete_binding;
};

DefinitionsStore::DefinitionsStore(std::string path, sqlite3* db)
    : path_(std::move(path)), db_(db) {}

DefinitionsStore::~DefinitionsStore() {
  stmt_.reset();  // sqlite3_close refuses to close while statements are alive
  sqlite3_close(db_);
}

Error DefinitionsStore::sqlite_error(int rc, const char* what) const {
  // The lock is taken by the first statement that touches the file, whichever that is.
  const char* hint = errc_for(rc) == definitions_errc::locked
                         ? "; is another broker using this data directory?"
                         : "";
  return Error{errc_for(rc), fmt::format("definitions store {}: {}: {} (sqlite code {}){}", path_,
                                         what, sqlite3_errmsg(db_), rc, hint)};
}

Result<void> DefinitionsStore::run(const char* sql, const char* what) const {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(rc, what);
  return ok();
}

// Steps a statement that returns no (more) rows, unless binding its parameters failed.
Result<void> DefinitionsStore::step_done(sqlite3_stmt* stmt, int bind_rc, const char* what) const {
  int rc = bind_rc == SQLITE_OK ? sqlite3_step(stmt) : bind_rc;
  if (rc != SQLITE_DONE) return sqlite_error(rc, what);
  return ok();
}

Result<std::unique_ptr<DefinitionsStore>> DefinitionsStore::open(const std::string& path) {
  std::error_code ec;
  bool existed = std::filesystem::exists(path, ec);

  // NOMUTEX: the store lives on one thread, so SQLite's own locking would only cost time.
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<DefinitionsStore> store(new DefinitionsStore(path, db));
  if (rc != SQLITE_OK) {
    if (db == nullptr) {
      return Error{definitions_errc::io_error,
                   fmt::format("definitions store {}: cannot open: {}", path, sqlite3_errstr(rc))};
    }
    return store->sqlite_error(rc, "cannot open");
  }
  sqlite3_extended_result_codes(db, 1);

  if (auto r = store->init_schema(); !r) return r.error();
  if (auto r = store->prepare_statements(); !r) return r.error();
  if (!existed) {
    if (auto r = sync_directory_of(path); !r) return r.error();
  }

  log::get("store")->info("definitions store opened path={} schema_version={} created={}", path,
                          kSchemaVersion, !existed);
  return store;
}

// Checks what the file is and creates the schema if it is new, then switches to WAL.
//
// The checks come before the switch to WAL, because switching writes to the file and a file
// this build will refuse must be left as it was found.
//
// Journal mode: WAL with synchronous=FULL. Each commit appends to the WAL and fsyncs it once,
// and that fsync is what makes the commit durable. The alternative, a rollback journal
// (DELETE/TRUNCATE) with synchronous=FULL, syncs the journal and then the database on every
// commit, and in DELETE mode the commit point is the unlink of the journal, which SQLite does
// not make durable unless synchronous=EXTRA also syncs the directory. WAL is both fewer fsyncs
// and the simpler durability argument.
//
// Exclusive locking: the lock taken by BEGIN EXCLUSIVE below is kept until close, which
// refuses a second broker on the same file and lets WAL work without a shared-memory file.
Result<void> DefinitionsStore::init_schema() {
  if (auto r = run("PRAGMA locking_mode = EXCLUSIVE; PRAGMA synchronous = FULL;"
                   "PRAGMA cell_size_check = ON; PRAGMA trusted_schema = OFF;"
                   "BEGIN EXCLUSIVE",
                   "cannot open");
      !r) {
    return r;
  }

  // What is this file? Read the header fields and count the schema objects.
  auto query_int = [this](const char* sql) -> Result<std::int64_t> {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr);
    Stmt stmt(raw);
    if (rc != SQLITE_OK) return sqlite_error(rc, "cannot read the database header");
    rc = sqlite3_step(raw);
    if (rc != SQLITE_ROW) return sqlite_error(rc, "cannot read the database header");
    return sqlite3_column_int64(raw, 0);
  };
  auto version = query_int("PRAGMA user_version");
  if (!version) return version.error();
  auto app_id = query_int("PRAGMA application_id");
  if (!app_id) return app_id.error();
  auto objects = query_int("SELECT count(*) FROM sqlite_schema");
  if (!objects) return objects.error();

  // The result of each check is final, and an open transaction is rolled back by close.
  bool fresh = *version == 0 && *app_id == 0 && *objects == 0;
  if (!fresh && *app_id != kApplicationId) {
    return Error{definitions_errc::not_a_definitions_store,
                 fmt::format("definitions store {}: this SQLite database is not a Sluice "
                             "definitions store (application_id {:#x}, expected {:#x})",
                             path_, *app_id, kApplicationId)};
  }
  if (*version > kSchemaVersion) {
    return Error{definitions_errc::unsupported_version,
                 fmt::format("definitions store {}: schema version {} found, but this build "
                             "supports version {} at most; it was written by a newer Sluice",
                             path_, *version, kSchemaVersion)};
  }
  if (!fresh && *version < 1) {
    return Error{
        definitions_errc::corrupt,
        fmt::format("definitions store {}: schema version {} is not valid", path_, *version)};
  }
  if (!fresh) {
    if (auto r = quick_check(); !r) return r;
  }

  // A fresh file gets the schema; upgrades from older versions go here when there are any.
  if (fresh) {
    if (auto r = run(kSchemaV1, "cannot create the schema"); !r) return r;
    auto set = fmt::format("PRAGMA application_id = {}; PRAGMA user_version = {};", kApplicationId,
                           kSchemaVersion);
    if (auto r = run(set.c_str(), "cannot create the schema"); !r) return r;
  }
  if (auto r = run("COMMIT", "cannot create the schema"); !r) return r;

  // PRAGMA journal_mode answers with the mode now in force; anything but "wal" means it failed.
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode = WAL", -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc == SQLITE_OK) rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW) return sqlite_error(rc, "cannot switch to WAL");
  if (std::string mode = column_text(raw, 0); mode != "wal") {
    return Error{definitions_errc::io_error,
                 fmt::format("definitions store {}: cannot switch to WAL (journal mode is {})",
                             path_, mode)};
  }
  return ok();
}

// Detects a damaged file at start-up rather than on whichever read touches the bad page. The
// definitions database is small, so the check costs little.
Result<void> DefinitionsStore::quick_check() {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_, "PRAGMA quick_check(1)", -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc == SQLITE_OK) rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW) return sqlite_error(rc, "integrity check failed");
  if (std::string result = column_text(raw, 0); result != "ok") {
    return Error{definitions_errc::corrupt,
                 fmt::format("definitions store {}: integrity check failed: {}", path_, result)};
  }
  return ok();
}

Result<void> DefinitionsStore::prepare_statements() {
  stmt_ = std::make_unique<Statements>();
  struct Entry {
    Stmt* stmt;
    const char* sql;
  };
  const Entry entries[] = {
      {&stmt_->put_vhost, "INSERT INTO vhosts (name) VALUES (?1) ON CONFLICT DO NOTHING"},
      {&stmt_->delete_vhost_bindings, "DELETE FROM bindings WHERE vhost = ?1"},
      {&stmt_->delete_vhost_exchanges, "DELETE FROM exchanges WHERE vhost = ?1"},
      {&stmt_->delete_vhost_queues, "DELETE FROM queues WHERE vhost = ?1"},
      {&stmt_->delete_vhost, "DELETE FROM vhosts WHERE name = ?1"},
      {&stmt_->put_exchange,
       "INSERT INTO exchanges (vhost, name, type, durable, auto_delete, internal, arguments) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (vhost, name) DO UPDATE SET "
       "type = excluded.type, durable = excluded.durable, auto_delete = excluded.auto_delete, "
       "internal = excluded.internal, arguments = excluded.arguments"},
      {&stmt_->delete_exchange, "DELETE FROM exchanges WHERE vhost = ?1 AND name = ?2"},
      {&stmt_->delete_exchange_bindings,
       "DELETE FROM bindings WHERE vhost = ?1 AND "
       "(source = ?2 OR (destination = ?2 AND destination_is_queue = 0))"},
      {&stmt_->find_queue_id, "SELECT id FROM queues WHERE vhost = ?1 AND name = ?2"},
      {&stmt_->put_queue,
       "INSERT INTO queues (id, vhost, name, durable, auto_delete, arguments) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (vhost, name) DO UPDATE SET "
       "durable = excluded.durable, auto_delete = excluded.auto_delete, "
       "arguments = excluded.arguments RETURNING id"},
      {&stmt_->delete_queue, "DELETE FROM queues WHERE vhost = ?1 AND name = ?2"},
      {&stmt_->delete_queue_bindings,
       "DELETE FROM bindings WHERE vhost = ?1 AND destination = ?2 AND destination_is_queue = 1"},
      {&stmt_->put_binding,
       "INSERT INTO bindings (vhost, source, destination, destination_is_queue, routing_key, "
       "arguments) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"},
      {&stmt_->delete_binding,
       "DELETE FROM bindings WHERE vhost = ?1 AND source = ?2 AND destination = ?3 AND "
       "destination_is_queue = ?4 AND routing_key = ?5 AND arguments = ?6"},
  };
  for (const Entry& e : entries) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_, e.sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    e.stmt->reset(raw);
    if (rc != SQLITE_OK) return sqlite_error(rc, "cannot prepare a statement");
  }
  return ok();
}

// Outermost level: the RELEASE is the commit, and with synchronous=FULL it returns only after
// the WAL is synced. Nested levels only fold their changes into the enclosing one.
Result<void> DefinitionsStore::transaction(const std::function<Result<void>()>& body) {
  if (auto r = run("SAVEPOINT defs", "cannot begin a transaction"); !r) return r;
  ++depth_;
  Result<void> result = body();
  --depth_;

  if (!result) {
    // Rolling back a savepoint only fails if the connection itself is broken, and then the
    // body's error is still the one worth reporting.
    (void)run("ROLLBACK TO defs; RELEASE defs", "cannot roll back");
    return result;
  }
  if (depth_ > 0) return run("RELEASE defs", "cannot release a savepoint");

  auto start = std::chrono::steady_clock::now();
  if (auto r = run("RELEASE defs", "cannot commit"); !r) {
    // A commit that failed (disk full, I/O error) can leave the transaction open; close it so
    // that the next call starts clean and nothing half-done is committed later.
    if (!sqlite3_get_autocommit(db_)) (void)run("ROLLBACK", "cannot roll back");
    return r;
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  if (elapsed > kSlowCommit) {
    log::get("store")->warn("slow definitions commit path={} duration_ms={}", path_,
                            std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
  }
  return ok();
}

Result<void> DefinitionsStore::put_vhost(const std::string& name) {
  return transaction([&]() -> Result<void> {
    sqlite3_stmt* s = stmt_->put_vhost.get();
    Reset reset(s);
    return step_done(s, Binder(s).text(name).rc(), "cannot put vhost");
  });
}

Result<void> DefinitionsStore::delete_vhost(const std::string& name) {
  return transaction([&]() -> Result<void> {
    sqlite3_stmt* steps[] = {stmt_->delete_vhost_bindings.get(),
                             stmt_->delete_vhost_exchanges.get(), stmt_->delete_vhost_queues.get(),
                             stmt_->delete_vhost.get()};
    for (sqlite3_stmt* s : steps) {
      Reset reset(s);
      if (auto r = step_done(s, Binder(s).text(name).rc(), "cannot delete vhost"); !r) return r;
    }
    return ok();
  });
}

Result<void> DefinitionsStore::put_exchange(const ExchangeDef& x) {
  return transaction([&]() -> Result<void> {
    sqlite3_stmt* s = stmt_->put_exchange.get();
    Reset reset(s);
    int rc = Binder(s)
                 .text(x.vhost)
                 .text(x.name)
                 .text(x.type)
                 .boolean(x.durable)
                 .boolean(x.auto_delete)
                 .boolean(x.internal)
                 .blob(x.arguments)
                 .rc();
    return step_done(s, rc, "cannot put exchange");
  });
}

Result<void> DefinitionsStore::delete_exchange(const std::string& vhost, const std::string& name) {
  return transaction([&]() -> Result<void> {
    sqlite3_stmt* steps[] = {stmt_->delete_exchange_bindings.get(), stmt_->delete_exchange.get()};
    for (sqlite3_stmt* s : steps) {
      Reset reset(s);
      int rc = Binder(s).text(vhost).text(name).rc();
      if (auto r = step_done(s, rc, "cannot delete exchange"); !r) return r;
    }
    return ok();
  });
}

// Returns 0 if there is no such queue; stored ids are never 0.
Result<std::uint64_t> DefinitionsStore::find_queue_id(const std::string& vhost,
                                                      const std::string& name) {
  sqlite3_stmt* s = stmt_->find_queue_id.get();
  Reset reset(s);
  int rc = Binder(s).text(vhost).text(name).rc();
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::uint64_t{0};
  if (rc != SQLITE_ROW) return sqlite_error(rc, "cannot find queue");
  return static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
}

Result<std::uint64_t> DefinitionsStore::put_queue(QueueDef q) {
  constexpr auto kMaxId = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (q.id > kMaxId) {
    return Error{
        definitions_errc::invalid_argument,
        fmt::format("definitions store {}: queue id {} is larger than {}", path_, q.id, kMaxId)};
  }

  std::uint64_t id = 0;
  auto r = transaction([&]() -> Result<void> {
    // An existing queue keeps its id: the message log files its messages under it.
    auto existing = find_queue_id(q.vhost, q.name);
    if (!existing) return existing.error();
    if (*existing != 0 && q.id != 0 && q.id != *existing) {
      return Error{definitions_errc::conflict,
                   fmt::format("definitions store {}: vhost={} queue={} is stored with id {}, "
                               "not {}",
                               path_, q.vhost, q.name, *existing, q.id)};
    }

    // A NULL id makes AUTOINCREMENT pick one larger than any ever used.
    sqlite3_stmt* s = stmt_->put_queue.get();
    Reset reset(s);
    Binder b(s);
    if (q.id == 0) {
      b.null();
    } else {
      b.integer(static_cast<std::int64_t>(q.id));
    }
    b.text(q.vhost).text(q.name).boolean(q.durable).boolean(q.auto_delete).blob(q.arguments);
    int rc = b.rc();
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return sqlite_error(rc, "cannot put queue");
    id = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    return step_done(s, SQLITE_OK, "cannot put queue");
  });
  if (!r) return r.error();
  return id;
}

Result<void> DefinitionsStore::delete_queue(const std::string& vhost, const std::string& name) {
  return transaction([&]() -> Result<void> {
    sqlite3_stmt* steps[] = {stmt_->delete_queue_bindings.get(), stmt_->delete_queue.get()};
    for (sqlite3_stmt* s : steps) {
      Reset reset(s);
      int rc = Binder(s).text(vhost).text(name).rc();
      if (auto r = step_done(s, rc, "cannot delete queue"); !r) return r;
    }
    return ok();
  });
}

namespace {
int bind_binding(sqlite3_stmt* s, const BindingDef& b) {
  return Binder(s)
      .text(b.vhost)
      .text(b.source)
      .text(b.destination)
      .boolean(b.destination_is_queue)
      .text(b.key)
      .blob(b.arguments)
      .rc();
}
}  // namespace

Result<void> DefinitionsStore::put_binding(const BindingDef& b) {
  return transaction([&]() -> Result<void> {
    sqlite3_stmt* s = stmt_->put_binding.get();
    Reset reset(s);
    return step_done(s, bind_binding(s, b), "cannot put binding");
  });
}

Result<void> DefinitionsStore::delete_binding(const BindingDef& b) {
  return transaction([&]() -> Result<void> {
    sqlite3_stmt* s = stmt_->delete_binding.get();
    Reset reset(s);
    return step_done(s, bind_binding(s, b), "cannot delete binding");
  });
}

namespace {
// Runs a query and calls row() for each row; returns SQLITE_DONE if all went well. Used by
// load() only, which runs once at start-up, so the statement is not cached.
template <class F>
int for_each_row(sqlite3* db, const char* sql, F&& row) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) row(raw);
  return rc;
}
}  // namespace

Result<Definitions> DefinitionsStore::load() const {
  Definitions defs;

  int rc = for_each_row(db_, "SELECT name FROM vhosts ORDER BY name",
                        [&](sqlite3_stmt* s) { defs.vhosts.push_back(column_text(s, 0)); });
  if (rc != SQLITE_DONE) return sqlite_error(rc, "cannot load vhosts");

  rc = for_each_row(db_,
                    "SELECT vhost, name, type, durable, auto_delete, internal, arguments "
                    "FROM exchanges ORDER BY vhost, name",
                    [&](sqlite3_stmt* s) {
                      defs.exchanges.push_back(ExchangeDef{
                          .vhost = column_text(s, 0),
                          .name = column_text(s, 1),
                          .type = column_text(s, 2),
                          .durable = column_bool(s, 3),
                          .auto_delete = column_bool(s, 4),
                          .internal = column_bool(s, 5),
                          .arguments = column_blob(s, 6),
                      });
                    });
  if (rc != SQLITE_DONE) return sqlite_error(rc, "cannot load exchanges");

  rc = for_each_row(db_,
                    "SELECT vhost, name, durable, auto_delete, arguments, id "
                    "FROM queues ORDER BY id",
                    [&](sqlite3_stmt* s) {
                      defs.queues.push_back(QueueDef{
                          .vhost = column_text(s, 0),
                          .name = column_text(s, 1),
                          .durable = column_bool(s, 2),
                          .auto_delete = column_bool(s, 3),
                          .arguments = column_blob(s, 4),
                          .id = static_cast<std::uint64_t>(sqlite3_column_int64(s, 5)),
                      });
                    });
  if (rc != SQLITE_DONE) return sqlite_error(rc, "cannot load queues");

  rc = for_each_row(db_,
                    "SELECT vhost, source, destination, destination_is_queue, routing_key, "
                    "arguments FROM bindings ORDER BY rowid",
                    [&](sqlite3_stmt* s) {
                      defs.bindings.push_back(BindingDef{
                          .vhost = column_text(s, 0),
                          .source = column_text(s, 1),
                          .destination = column_text(s, 2),
                          .destination_is_queue = column_bool(s, 3),
                          .key = column_text(s, 4),
                          .arguments = column_blob(s, 5),
                      });
                    });
  if (rc != SQLITE_DONE) return sqlite_error(rc, "cannot load bindings");
  return defs;
}

}  // namespace sluice::store
