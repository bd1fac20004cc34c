#include "amqp/sasl.h"

#include <fmt/format.h>

#include "amqp/field_table.h"
#include "amqp/reply_code.h"

namespace sluice::amqp {
namespace {

Result<Credentials> parse_plain(std::string_view response) {
  // authzid NUL authcid NUL passwd; we ignore the authorisation identity, as RabbitMQ does.
  const auto first = response.find('\0');
  const auto second = first == std::string_view::npos ? first : response.find('\0', first + 1);
  if (second == std::string_view::npos) {
    return amqp_error(ReplyCode::AccessRefused, "malformed PLAIN response");
  }
  return Credentials{std::string(response.substr(first + 1, second - first - 1)),
                     std::string(response.substr(second + 1))};
}

Result<Credentials> parse_amqplain(std::string_view response) {
  Bytes framed;
  ByteWriter w(framed);
  w.u32(static_cast<std::uint32_t>(response.size()));
  w.bytes(response);
  ByteReader r(framed);
  FieldTable table;
  if (!decode_table(r, table)) {
    return amqp_error(ReplyCode::AccessRefused, "malformed AMQPLAIN response");
  }
  auto login = table_string(table, "LOGIN");
  auto password = table_string(table, "PASSWORD");
  if (!login || !password) {
    return amqp_error(ReplyCode::AccessRefused, "AMQPLAIN response lacks LOGIN or PASSWORD");
  }
  return Credentials{std::string(*login), std::string(*password)};
}

}  // namespace

Result<Credentials> parse_sasl_response(std::string_view mechanism, std::string_view response) {
  if (mechanism == "PLAIN") return parse_plain(response);
  if (mechanism == "AMQPLAIN") return parse_amqplain(response);
  return amqp_error(ReplyCode::CommandInvalid,
                    fmt::format("unknown authentication mechanism '{}'", mechanism));
}

}  // namespace sluice::amqp
