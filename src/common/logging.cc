#include "common/logging.h"

#include <array>
#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace sluice::log {
namespace {

constexpr std::array<const char*, 7> kSubsystems = {"amqp", "net",  "broker", "store",
                                                     "server", "config", "auth"};

// Writes the message payload with JSON string escaping, for the JSON log format.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            fmt::format_to(std::back_inserter(dest), "\\u{:04x}", c);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

std::unique_ptr<spdlog::formatter> make_formatter(Format format) {
  if (format == Format::Json) {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"level":"%l","time":"%Y-%m-%dT%H:%M:%S.%fZ","logger":"%n","msg":"%*"})");
    return f;
  }
  auto f = std::make_unique<spdlog::pattern_formatter>();
  {
    f->set_pattern("%-7l %Y-%m-%d %H:%M:%S.%e %-6n %v");
  }
  return f;
}

}  // namespace

void init(spdlog::level::level_enum level, Format format) {
  // stderr keeps stdout free for tools that print results, and is unbuffered.
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(make_formatter(format));
  spdlog::drop_all();
  for (const char* name : kSubsystems) {
    auto logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::register_logger(logger);
  }
  auto fallback = std::make_shared<spdlog::logger>("sluice", sink);
  fallback->set_level(level);
  spdlog::set_default_logger(fallback);
}

std::shared_ptr<spdlog::logger> get(std::string_view subsystem) {
  auto logger = spdlog::get(std::string(subsystem));
  return logger ? logger : spdlog::default_logger();
}

bool parse_level(std::string_view text, spdlog::level::level_enum& out) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
      {"critical", spdlog::level::critical}, {"off", spdlog::level::off}};
  for (const auto& [name, level] : kLevels) {
    if (name == text) {
      out = level;
      return true;
    }
  }
  return false;
}

}  // namespace sluice::log
