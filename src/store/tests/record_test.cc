#include "store/record.h"

#include <gtest/gtest.h>

#include "store/errc.h"
#include "store/tests/test_util.h"

namespace sluice::store {
namespace {

using testing::bytes_of;
using testing::message;

ByteSpan payload_of(const Bytes& framed) {
  return ByteSpan(framed).subspan(log_format::kRecordHeaderSize);
}

TEST(Record, MessageRoundTrips) {
  auto m = message(42, {7, 9}, "hello");
  Bytes framed;
  encode_message(m.record(), framed);
  EXPECT_EQ(framed.size(), framed_size(m.record()));

  StoredMessage out;
  ASSERT_TRUE(decode_message(payload_of(framed), out));
  EXPECT_EQ(out.id, 42u);
  EXPECT_EQ(out.queues, (std::vector<QueueId>{7, 9}));
  EXPECT_EQ(out.exchange, "amq.direct");
  EXPECT_EQ(out.routing_key, "rk");
  EXPECT_EQ(out.properties, m.properties);
  EXPECT_EQ(out.body, bytes_of("hello"));

  MessageHeaderView header;
  ASSERT_TRUE(decode_message_header(payload_of(framed), header));
  EXPECT_EQ(header.id, 42u);
  EXPECT_EQ(header.queues, (std::vector<QueueId>{7, 9}));
}

TEST(Record, AckAndPurgeRoundTrip) {
  Bytes framed;
  encode_ack(AckRecord{5, 6}, framed);
  ASSERT_EQ(framed.size(), kAckFramedSize);
  AckRecord a;
  ASSERT_TRUE(decode_ack(payload_of(framed), a));
  EXPECT_EQ(a.message, 5u);
  EXPECT_EQ(a.queue, 6u);

  framed.clear();
  encode_purge(11, {}, framed);
  ASSERT_EQ(framed.size(), purge_framed_size(0));
  PurgeRecord p;
  ASSERT_TRUE(decode_purge(payload_of(framed), p));
  EXPECT_EQ(p.queue, 11u);
  EXPECT_TRUE(p.held.empty());

  framed.clear();
  const std::vector<HeldMessage> held = {{7, 1, 24}, {9, 2, 4096}};
  encode_purge(12, held, framed);
  ASSERT_EQ(framed.size(), purge_framed_size(2));
  ASSERT_TRUE(decode_purge(payload_of(framed), p));
  EXPECT_EQ(p.queue, 12u);
  EXPECT_EQ(p.held, held);
  // A held list that does not fill the payload exactly is refused.
  const ByteSpan view = payload_of(framed);
  Bytes payload(view.begin(), view.end());
  for (std::size_t n = 9; n < payload.size(); ++n) {  // 8 bytes alone: a purge holding none
    EXPECT_FALSE(decode_purge(ByteSpan(payload).first(n), p)) << n;
  }
  payload.push_back(0);
  EXPECT_FALSE(decode_purge(payload, p));
}

TEST(Record, DecodeRejectsEveryTruncationAndTrailingBytes) {
  Bytes framed;
  encode_message(message(1, {3}).record(), framed);
  Bytes payload(framed.begin() + log_format::kRecordHeaderSize, framed.end());
  for (std::size_t n = 0; n < payload.size(); ++n) {
    StoredMessage out;
    EXPECT_FALSE(decode_message(ByteSpan(payload).first(n), out)) << "length " << n;
  }
  payload.push_back(0);
  StoredMessage out;
  EXPECT_FALSE(decode_message(payload, out));
}

TEST(Record, ValidateRejectsWhatTheFormatCannotHold) {
  EXPECT_FALSE(validate(message(1, {}).record()).ok());
  EXPECT_FALSE(validate(message(1, {0}).record()).ok());
  auto m = message(1, {1});
  m.exchange.assign(256, 'x');
  auto r = validate(m.record());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::invalid_argument);
  m.exchange.assign(255, 'x');
  EXPECT_TRUE(validate(m.record()).ok());
}

}  // namespace
}  // namespace sluice::store
