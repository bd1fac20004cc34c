#include "store/definitions_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

// The suite is named after the class it tests, so the tests live outside sluice::store and
// reach the class as Store.
namespace {

namespace fs = std::filesystem;
using sluice::Error;
using sluice::ok;
using sluice::Result;
using sluice::store::BindingDef;
using sluice::store::Definitions;
using sluice::store::definitions_errc;
using sluice::store::ExchangeDef;
using sluice::store::QueueDef;
using Store = sluice::store::DefinitionsStore;

class DefinitionsStore : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("sluice-defs-") + info->name() + "-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "definitions.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> open_ok() {
    auto store = Store::open(path_);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().detail);
    return store.ok() ? std::move(store).value() : nullptr;
  }

  Definitions load_ok(const Store& store) {
    auto defs = store.load();
    EXPECT_TRUE(defs.ok()) << (defs.ok() ? "" : defs.error().detail);
    return defs.ok() ? std::move(defs).value() : Definitions{};
  }

  // Changes the file behind the store's back, as another program (or a newer Sluice) would.
  void raw_exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  fs::path dir_;
  std::string path_;
};

ExchangeDef exchange(std::string name, std::string type = "direct") {
  return {.vhost = "/",
          .name = std::move(name),
          .type = std::move(type),
          .durable = true,
          .arguments = {0, 0, 0, 0}};
}

QueueDef queue(std::string name) {
  return {.vhost = "/", .name = std::move(name), .durable = true};
}

BindingDef binding(std::string source, std::string queue, std::string key = "k") {
  return {.vhost = "/",
          .source = std::move(source),
          .destination = std::move(queue),
          .destination_is_queue = true,
          .key = std::move(key)};
}

// A little of everything, with every field set to something other than its default.
struct Sample {
  ExchangeDef x{.vhost = "prod",
                .name = "orders",
                .type = "topic",
                .durable = true,
                .auto_delete = true,
                .internal = true,
                .arguments = {1, 2, 3, 0, 255}};
  QueueDef q{.vhost = "prod",
             .name = "orders.eu",
             .durable = true,
             .auto_delete = true,
             .arguments = {9, 8, 7}};
  BindingDef to_queue{.vhost = "prod",
                      .source = "orders",
                      .destination = "orders.eu",
                      .destination_is_queue = true,
                      .key = "eu.#",
                      .arguments = {4, 5}};
  BindingDef to_exchange{.vhost = "prod",
                         .source = "orders",
                         .destination = "audit",
                         .destination_is_queue = false,
                         .key = "",
                         .arguments = {}};
  ExchangeDef audit{.vhost = "prod", .name = "audit", .type = "fanout"};

  void put(Store& store) {
    ASSERT_TRUE(store.put_vhost("prod").ok());
    ASSERT_TRUE(store.put_exchange(x).ok());
    ASSERT_TRUE(store.put_exchange(audit).ok());
    auto id = store.put_queue(q);
    ASSERT_TRUE(id.ok());
    q.id = *id;
    ASSERT_TRUE(store.put_binding(to_queue).ok());
    ASSERT_TRUE(store.put_binding(to_exchange).ok());
  }

  void expect_in(const Definitions& defs) const {
    EXPECT_EQ(defs.vhosts, std::vector<std::string>{"prod"});
    EXPECT_EQ(defs.exchanges, (std::vector<ExchangeDef>{audit, x}));  // sorted by name
    EXPECT_EQ(defs.queues, std::vector<QueueDef>{q});
    EXPECT_EQ(defs.bindings, (std::vector<BindingDef>{to_queue, to_exchange}));
  }
};

TEST_F(DefinitionsStore, RoundTripsEveryEntity) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  EXPECT_TRUE(load_ok(*store).vhosts.empty());

  Sample sample;
  sample.put(*store);
  EXPECT_NE(sample.q.id, 0u);
  sample.expect_in(load_ok(*store));
}

TEST_F(DefinitionsStore, ReopenAfterCloseKeepsEverything) {
  Sample sample;
  {
    auto store = open_ok();
    ASSERT_TRUE(store);
    sample.put(*store);
  }
  auto store = open_ok();
  ASSERT_TRUE(store);
  sample.expect_in(load_ok(*store));
}

TEST_F(DefinitionsStore, NamesMayHoldAnyBytes) {
  // AMQP short strings are bytes, not UTF-8, and may contain NUL.
  std::string name("a\0b\xff\xfe", 5);
  auto store = open_ok();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->put_vhost(name).ok());
  ASSERT_TRUE(store->put_queue({.vhost = name, .name = name}).ok());
  ASSERT_TRUE(store->put_queue({.vhost = name, .name = std::string("a")}).ok());

  auto defs = load_ok(*store);
  EXPECT_EQ(defs.vhosts, std::vector<std::string>{name});
  ASSERT_EQ(defs.queues.size(), 2u);
  EXPECT_EQ(defs.queues[0].name, name);
}

TEST_F(DefinitionsStore, DeletingAQueueDeletesItsBindings) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->put_exchange(exchange("x")).ok());
  ASSERT_TRUE(store->put_queue(queue("q1")).ok());
  ASSERT_TRUE(store->put_queue(queue("q2")).ok());
  ASSERT_TRUE(store->put_binding(binding("x", "q1")).ok());
  ASSERT_TRUE(store->put_binding(binding("x", "q2")).ok());
  // An exchange of the same name as the queue is a different destination.
  BindingDef e2e{
      .vhost = "/", .source = "x", .destination = "q1", .destination_is_queue = false, .key = "k"};
  ASSERT_TRUE(store->put_binding(e2e).ok());

  ASSERT_TRUE(store->delete_queue("/", "q1").ok());
  auto defs = load_ok(*store);
  ASSERT_EQ(defs.queues.size(), 1u);
  EXPECT_EQ(defs.queues[0].name, "q2");
  EXPECT_EQ(defs.bindings, (std::vector<BindingDef>{binding("x", "q2"), e2e}));
}

TEST_F(DefinitionsStore, DeletingAnExchangeDeletesBindingsFromAndToIt) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->put_exchange(exchange("x")).ok());
  ASSERT_TRUE(store->put_exchange(exchange("y")).ok());
  ASSERT_TRUE(store->put_queue(queue("q")).ok());
  ASSERT_TRUE(store->put_binding(binding("x", "q")).ok());
  ASSERT_TRUE(store->put_binding(binding("y", "q")).ok());
  ASSERT_TRUE(
      store
          ->put_binding(
              {.vhost = "/", .source = "y", .destination = "x", .destination_is_queue = false})
          .ok());
  // A queue of the same name as the exchange is a different destination.
  ASSERT_TRUE(store->put_binding(binding("y", "x")).ok());

  ASSERT_TRUE(store->delete_exchange("/", "x").ok());
  auto defs = load_ok(*store);
  ASSERT_EQ(defs.exchanges.size(), 1u);
  EXPECT_EQ(defs.exchanges[0].name, "y");
  EXPECT_EQ(defs.bindings, (std::vector<BindingDef>{binding("y", "q"), binding("y", "x")}));
}

TEST_F(DefinitionsStore, DeletingAVhostDeletesEverythingInIt) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  Sample sample;
  sample.put(*store);
  ASSERT_TRUE(store->put_vhost("/").ok());
  ASSERT_TRUE(store->put_queue(queue("stays")).ok());

  ASSERT_TRUE(store->delete_vhost("prod").ok());
  auto defs = load_ok(*store);
  EXPECT_EQ(defs.vhosts, std::vector<std::string>{"/"});
  EXPECT_TRUE(defs.exchanges.empty());
  ASSERT_EQ(defs.queues.size(), 1u);
  EXPECT_EQ(defs.queues[0].name, "stays");
  EXPECT_TRUE(defs.bindings.empty());
}

TEST_F(DefinitionsStore, BindingIsIdentifiedByAllItsFields) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  BindingDef base = binding("x", "q", "key");
  std::vector<BindingDef> all{base};
  all.push_back(base), all.back().vhost = "other";
  all.push_back(base), all.back().source = "x2";
  all.push_back(base), all.back().destination = "q2";
  all.push_back(base), all.back().destination_is_queue = false;
  all.push_back(base), all.back().key = "key2";
  all.push_back(base), all.back().arguments = {1};
  for (const auto& b : all) ASSERT_TRUE(store->put_binding(b).ok());
  EXPECT_EQ(load_ok(*store).bindings, all);

  // Deleting one deletes only the one that matches in every field.
  BindingDef with_args = all.back();
  ASSERT_TRUE(store->delete_binding(with_args).ok());
  all.pop_back();
  EXPECT_EQ(load_ok(*store).bindings, all);
  ASSERT_TRUE(store->delete_binding(base).ok());
  all.erase(all.begin());
  EXPECT_EQ(load_ok(*store).bindings, all);
}

TEST_F(DefinitionsStore, DuplicatePutIsIdempotent) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  Sample sample;
  sample.put(*store);
  std::uint64_t first_id = sample.q.id;

  // Again, with the queue's id left for the store to find.
  sample.q.id = 0;
  sample.put(*store);
  EXPECT_EQ(sample.q.id, first_id);
  sample.expect_in(load_ok(*store));

  // Empty arguments are a value like any other: stored once, not as a NULL that never matches.
  ASSERT_TRUE(store->put_binding(binding("x", "q")).ok());
  ASSERT_TRUE(store->put_binding(binding("x", "q")).ok());
  EXPECT_EQ(load_ok(*store).bindings.size(), 3u);
}

TEST_F(DefinitionsStore, PutReplacesTheProperties) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  ExchangeDef x = exchange("x");
  ASSERT_TRUE(store->put_exchange(x).ok());
  x.type = "fanout", x.arguments = {7};
  ASSERT_TRUE(store->put_exchange(x).ok());

  QueueDef q = queue("q");
  auto id = store->put_queue(q);
  ASSERT_TRUE(id.ok());
  q.auto_delete = true, q.arguments = {8};
  ASSERT_TRUE(store->put_queue(q).ok());
  q.id = *id;

  auto defs = load_ok(*store);
  EXPECT_EQ(defs.exchanges, std::vector<ExchangeDef>{x});
  EXPECT_EQ(defs.queues, std::vector<QueueDef>{q});
}

TEST_F(DefinitionsStore, QueueIdsAreNeverReused) {
  std::uint64_t deleted_id = 0;
  {
    auto store = open_ok();
    ASSERT_TRUE(store);
    auto a = store->put_queue(queue("a"));
    auto b = store->put_queue(queue("b"));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(*a, *b);
    deleted_id = *b;
    ASSERT_TRUE(store->delete_queue("/", "b").ok());
  }
  auto store = open_ok();
  ASSERT_TRUE(store);
  auto c = store->put_queue(queue("c"));
  ASSERT_TRUE(c.ok());
  EXPECT_GT(*c, deleted_id);
}

TEST_F(DefinitionsStore, GivenQueueIdIsKeptAndChecked) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  QueueDef q = queue("q");
  q.id = 42;
  auto id = store->put_queue(q);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 42u);

  // The same queue under another id, and another queue under the same id, are conflicts.
  q.id = 43;
  auto moved = store->put_queue(q);
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.error().code, definitions_errc::conflict);
  QueueDef other = queue("other");
  other.id = 42;
  auto taken = store->put_queue(other);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, definitions_errc::conflict);

  // An assigned id comes after every id given so far.
  auto next = store->put_queue(queue("next"));
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, 42u);

  QueueDef huge = queue("huge");
  huge.id = ~std::uint64_t{0};
  auto too_big = store->put_queue(huge);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code, definitions_errc::invalid_argument);
}

TEST_F(DefinitionsStore, DeletingWhatIsAbsentSucceeds) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->delete_vhost("none").ok());
  EXPECT_TRUE(store->delete_exchange("/", "none").ok());
  EXPECT_TRUE(store->delete_queue("/", "none").ok());
  EXPECT_TRUE(store->delete_binding(binding("none", "none")).ok());
}

TEST_F(DefinitionsStore, TransactionCommitsAllChanges) {
  Sample sample;
  {
    auto store = open_ok();
    ASSERT_TRUE(store);
    auto r = store->transaction([&]() -> Result<void> {
      sample.put(*store);
      return ok();
    });
    ASSERT_TRUE(r.ok());
  }
  auto store = open_ok();
  ASSERT_TRUE(store);
  sample.expect_in(load_ok(*store));
}

TEST_F(DefinitionsStore, TransactionRollbackOnErrorLeavesNothingBehind) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->put_queue(queue("before")).ok());
  auto before = load_ok(*store);

  auto r = store->transaction([&]() -> Result<void> {
    Sample sample;
    sample.put(*store);
    EXPECT_TRUE(store->delete_queue("/", "before").ok());
    return Error{definitions_errc::invalid_argument, "import failed half way"};
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().detail, "import failed half way");

  auto after = load_ok(*store);
  EXPECT_TRUE(after.vhosts.empty());
  EXPECT_TRUE(after.exchanges.empty());
  EXPECT_EQ(after.queues, before.queues);
  EXPECT_TRUE(after.bindings.empty());

  // The store is usable afterwards, and the rollback survives a reopen.
  ASSERT_TRUE(store->put_vhost("later").ok());
  store.reset();
  store = open_ok();
  ASSERT_TRUE(store);
  EXPECT_EQ(load_ok(*store).vhosts, std::vector<std::string>{"later"});
}

TEST_F(DefinitionsStore, FailedInnerTransactionRollsBackOnlyItself) {
  auto store = open_ok();
  ASSERT_TRUE(store);
  auto r = store->transaction([&]() -> Result<void> {
    if (auto r = store->put_vhost("outer"); !r) return r;
    auto inner = store->transaction([&]() -> Result<void> {
      if (auto r = store->put_vhost("inner"); !r) return r;
      return Error{definitions_errc::conflict, "no"};
    });
    EXPECT_FALSE(inner.ok());
    return ok();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(load_ok(*store).vhosts, std::vector<std::string>{"outer"});
}

TEST_F(DefinitionsStore, NewerSchemaVersionIsRefused) {
  { ASSERT_TRUE(open_ok()); }
  raw_exec("PRAGMA user_version = 7");

  auto store = Store::open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, definitions_errc::unsupported_version);
  const std::string& msg = store.error().detail;
  EXPECT_NE(msg.find(path_), std::string::npos) << msg;
  EXPECT_NE(msg.find("version 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("version 1"), std::string::npos) << msg;
}

TEST_F(DefinitionsStore, GarbageFileGivesAClearError) {
  {
    std::ofstream out(path_, std::ios::binary);
    for (int i = 0; i < 10000; ++i) out.put(static_cast<char>((i * 7919) % 251));
  }
  auto store = Store::open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, definitions_errc::corrupt);
  EXPECT_NE(store.error().detail.find(path_), std::string::npos) << store.error().detail;
}

TEST_F(DefinitionsStore, DamagedPageGivesAClearError) {
  {
    auto store = open_ok();
    ASSERT_TRUE(store);
    auto r = store->transaction([&]() -> Result<void> {
      for (int i = 0; i < 500; ++i) {
        auto id = store->put_queue(queue("queue-" + std::to_string(i)));
        if (!id) return id.error();
      }
      return ok();
    });
    ASSERT_TRUE(r.ok());
  }
  // Overwrite the middle of the file, well past the header page, with garbage.
  auto size = fs::file_size(path_);
  ASSERT_GT(size, 16384u);
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>(0xA5));
  }

  auto store = Store::open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, definitions_errc::corrupt);
  EXPECT_NE(store.error().detail.find(path_), std::string::npos) << store.error().detail;
}

TEST_F(DefinitionsStore, SomeoneElsesDatabaseIsRefused) {
  raw_exec("CREATE TABLE accounts (id INTEGER)");
  auto store = Store::open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, definitions_errc::not_a_definitions_store);
  EXPECT_NE(store.error().detail.find(path_), std::string::npos) << store.error().detail;
}

TEST_F(DefinitionsStore, SecondOpenOfTheSameFileIsRefused) {
  auto first = open_ok();
  ASSERT_TRUE(first);
  auto second = Store::open(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, definitions_errc::locked);
  EXPECT_NE(second.error().detail.find(path_), std::string::npos) << second.error().detail;
  EXPECT_TRUE(first->put_vhost("/").ok());  // the first is unaffected
}

TEST_F(DefinitionsStore, MissingDirectoryGivesAClearError) {
  std::string path = (dir_ / "no" / "such" / "definitions.db").string();
  auto store = Store::open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().detail.find(path), std::string::npos) << store.error().detail;
}

TEST_F(DefinitionsStore, UsesWriteAheadLogWithOurHeader) {
  { ASSERT_TRUE(open_ok()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  auto query = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(s), SQLITE_ROW);
    std::string v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
  };
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query("PRAGMA user_version"), "1");
  EXPECT_EQ(query("PRAGMA application_id"), std::to_string(0x534C4446));
  sqlite3_close(db);
}

}  // namespace
