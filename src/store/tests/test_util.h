#pragma once

// Helpers shared by the store tests: messages with readable bodies, and a MessageLog over a
// MemFs that a test can close, damage and open again.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/mem_file.h"
#include "store/message_log.h"
#include "store/page_reader.h"

namespace sluice::store::testing {

inline Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string string_of(const Bytes& b) { return std::string(b.begin(), b.end()); }

// Owns what a MessageRecord points at.
struct TestMessage {
  MessageId id = 0;
  std::vector<QueueId> queues;
  std::string exchange = "amq.direct";
  std::string routing_key = "rk";
  Bytes properties = {0x80, 0x00, 0x02};
  Bytes body;

  MessageRecord record() const {
    return MessageRecord{id, queues, exchange, routing_key, properties, body};
  }
};

inline TestMessage message(MessageId id, std::vector<QueueId> queues, std::string body = "") {
  TestMessage m;
  m.id = id;
  m.queues = std::move(queues);
  m.body = bytes_of(body.empty() ? "body-" + std::to_string(id) : body);
  return m;
}

// Waits until `log` reports `lsn` durable, or fails the test after five seconds.
inline void wait_durable(const MessageLog& log, Lsn lsn) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (log.durable_lsn() < lsn && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_GE(log.durable_lsn(), lsn);
}

class LogFixture : public ::testing::Test {
 protected:
  // Opens a new MessageLog on fs_. Fails the test if open fails.
  Recovered open() {
    log_ = std::make_unique<MessageLog>(options_);
    auto r = log_->open(std::make_unique<MemDirectory>(fs_));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
    return r.ok() ? std::move(r).value() : Recovered{};
  }

  Result<Recovered> try_open() {
    log_ = std::make_unique<MessageLog>(options_);
    return log_->open(std::make_unique<MemDirectory>(fs_));
  }

  void close() {
    ASSERT_TRUE(log_->close().ok());
    log_.reset();
  }

  Appended append(const TestMessage& m) {
    auto a = log_->append_message(m.record());
    EXPECT_TRUE(a.ok()) << (a.ok() ? "" : a.error().detail);
    return a.ok() ? *a : Appended{};
  }

  Lsn ack(const TestMessage& m, QueueId q, const Position& where) {
    auto l = log_->append_ack(m.id, q, where);
    EXPECT_TRUE(l.ok());
    return l.ok() ? *l : 0;
  }

  // The messages recovered for queue q, read back from the open log in queue order.
  std::vector<ReadBack> read_back(const Recovered& r, QueueId q) const {
    std::vector<ReadBack> out;
    auto it = r.queues.find(q);
    if (it == r.queues.end()) return out;
    PageReader reader(*log_);
    for (const OffsetRun& run : it->second.runs) {
      for (std::uint32_t offset : run.offsets) {
        auto m = reader.read(run.segment, offset);
        EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().detail);
        if (m.ok()) out.push_back(std::move(*m));
      }
    }
    return out;
  }

  std::vector<MessageId> ids_of(const Recovered& r, QueueId q) const {
    std::vector<MessageId> ids;
    for (const ReadBack& m : read_back(r, q)) ids.push_back(m.message.id);
    return ids;
  }

  // What a queue holding messages at these positions passes to append_purge.
  static std::vector<SegmentRefs> refs_of(const std::vector<Position>& held) {
    std::vector<SegmentRefs> refs;
    for (const Position& p : held) {
      if (refs.empty() || refs.back().segment != p.segment) refs.push_back({p.segment, 0});
      ++refs.back().count;
    }
    return refs;
  }

  std::string seg(SegmentId id) const { return log_format::segment_file_name(id); }

  std::shared_ptr<MemFs> fs_ = std::make_shared<MemFs>();
  MessageLogOptions options_;
  std::unique_ptr<MessageLog> log_;
};

}  // namespace sluice::store::testing
