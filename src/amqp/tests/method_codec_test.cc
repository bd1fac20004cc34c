// Hand-computed encodings and error cases for the generated method codec. The generated
// methods_test.cc covers every method generically.

#include <gtest/gtest.h>

#include <string>

#include "amqp/methods.h"
#include "amqp/reply_code.h"

namespace sluice::amqp {
namespace {

using namespace std::string_literals;

template <class M>
Bytes encode(const M& m) {
  Bytes out;
  ByteWriter w(out);
  encode_method(w, m);
  return out;
}

void expect_error(const Result<Method>& r, ReplyCode code, std::string_view detail) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(code));
  EXPECT_EQ(r.error().detail, detail);
}

TEST(MethodCodec, PacksQueueDeclareBitsIntoOneOctetLowestFirst) {
  method::QueueDeclare m;
  m.queue = "q";
  m.durable = true;                          // bit 1
  m.auto_delete = true;                      // bit 3
  const Bytes expected = {0,    50,  0, 10,  // queue.declare
                          0,    0,           // ticket
                          1,    'q',         // queue
                          0x0a,  // passive, durable, exclusive, auto-delete, nowait: 0b01010
                          0,    0,   0, 0};  // arguments: empty table
  EXPECT_EQ(encode(m), expected);

  m.passive = m.exclusive = m.nowait = true;
  EXPECT_EQ(encode(m)[8], 0x1f);
  Result<Method> decoded = decode_method(encode(m));
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(*decoded == Method{m});
}

TEST(MethodCodec, EncodesBasicDeliverWithItsSingleBit) {
  const method::BasicDeliver m{"ctag", 0x0102030405060708ULL, true, "ex", "rk"};
  const Bytes expected = {0, 60,  0,   60,                 // basic.deliver
                          4, 'c', 't', 'a', 'g',           // consumer-tag
                          1, 2,   3,   4,   5,   6, 7, 8,  // delivery-tag
                          1,                               // redelivered
                          2, 'e', 'x',                     // exchange
                          2, 'r', 'k'};                    // routing-key
  EXPECT_EQ(encode(m), expected);
  Result<Method> decoded = decode_method(expected);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(*decoded == Method{m});
}

TEST(MethodCodec, IgnoresUnusedHighBits) {
  // basic.ack, delivery-tag 1, bits octet 0xfe: multiple (bit 0) is clear.
  const Bytes wire = {0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 1, 0xfe};
  Result<Method> decoded = decode_method(wire);
  ASSERT_TRUE(decoded.ok());
  EXPECT_FALSE(std::get<method::BasicAck>(*decoded).multiple);
}

TEST(MethodCodec, DecodesAClientStartOk) {
  method::ConnectionStartOk m;
  m.client_properties = {
      {"product", "pika"s},
      {"capabilities", FieldTable{{"publisher_confirms", true}, {"consumer_cancel_notify", true}}}};
  m.response = "\0guest\0guest"s;
  const Bytes wire = encode(m);
  Result<Method> decoded = decode_method(wire);
  ASSERT_TRUE(decoded.ok()) << decoded.error().detail;
  const auto& start_ok = std::get<method::ConnectionStartOk>(*decoded);
  EXPECT_EQ(start_ok.mechanism, "PLAIN");
  EXPECT_EQ(start_ok.locale, "en_US");
  EXPECT_EQ(start_ok.response, "\0guest\0guest"s);
  const FieldValue* caps = table_find(start_ok.client_properties, "capabilities");
  ASSERT_NE(caps, nullptr);
  EXPECT_EQ(table_bool(std::get<FieldTable>(caps->value), "publisher_confirms"), true);
}

TEST(MethodCodec, RefusesUnknownClassOrMethod) {
  expect_error(decode_method(Bytes{0, 99, 0, 1}), ReplyCode::CommandInvalid,
               "unknown method class=99 method=1");
  expect_error(decode_method(Bytes{0, 50, 0, 99, 1, 2, 3}), ReplyCode::CommandInvalid,
               "unknown method class=50 method=99");
}

TEST(MethodCodec, RefusesPayloadWithoutMethodId) {
  expect_error(decode_method(Bytes{0, 50, 0}), ReplyCode::FrameError,
               "method frame payload of 3 bytes has no method id");
}

TEST(MethodCodec, TruncationNamesTheMethodAndField) {
  // queue.declare cut inside the queue name.
  expect_error(decode_method(Bytes{0, 50, 0, 10, 0, 0, 5, 'o', 'r'}), ReplyCode::FrameError,
               "method queue.declare: truncated field 'queue'");
  // queue.declare whose arguments table claims more bytes than follow.
  expect_error(decode_method(Bytes{0, 50, 0, 10, 0, 0, 0, 0, 0, 0, 0, 9, 1}), ReplyCode::FrameError,
               "method queue.declare: truncated field 'arguments': field table length 9 "
               "exceeds the 1 bytes remaining");
  // basic.consume cut before its bits.
  expect_error(decode_method(Bytes{0, 60, 0, 20, 0, 0, 0, 0}), ReplyCode::FrameError,
               "method basic.consume: truncated field 'no-local'");
}

TEST(MethodCodec, BadTableTypeIsASyntaxError) {
  const Bytes wire = {0, 50, 0, 10, 0, 0, 0, 0, 0, 0, 0, 3, 1, 'k', 'Z'};
  expect_error(decode_method(wire), ReplyCode::SyntaxError,
               "method queue.declare: field 'arguments': unknown field type 'Z' in table");
}

TEST(MethodCodec, DefaultsComeFromTheDefinition) {
  EXPECT_EQ(method::ConnectionStart{}.version_major, 0);
  EXPECT_EQ(method::ConnectionStart{}.version_minor, 9);
  EXPECT_EQ(method::ConnectionStart{}.mechanisms, "PLAIN");
  EXPECT_EQ(method::ConnectionStart{}.locales, "en_US");
  EXPECT_EQ(method::ConnectionOpen{}.virtual_host, "/");
  EXPECT_EQ(method::ExchangeDeclare{}.type, "direct");
  EXPECT_TRUE(method::BasicReject{}.requeue);
  EXPECT_TRUE(method::BasicNack{}.requeue);
  EXPECT_FALSE(method::BasicNack{}.multiple);
  EXPECT_EQ(method::AccessRequestOk{}.ticket, 1);
}

TEST(MethodCodec, LooksUpNamesAndContentFlags) {
  EXPECT_EQ(method_name(50, 10), "queue.declare");
  EXPECT_EQ(method_name(60, 100), "basic.recover-async");
  EXPECT_EQ(method_name(10, 71), "connection.update-secret-ok");
  EXPECT_EQ(method_name(40, 51), "exchange.unbind-ok");
  EXPECT_EQ(method_name(50, 99), "");
  EXPECT_EQ(method_name(7, 10), "");
  EXPECT_TRUE(method_has_content(60, 40));   // publish
  EXPECT_TRUE(method_has_content(60, 50));   // return
  EXPECT_TRUE(method_has_content(60, 60));   // deliver
  EXPECT_TRUE(method_has_content(60, 71));   // get-ok
  EXPECT_FALSE(method_has_content(60, 72));  // get-empty
  EXPECT_FALSE(method_has_content(50, 10));
  EXPECT_FALSE(method_has_content(1, 1));
}

TEST(MethodCodec, CarriesSynchronousFlags) {
  static_assert(method::QueueDeclare::kSynchronous);
  static_assert(!method::QueueDeclareOk::kSynchronous);
  static_assert(method::BasicConsume::kSynchronous);
  static_assert(!method::BasicPublish::kSynchronous);
  static_assert(method::BasicPublish::kHasContent);
  static_assert(std::variant_size_v<Method> == 66);
  EXPECT_EQ(class_id_of(Method{method::TxSelect{}}), class_id::kTx);
  EXPECT_EQ(method_id_of(Method{method::ConfirmSelectOk{}}), 11);
}

}  // namespace
}  // namespace sluice::amqp
