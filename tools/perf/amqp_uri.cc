#include "tools/perf/amqp_uri.h"

#include <charconv>
#include <stdexcept>
#include <string>

namespace sluice::perf {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) throw std::invalid_argument("bad percent escape in AMQP URI");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::uint16_t parse_port(std::string_view s) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value == 0 || value > 65535) {
    throw std::invalid_argument("bad port in AMQP URI: '" + std::string(s) + "'");
  }
  return static_cast<std::uint16_t>(value);
}

// host, [v6], host:port or [v6]:port
void parse_host_port(std::string_view s, ConnectionParams& params) {
  std::string_view host = s;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("unclosed '[' in AMQP URI");
    host = s.substr(1, close - 1);
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw std::invalid_argument("junk after ']' in AMQP URI");
      port = rest.substr(1);
    }
  } else if (const auto colon = s.rfind(':'); colon != std::string_view::npos) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (!host.empty()) params.host = std::string(host);
  if (!port.empty()) params.port = parse_port(port);
}

}  // namespace

ConnectionParams parse_amqp_uri(std::string_view uri, const ConnectionParams& defaults) {
  constexpr std::string_view kScheme = "amqp://";
  if (uri.starts_with("amqps://")) throw std::invalid_argument("amqps (TLS) is not supported");
  if (!uri.starts_with(kScheme)) throw std::invalid_argument("AMQP URI must start with amqp://");
  ConnectionParams params = defaults;
  std::string_view rest = uri.substr(kScheme.size());

  // A query string (?heartbeat=...) is accepted and ignored.
  rest = rest.substr(0, rest.find('?'));
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) params.vhost = percent_decode(rest.substr(slash + 1));

  std::string_view host_port = authority;
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    host_port = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    params.user = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos)
      params.password = percent_decode(userinfo.substr(colon + 1));
  }
  parse_host_port(host_port, params);
  return params;
}

}  // namespace sluice::perf
