#pragma once

// DefinitionsStore: the durable definitions (vhosts, exchanges, queues, bindings) in one SQLite
// database, so that what a client declared durable is there again after a restart.
//
// The on-disk schema, its version and the upgrade rules are in src/store/definitions_format.md;
// a change to one means changing both.
//
// Durability: every change commits synchronously, with an fsync, before the call returns. The
// broker sends declare-ok (or bind-ok, delete-ok) only after the call succeeded, so what it
// promised survives a power failure. A durable declare therefore costs one fsync, a few
// milliseconds on a disk and far less on an SSD. That is acceptable because definitions change
// rarely, unlike messages; a client that declares its topology at start-up pays it once per
// entity. Group many changes (a definitions import, a queue and its bindings) in transaction()
// to pay one fsync for all of them.
//
// What to put: only durable entities (and bindings whose source and destination are both
// durable). The store records what it is given and load() returns it; it does not check that a
// binding's exchange or queue exists, nor that an exchange's vhost does, because the broker owns
// those rules (and the default exchange, never stored, can still be a binding's source).
//
// Threading and lifecycle: the broker owns the one instance, opened at start-up with open() and
// closed by destruction. It is used from the broker loop thread only and every call blocks that
// thread until it is done. The database is opened in exclusive locking mode, so a second broker
// (or a second open()) on the same file is refused while this one holds it.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sluice::store {

// Named after the store's other errc so that the two can live in one namespace.
enum class definitions_errc {
  io_error = 1,             // SQLite could not read, write or sync the file (disk full, EIO…)
  corrupt,                  // the file is not a readable SQLite database, or fails its checks
  unsupported_version,      // written by a newer schema version than this build knows
  not_a_definitions_store,  // a SQLite database, but someone else's
  locked,                   // another connection (another broker?) holds the database
  conflict,                 // a constraint failed, e.g. a queue id already used by another queue
  invalid_argument,         // e.g. a queue id that does not fit SQLite's signed 64-bit integer
};

const std::error_category& definitions_category();
inline std::error_code make_error_code(definitions_errc e) {
  return {static_cast<int>(e), definitions_category()};
}

// Plain structs, so that the store does not depend on the broker; the broker converts.
// `arguments` is an encoded AMQP field table, opaque to the store. NOTE: the store compares
// arguments byte for byte, so the broker must encode a given table the same way every time.
struct ExchangeDef {
  std::string vhost;
  std::string name;
  std::string type;
  bool durable = true;
  bool auto_delete = false;
  bool internal = false;
  Bytes arguments;

  bool operator==(const ExchangeDef&) const = default;
};

struct QueueDef {
  std::string vhost;
  std::string name;
  bool durable = true;
  bool auto_delete = false;
  Bytes arguments;
  std::uint64_t id = 0;  // stable id the message log files messages under; 0 = assign one

  bool operator==(const QueueDef&) const = default;
};

// A binding is identified by all of its fields, arguments included (as RabbitMQ does).
struct BindingDef {
  std::string vhost;
  std::string source;       // exchange name
  std::string destination;  // queue or exchange name
  bool destination_is_queue = true;
  std::string key;
  Bytes arguments;

  bool operator==(const BindingDef&) const = default;
};

// Everything load() found: vhosts sorted by name, exchanges by (vhost, name), queues by id
// (the order assigned ids were handed out), bindings in the order they were first put.
struct Definitions {
  std::vector<std::string> vhosts;
  std::vector<ExchangeDef> exchanges;
  std::vector<QueueDef> queues;
  std::vector<BindingDef> bindings;
};

class DefinitionsStore {
 public:
  // Opens the database at `path`, creating the file and the schema if it does not exist. Fails
  // if the file is not a definitions store, is corrupt, is locked by another connection, or was
  // written by a newer schema version than kSchemaVersion. Every error names the file.
  static Result<std::unique_ptr<DefinitionsStore>> open(const std::string& path);

  ~DefinitionsStore();
  DefinitionsStore(const DefinitionsStore&) = delete;
  DefinitionsStore& operator=(const DefinitionsStore&) = delete;

  static constexpr int kSchemaVersion = 1;

  const std::string& path() const { return path_; }

  Result<Definitions> load() const;

  // Each put is an upsert: putting an existing entity again replaces its properties and is
  // otherwise a no-op, so a redeclare can simply put again. Each delete of something absent
  // succeeds (the caller decides whether absence is an error). Outside transaction(), each call
  // is its own transaction and costs one fsync.

  Result<void> put_vhost(const std::string& name);
  // Deletes the vhost and every exchange, queue and binding in it.
  Result<void> delete_vhost(const std::string& name);

  Result<void> put_exchange(const ExchangeDef& exchange);
  // Also deletes the bindings that have the exchange as source or as destination.
  Result<void> delete_exchange(const std::string& vhost, const std::string& name);

  // Returns the queue's id. A queue already stored under (vhost, name) keeps its id; passing a
  // different non-zero id for it is a conflict. Otherwise a non-zero id is used as given and 0
  // assigns one. Assigned ids are never reused, even after the queue is deleted, so messages
  // left in the message log under a deleted queue's id cannot reappear in a new queue.
  Result<std::uint64_t> put_queue(QueueDef queue);
  // Also deletes the bindings that have the queue as destination.
  Result<void> delete_queue(const std::string& vhost, const std::string& name);

  Result<void> put_binding(const BindingDef& binding);
  Result<void> delete_binding(const BindingDef& binding);

  // Runs body and commits everything it changed in one transaction (one fsync) if it returns
  // success; if it returns an error, rolls all of it back and returns that error. Calls nest:
  // a failed inner transaction() rolls back only its own changes.
  // REQUIRES: body uses only this store's own calls, and does not throw.
  Result<void> transaction(const std::function<Result<void>()>& body);

 private:
  struct Statements;

  DefinitionsStore(std::string path, sqlite3* db);

  Result<void> init_schema();
  Result<void> quick_check();
  Result<void> prepare_statements();
  Result<void> run(const char* sql, const char* what) const;
  Result<void> step_done(sqlite3_stmt* stmt, int bind_rc, const char* what) const;
  Result<std::uint64_t> find_queue_id(const std::string& vhost, const std::string& name);
  Error sqlite_error(int rc, const char* what) const;

  std::string path_;
  sqlite3* db_;                       // owned; closed in the destructor after the statements
  std::unique_ptr<Statements> stmt_;  // the prepared statements of the hot calls
  int depth_ = 0;                     // how many transaction() calls are open
};

}  // namespace sluice::store

template <>
struct std::is_error_code_enum<sluice::store::definitions_errc> : std::true_type {};
