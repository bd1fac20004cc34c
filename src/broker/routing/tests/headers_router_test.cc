#include "broker/routing/headers_router.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "amqp/reply_code.h"
#include "broker/routing/tests/routing_test_util.h"

namespace sluice::broker {
namespace {

using amqp::ByteArray;
using amqp::Decimal;
using amqp::FieldArray;
using amqp::FieldTable;
using amqp::FieldValue;
using amqp::Timestamp;
using amqp::Void;
using testing::Names;
using testing::routed;

// Whether a single binding with `arguments` matches a message with `headers` (null: the
// message has no headers table).
bool matches(const FieldTable& arguments, const FieldTable* headers) {
  testing::Targets q;
  HeadersRouter r;
  EXPECT_TRUE(r.bind(q("q"), "", arguments));
  return !routed(r, "", headers).empty();
}

bool matches(const FieldTable& arguments, const FieldTable& headers) {
  return matches(arguments, &headers);
}

// One binding value against one header value, under the key "k".
bool value_matches(FieldValue binding, FieldValue header) {
  return matches(FieldTable{{"k", std::move(binding)}}, FieldTable{{"k", std::move(header)}});
}

const FieldTable kEmpty{};

// RabbitMQ 3.10: with no key to compare, x-match=all (or all-with-x, or no x-match at all)
// matches every message, even one without a headers table.
TEST(HeadersRouter, AllWithNoKeysMatchesEverything) {
  for (const char* mode : {"all", "all-with-x"}) {
    EXPECT_TRUE(matches(FieldTable{{"x-match", mode}}, nullptr)) << mode;
    EXPECT_TRUE(matches(FieldTable{{"x-match", mode}}, kEmpty)) << mode;
    EXPECT_TRUE(matches(FieldTable{{"x-match", mode}}, FieldTable{{"a", 1}})) << mode;
  }
  EXPECT_TRUE(matches(kEmpty, nullptr));
  EXPECT_TRUE(matches(kEmpty, FieldTable{{"a", 1}}));
}

// RabbitMQ 3.10: x-match=any (or any-with-x) with no key to compare matches nothing.
TEST(HeadersRouter, AnyWithNoKeysMatchesNothing) {
  for (const char* mode : {"any", "any-with-x"}) {
    EXPECT_FALSE(matches(FieldTable{{"x-match", mode}}, nullptr)) << mode;
    EXPECT_FALSE(matches(FieldTable{{"x-match", mode}}, FieldTable{{"a", 1}})) << mode;
  }
}

TEST(HeadersRouter, AllNeedsEveryKey) {
  FieldTable binding{{"x-match", "all"}, {"a", 1}, {"b", 2}};
  EXPECT_TRUE(matches(binding, FieldTable{{"a", 1}, {"b", 2}}));
  EXPECT_TRUE(matches(binding, FieldTable{{"b", 2}, {"c", 3}, {"a", 1}}));
  EXPECT_FALSE(matches(binding, FieldTable{{"a", 1}}));
  EXPECT_FALSE(matches(binding, FieldTable{{"a", 1}, {"b", 3}}));
  EXPECT_FALSE(matches(binding, nullptr));
}

TEST(HeadersRouter, AllIsTheDefault) {
  FieldTable binding{{"a", 1}, {"b", 2}};
  EXPECT_TRUE(matches(binding, FieldTable{{"a", 1}, {"b", 2}}));
  EXPECT_FALSE(matches(binding, FieldTable{{"a", 1}}));
}

TEST(HeadersRouter, AnyNeedsOneKey) {
  FieldTable binding{{"x-match", "any"}, {"a", 1}, {"b", 2}};
  EXPECT_TRUE(matches(binding, FieldTable{{"a", 1}}));
  EXPECT_TRUE(matches(binding, FieldTable{{"b", 2}, {"a", 7}}));
  EXPECT_FALSE(matches(binding, FieldTable{{"a", 2}, {"b", 1}}));
  EXPECT_FALSE(matches(binding, kEmpty));
  EXPECT_FALSE(matches(binding, nullptr));
}

// RabbitMQ 3.10: for all and any, binding keys starting "x-" are not compared: {x-match=all,
// x-a=1} matches every message, {x-match=any, x-a=1} none, and a header "x-a" is just a key.
TEST(HeadersRouter, XKeysIgnoredForAllAndAny) {
  EXPECT_TRUE(matches(FieldTable{{"x-match", "all"}, {"x-a", 1}}, kEmpty));
  EXPECT_TRUE(matches(FieldTable{{"x-a", 1}}, FieldTable{{"x-a", 2}}));
  EXPECT_FALSE(matches(FieldTable{{"x-match", "any"}, {"x-a", 1}}, FieldTable{{"x-a", 1}}));
  EXPECT_TRUE(matches(FieldTable{{"x-match", "all"}, {"a", 1}, {"x-a", 1}}, FieldTable{{"a", 1}}));
  // A header whose key starts "x-" matches a binding key that does not.
  EXPECT_TRUE(matches(FieldTable{{"x-b", 1}, {"a", 1}}, FieldTable{{"a", 1}, {"x-a", 1}}));
}

// RabbitMQ 3.10: all-with-x and any-with-x compare "x-" keys too (never x-match itself).
TEST(HeadersRouter, XKeysCountForWithXModes) {
  FieldTable all{{"x-match", "all-with-x"}, {"x-a", 1}};
  EXPECT_TRUE(matches(all, FieldTable{{"x-a", 1}}));
  EXPECT_TRUE(matches(all, FieldTable{{"a", 1}, {"x-a", 1}}));
  EXPECT_FALSE(matches(all, FieldTable{{"a", 1}}));
  EXPECT_FALSE(matches(all, kEmpty));

  FieldTable any{{"x-match", "any-with-x"}, {"x-a", 1}, {"a", 5}};
  EXPECT_TRUE(matches(any, FieldTable{{"x-a", 1}}));
  EXPECT_TRUE(matches(any, FieldTable{{"a", 5}}));
  EXPECT_FALSE(matches(any, FieldTable{{"a", 1}}));

  // x-match is never compared, so a message need not carry it.
  EXPECT_TRUE(matches(FieldTable{{"x-match", "all-with-x"}, {"a", 1}}, FieldTable{{"a", 1}}));
}

// RabbitMQ 3.10: a void binding value matches any value under that key, void included, but
// not a missing key.
TEST(HeadersRouter, VoidMatchesPresence) {
  FieldTable binding{{"a", Void{}}};
  EXPECT_TRUE(matches(binding, FieldTable{{"a", 1}}));
  EXPECT_TRUE(matches(binding, FieldTable{{"a", "text"}}));
  EXPECT_TRUE(matches(binding, FieldTable{{"a", Void{}}}));
  EXPECT_FALSE(matches(binding, FieldTable{{"b", 1}}));
  EXPECT_FALSE(matches(binding, nullptr));

  EXPECT_TRUE(matches(FieldTable{{"x-match", "any"}, {"a", Void{}}}, FieldTable{{"a", 2}}));
  // The other way round is not presence: a void header does not equal a non-void value.
  EXPECT_FALSE(value_matches(std::int32_t{1}, Void{}));
}

TEST(HeadersRouter, MissingHeadersTableIsEmptyTable) {
  FieldTable binding{{"x-match", "any"}, {"a", 1}};
  EXPECT_EQ(matches(binding, nullptr), matches(binding, kEmpty));
  EXPECT_EQ(matches(kEmpty, nullptr), matches(kEmpty, kEmpty));
}

// RabbitMQ 3.10: integers compare by value whatever their width or signedness, and
// timestamps are integers too. The binding and header below have every pair of types.
TEST(HeadersRouter, IntegersOfAnyWidthCompareByValue) {
  const std::vector<FieldValue> ones = {std::int8_t{1},   std::uint8_t{1}, std::int16_t{1},
                                        std::uint16_t{1}, std::int32_t{1}, std::uint32_t{1},
                                        std::int64_t{1},  Timestamp{1}};
  for (const FieldValue& b : ones) {
    for (const FieldValue& h : ones) {
      EXPECT_TRUE(value_matches(b, h)) << b.value.index() << " vs " << h.value.index();
    }
  }
  EXPECT_TRUE(value_matches(std::int64_t{65535}, std::uint16_t{65535}));
  EXPECT_TRUE(value_matches(std::int16_t{-1}, std::int64_t{-1}));
  EXPECT_FALSE(value_matches(std::int16_t{-1}, std::uint16_t{65535}));
  EXPECT_TRUE(value_matches(std::uint32_t{4294967295u}, std::int64_t{4294967295}));
  EXPECT_FALSE(value_matches(std::int32_t{-1}, std::uint32_t{4294967295u}));
  EXPECT_FALSE(value_matches(std::int64_t{1}, std::int64_t{2}));
}

// RabbitMQ 3.10 (Erlang's ==): an integer equals a float or double of exactly its value.
// 2^53 + 1 does not equal the double 2^53, so the comparison is exact, not via double.
TEST(HeadersRouter, IntegersEqualFloatsExactly) {
  EXPECT_TRUE(value_matches(std::int64_t{1}, 1.0));
  EXPECT_TRUE(value_matches(1.0f, std::int8_t{1}));
  EXPECT_TRUE(value_matches(Timestamp{1}, 1.0));
  EXPECT_FALSE(value_matches(std::int64_t{1}, 1.5));
  EXPECT_TRUE(value_matches(std::int64_t{0}, -0.0));
  EXPECT_TRUE(value_matches(std::int64_t{INT64_MIN}, std::ldexp(-1.0, 63)));
  EXPECT_FALSE(value_matches(std::int64_t{INT64_MAX}, std::ldexp(1.0, 63)));
  EXPECT_TRUE(value_matches(std::ldexp(1.0, 53), std::ldexp(1.0, 53)));
  EXPECT_FALSE(value_matches(std::int64_t{(std::int64_t{1} << 53) + 1}, std::ldexp(1.0, 53)));
  EXPECT_FALSE(value_matches(std::ldexp(1.0, 53), std::int64_t{(std::int64_t{1} << 53) + 1}));
  // Beyond int64 only a timestamp can hold the value.
  EXPECT_TRUE(value_matches(Timestamp{std::uint64_t{1} << 63}, std::ldexp(1.0, 63)));
}

// RabbitMQ 3.10: float and double compare by value: 1.5f equals 1.5, but 0.1f (which is
// 0.100000001490116...) does not equal 0.1.
TEST(HeadersRouter, FloatAndDoubleCompareByValue) {
  EXPECT_TRUE(value_matches(1.5f, 1.5));
  EXPECT_TRUE(value_matches(1.5, 1.5f));
  EXPECT_FALSE(value_matches(0.1f, 0.1));
  EXPECT_TRUE(value_matches(0.1f, 0.1f));
  EXPECT_FALSE(value_matches(std::nan(""), std::nan("")));
}

// RabbitMQ 3.10: true is not 1, "1" is not 1, and a decimal equals only the same decimal
// (scale and value): 1 (scale 0) is not 1.0 (10, scale 1), nor the integer 1.
TEST(HeadersRouter, OtherTypesCompareOnlyWithTheirOwn) {
  EXPECT_TRUE(value_matches(true, true));
  EXPECT_FALSE(value_matches(true, false));
  EXPECT_FALSE(value_matches(true, std::int32_t{1}));
  EXPECT_FALSE(value_matches(std::int32_t{1}, true));
  EXPECT_FALSE(value_matches("1", std::int32_t{1}));
  EXPECT_FALSE(value_matches(std::int32_t{1}, "1"));
  EXPECT_TRUE(value_matches(Decimal{1, 10}, Decimal{1, 10}));
  EXPECT_FALSE(value_matches(Decimal{0, 1}, Decimal{1, 10}));
  EXPECT_FALSE(value_matches(Decimal{0, 1}, std::int32_t{1}));
  EXPECT_FALSE(value_matches(std::int32_t{1}, Decimal{0, 1}));
}

// RabbitMQ 3.10: a long string and a byte array with the same bytes are equal (both are
// Erlang binaries).
TEST(HeadersRouter, LongStringEqualsByteArray) {
  EXPECT_TRUE(value_matches("abc", ByteArray{"abc"}));
  EXPECT_TRUE(value_matches(ByteArray{"abc"}, "abc"));
  EXPECT_FALSE(value_matches("abc", ByteArray{"abd"}));
  EXPECT_TRUE(value_matches(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(value_matches(std::string("a\0b", 3), "a"));
}

// RabbitMQ 3.10: nested tables and arrays compare entry by entry, in order, and nested values
// must also have the same type: {a=int64 1} is not {a=int32 1}, [int64 1] is not [int32 1],
// {a=1, b=2} is not {b=2, a=1}. An empty array equals an empty table (both are []).
TEST(HeadersRouter, NestedValuesCompareWithTheirTypes) {
  EXPECT_TRUE(
      value_matches(FieldTable{{"a", std::int64_t{1}}}, FieldTable{{"a", std::int64_t{1}}}));
  EXPECT_FALSE(
      value_matches(FieldTable{{"a", std::int64_t{1}}}, FieldTable{{"a", std::int32_t{1}}}));
  EXPECT_FALSE(value_matches(FieldTable{{"a", 1.0}}, FieldTable{{"a", std::int32_t{1}}}));
  EXPECT_TRUE(value_matches(FieldArray{std::int64_t{1}}, FieldArray{std::int64_t{1}}));
  EXPECT_FALSE(value_matches(FieldArray{std::int64_t{1}}, FieldArray{std::int32_t{1}}));
  EXPECT_FALSE(value_matches(FieldTable{{"a", 1}, {"b", 2}}, FieldTable{{"b", 2}, {"a", 1}}));
  EXPECT_TRUE(value_matches(FieldArray{}, FieldTable{}));
  EXPECT_TRUE(value_matches(FieldTable{}, FieldArray{}));
  EXPECT_FALSE(value_matches(FieldArray{FieldArray{}}, FieldArray{FieldTable{}}));
  EXPECT_FALSE(value_matches(FieldArray{std::int32_t{1}}, FieldTable{{"a", 1}}));
}

// RabbitMQ 3.10 sorts the headers stably and walks them in step with the sorted binding keys,
// so with a repeated header key only the first one is compared with a binding entry:
// {k=1} matches [k=1, k=2] but not [k=2, k=1].
TEST(HeadersRouter, RepeatedHeaderKeysMatchInOrder) {
  FieldTable binding{{"k", 1}};
  EXPECT_TRUE(matches(binding, FieldTable{{"k", 1}, {"k", 2}}));
  EXPECT_FALSE(matches(binding, FieldTable{{"k", 2}, {"k", 1}}));
  EXPECT_TRUE(matches(binding, FieldTable{{"k", 1}, {"j", 1}}));
}

// RabbitMQ 3.10: each repeated binding entry consumes the next header with that key:
// [k=1, k=2] matches [k=1, k=2] only; [k=1, k=1] matches neither [k=1, k=2] nor [k=1]; with
// any, [k=3, k=2] matches [k=1, k=2] (the second entry meets the second header) but not [k=2].
TEST(HeadersRouter, RepeatedBindingKeysEachNeedAHeader) {
  FieldTable k1k2{{"k", 1}, {"k", 2}};
  FieldTable k2k1{{"k", 2}, {"k", 1}};
  EXPECT_TRUE(matches(FieldTable{{"k", 1}, {"k", 2}}, k1k2));
  EXPECT_FALSE(matches(FieldTable{{"k", 1}, {"k", 2}}, k2k1));
  EXPECT_FALSE(matches(FieldTable{{"k", 1}, {"k", 2}}, FieldTable{{"k", 1}}));
  EXPECT_FALSE(matches(FieldTable{{"k", 1}, {"k", 1}}, k1k2));
  EXPECT_FALSE(matches(FieldTable{{"k", 1}, {"k", 1}}, FieldTable{{"k", 1}}));

  FieldTable any32{{"x-match", "any"}, {"k", 3}, {"k", 2}};
  EXPECT_TRUE(matches(any32, k1k2));
  EXPECT_FALSE(matches(any32, FieldTable{{"k", 2}}));
  FieldTable any23{{"x-match", "any"}, {"k", 2}, {"k", 3}};
  EXPECT_TRUE(matches(any23, k2k1));
  EXPECT_TRUE(matches(any23, FieldTable{{"k", 2}}));
  EXPECT_FALSE(matches(any23, k1k2));
}

// RabbitMQ 3.10: with two x-match entries the first one counts.
TEST(HeadersRouter, FirstXMatchWins) {
  FieldTable any_first{{"x-match", "any"}, {"x-match", "all"}, {"a", 1}, {"b", 2}};
  FieldTable all_first{{"x-match", "all"}, {"x-match", "any"}, {"a", 1}, {"b", 2}};
  EXPECT_TRUE(matches(any_first, FieldTable{{"b", 2}}));
  EXPECT_FALSE(matches(all_first, FieldTable{{"b", 2}}));
  EXPECT_TRUE(matches(all_first, FieldTable{{"a", 1}, {"b", 2}}));
}

// RabbitMQ 3.10 refuses these at bind time (see ValidateRefusesBadXMatch); bindings that got
// past older versions are read as all, and so does the router.
TEST(HeadersRouter, UnknownXMatchReadsAsAll) {
  FieldTable binding{{"x-match", "ANY"}, {"a", 1}, {"b", 2}};
  EXPECT_FALSE(matches(binding, FieldTable{{"a", 1}}));
  EXPECT_TRUE(matches(binding, FieldTable{{"a", 1}, {"b", 2}}));
  EXPECT_FALSE(
      matches(FieldTable{{"x-match", ByteArray{"any"}}, {"a", 1}, {"b", 2}}, FieldTable{{"a", 1}}));
}

// RabbitMQ 3.10 closes the channel with 406 for an x-match that is not a long string naming
// one of the four modes: "ALL", "all ", "", a byte array "any" and the integer 1 all fail.
TEST(HeadersRouter, ValidateRefusesBadXMatch) {
  for (const char* good : {"all", "any", "all-with-x", "any-with-x"}) {
    EXPECT_TRUE(validate_headers_arguments(FieldTable{{"x-match", good}}).ok()) << good;
  }
  EXPECT_TRUE(validate_headers_arguments(kEmpty).ok());
  EXPECT_TRUE(validate_headers_arguments(FieldTable{{"a", 1}}).ok());

  auto value = validate_headers_arguments(FieldTable{{"x-match", "ALL"}});
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.error().code, make_error_code(amqp::ReplyCode::PreconditionFailed));
  EXPECT_EQ(value.error().detail,
            "Invalid x-match field value <<\"ALL\">>; expected all, any, all-with-x, or "
            "any-with-x");
  EXPECT_FALSE(validate_headers_arguments(FieldTable{{"x-match", "all "}}).ok());
  EXPECT_FALSE(validate_headers_arguments(FieldTable{{"x-match", ""}}).ok());

  auto type = validate_headers_arguments(FieldTable{{"x-match", ByteArray{"any"}}});
  ASSERT_FALSE(type.ok());
  EXPECT_EQ(type.error().detail, "Invalid x-match field type binary; expected longstr");
  auto integer = validate_headers_arguments(FieldTable{{"x-match", std::int64_t{1}}});
  ASSERT_FALSE(integer.ok());
  EXPECT_EQ(integer.error().detail, "Invalid x-match field type long; expected longstr");
}

TEST(HeadersRouter, RoutesToEveryMatchingBinding) {
  testing::Targets q;
  HeadersRouter r;
  ASSERT_TRUE(r.bind(q("all"), "", FieldTable{{"a", 1}, {"b", 2}}));
  ASSERT_TRUE(r.bind(q("any"), "", FieldTable{{"x-match", "any"}, {"a", 1}, {"b", 2}}));
  ASSERT_TRUE(r.bind(q("none"), "", FieldTable{{"c", Void{}}}));
  FieldTable a{{"a", 1}};
  FieldTable ab{{"b", 2}, {"a", 1}};
  EXPECT_EQ(routed(r, "", &a), Names{"any"});
  EXPECT_EQ(routed(r, "ignored", &ab), (Names{"all", "any"}));
}

TEST(HeadersRouter, BindRejectsDuplicate) {
  testing::Targets q;
  HeadersRouter r;
  EXPECT_TRUE(r.bind(q("a"), "", FieldTable{{"x-match", "any"}, {"a", 1}}));
  EXPECT_FALSE(r.bind(q("a"), "", FieldTable{{"a", 1}, {"x-match", "any"}}));
  EXPECT_TRUE(r.bind(q("a"), "", FieldTable{{"x-match", "any"}, {"a", std::int64_t{1}}}));
  EXPECT_EQ(r.binding_count(), 2u);
}

// RabbitMQ 3.10: the routing key plays no part in headers matching, but it is part of the
// binding's identity, so the same arguments under two keys are two bindings.
TEST(HeadersRouter, KeyDistinguishesBindings) {
  testing::Targets q;
  HeadersRouter r;
  EXPECT_TRUE(r.bind(q("a"), "k1", FieldTable{{"a", 1}}));
  EXPECT_TRUE(r.bind(q("a"), "k2", FieldTable{{"a", 1}}));
  FieldTable h{{"a", 1}};
  EXPECT_EQ(routed(r, "k1", &h), (Names{"a", "a"}));
  EXPECT_TRUE(r.unbind(q("a"), "k1", FieldTable{{"a", 1}}));
  EXPECT_EQ(routed(r, "k1", &h), Names{"a"});
}

TEST(HeadersRouter, UnbindMissingReturnsFalse) {
  testing::Targets q;
  HeadersRouter r;
  EXPECT_FALSE(r.unbind(q("a"), "", kEmpty));
  ASSERT_TRUE(r.bind(q("a"), "", FieldTable{{"a", 1}, {"b", 2}}));
  EXPECT_FALSE(r.unbind(q("a"), "", FieldTable{{"a", 1}}));
  EXPECT_FALSE(r.unbind(q("a"), "", FieldTable{{"a", 1}, {"b", std::int64_t{2}}}));
  EXPECT_FALSE(r.unbind(q("b"), "", FieldTable{{"a", 1}, {"b", 2}}));
  EXPECT_TRUE(r.unbind(q("a"), "", FieldTable{{"b", 2}, {"a", 1}}));
  EXPECT_EQ(r.binding_count(), 0u);
}

TEST(HeadersRouter, UnbindAllRemovesOnlyThatDestination) {
  testing::Targets q;
  HeadersRouter r;
  ASSERT_TRUE(r.bind(q("a"), "", kEmpty));
  ASSERT_TRUE(r.bind(q("a"), "", FieldTable{{"x", 1}}));
  ASSERT_TRUE(r.bind(q("b"), "", kEmpty));
  r.unbind_all(q("a"));
  EXPECT_EQ(r.binding_count(), 1u);
  EXPECT_EQ(routed(r, "", nullptr), Names{"b"});
}

}  // namespace
}  // namespace sluice::broker
