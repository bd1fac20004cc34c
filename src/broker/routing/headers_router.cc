#include "broker/routing/headers_router.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>

#include "amqp/reply_code.h"

namespace sluice::broker {
namespace {

// Every AMQP integer (uint64 timestamps included) and every float converts to long double
// without rounding here, so one comparison gives Erlang's exact int/float equality: 1 == 1.0,
// but 2^53 + 1 != 2^53 as a double (RabbitMQ 3.10 agrees on both).
static_assert(std::numeric_limits<long double>::digits >= 64,
              "header matching needs a long double that holds any 64-bit integer exactly");

std::optional<long double> numeric_value(const amqp::FieldValue& v) {
  return std::visit(
      [](const auto& x) -> std::optional<long double> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          return std::nullopt;  // in Erlang, true is an atom, not 1
        } else if constexpr (std::is_arithmetic_v<T>) {
          return static_cast<long double>(x);
        } else if constexpr (std::is_same_v<T, amqp::Timestamp>) {
          return static_cast<long double>(x.seconds);
        } else {
          return std::nullopt;
        }
      },
      v.value);
}

// Long strings and byte arrays both decode to Erlang binaries.
std::optional<std::string_view> binary_value(const amqp::FieldValue& v) {
  if (const auto* s = std::get_if<std::string>(&v.value)) return *s;
  if (const auto* b = std::get_if<amqp::ByteArray>(&v.value)) return b->bytes;
  return std::nullopt;
}

// Tables and arrays both decode to Erlang lists, so two empty ones are equal whatever their
// types (RabbitMQ 3.10: a binding value [] matches a header {}). Non-empty ones differ, since
// their elements have different shapes.
std::optional<bool> list_is_empty(const amqp::FieldValue& v) {
  if (const auto* t = std::get_if<amqp::FieldTable>(&v.value)) return t->empty();
  if (const auto* a = std::get_if<amqp::FieldArray>(&v.value)) return a->empty();
  return std::nullopt;
}

bool is_void(const amqp::FieldValue& v) { return std::holds_alternative<amqp::Void>(v.value); }

bool with_x(XMatch mode) { return mode == XMatch::AllWithX || mode == XMatch::AnyWithX; }

bool needs_all(XMatch mode) { return mode == XMatch::All || mode == XMatch::AllWithX; }

std::optional<XMatch> parse_x_match(std::string_view s) {
  if (s == "all") return XMatch::All;
  if (s == "any") return XMatch::Any;
  if (s == "all-with-x") return XMatch::AllWithX;
  if (s == "any-with-x") return XMatch::AnyWithX;
  return std::nullopt;
}

// RabbitMQ's names for the field types, as its error messages print them.
std::string_view erlang_type_name(const amqp::FieldValue& v) {
  static constexpr std::string_view kNames[] = {
      "void",      "bool",        "byte",      "unsignedbyte", "short",  "unsignedshort",
      "signedint", "unsignedint", "long",      "float",        "double", "decimal",
      "longstr",   "binary",      "timestamp", "array",        "table"};
  static_assert(std::size(kNames) == std::variant_size_v<amqp::FieldValue::Variant>);
  return kNames[v.value.index()];
}

}  // namespace

Result<void> validate_headers_arguments(const amqp::FieldTable& arguments) {
  const amqp::FieldValue* x_match = amqp::table_find(arguments, "x-match");
  if (x_match == nullptr) return ok();  // RabbitMQ allows leaving it out: all
  const auto* s = std::get_if<std::string>(&x_match->value);
  if (s == nullptr) {
    return amqp::amqp_error(amqp::ReplyCode::PreconditionFailed,
                            "Invalid x-match field type " +
                                std::string(erlang_type_name(*x_match)) + "; expected longstr");
  }
  if (!parse_x_match(*s)) {
    return amqp::amqp_error(amqp::ReplyCode::PreconditionFailed,
                            "Invalid x-match field value <<\"" + *s +
                                "\">>; expected all, any, all-with-x, or any-with-x");
  }
  return ok();
}

bool header_values_equal(const amqp::FieldValue& binding, const amqp::FieldValue& header) {
  if (auto b = numeric_value(binding)) {
    auto h = numeric_value(header);
    return h && *b == *h;
  }
  if (auto b = binary_value(binding)) {
    auto h = binary_value(header);
    return h && *b == *h;
  }
  if (binding.value.index() != header.value.index()) {
    auto b = list_is_empty(binding);
    auto h = list_is_empty(header);
    return b && h && *b && *h;
  }
  // Same type: bool, decimal, void, or a table or array compared element by element. Inside
  // those, Erlang compares (type, value) pairs, so nested values must have the same type,
  // which is what FieldValue's own equality checks.
  return binding == header;
}

bool HeadersRouter::bind(BindingTarget* destination, std::string_view key,
                         const amqp::FieldTable& arguments) {
  amqp::FieldTable canonical = canonical_arguments(arguments);
  Pattern pattern = make_pattern(canonical);
  return bindings_.insert(destination, key, std::move(canonical), std::move(pattern)) != nullptr;
}

bool HeadersRouter::unbind(BindingTarget* destination, std::string_view key,
                           const amqp::FieldTable& arguments) {
  return bindings_.erase(destination, key, canonical_arguments(arguments));
}

void HeadersRouter::unbind_all(BindingTarget* destination) { bindings_.erase_all(destination); }

void HeadersRouter::route(std::string_view /*routing_key*/, const amqp::FieldTable* headers,
                          std::vector<BindingTarget*>& out) const {
  if (bindings_.empty()) return;

  // Matching merges two key-sorted lists, as RabbitMQ does; sort the headers once per message.
  // The sort is stable, like Erlang's keysort, which decides how repeated keys match.
  std::vector<const Header*> sorted;
  if (headers != nullptr) {
    sorted.reserve(headers->size());
    for (const Header& h : *headers) sorted.push_back(&h);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Header* a, const Header* b) { return a->first < b->first; });
  }

  for (const Bindings::Entry& binding : bindings_.entries()) {
    if (matches(binding, sorted)) out.push_back(binding.destination);
  }
}

HeadersRouter::Pattern HeadersRouter::make_pattern(const amqp::FieldTable& canonical) {
  Pattern pattern;
  const amqp::FieldValue* x_match = amqp::table_find(canonical, "x-match");
  const auto* s = x_match != nullptr ? std::get_if<std::string>(&x_match->value) : nullptr;
  // An unknown or mistyped x-match means all: RabbitMQ's reading of unvalidated old bindings.
  pattern.mode = (s != nullptr ? parse_x_match(*s) : std::nullopt).value_or(XMatch::All);

  for (std::size_t i = 0; i < canonical.size(); ++i) {
    std::string_view key = canonical[i].first;
    if (key == "x-match") continue;
    if (!with_x(pattern.mode) && key.starts_with("x-")) continue;
    pattern.keys.push_back(static_cast<std::uint32_t>(i));
  }
  return pattern;
}

// RabbitMQ's merge of the sorted binding keys with the sorted headers, step for step, so that
// repeated keys on either side match as they do there: each binding entry consumes at most one
// header with its key, in order. RabbitMQ 3.10: binding {k=1} matches headers [k=1, k=2] but
// not [k=2, k=1].
bool HeadersRouter::matches(const Bindings::Entry& binding,
                            const std::vector<const Header*>& sorted) {
  const bool want_all = needs_all(binding.extra.mode);
  bool all = true;
  bool any = false;
  std::size_t j = 0;

  for (std::uint32_t position : binding.extra.keys) {
    const auto& [key, value] = binding.arguments[position];
    while (j < sorted.size() && sorted[j]->first < key) ++j;

    if (j == sorted.size() || key < sorted[j]->first) {
      all = false;  // the key is missing
    } else {
      const amqp::FieldValue& header = sorted[j++]->second;
      bool hit = is_void(value) || header_values_equal(value, header);
      all = all && hit;
      any = any || hit;
    }

    if (want_all && !all) return false;
    if (!want_all && any) return true;
  }
  return want_all ? all : any;
}

}  // namespace sluice::broker
