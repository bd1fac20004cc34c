#include "config/config.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

namespace sluice::config {
namespace {

// Parses one textual value into the config. `source` names where the value came from
// ("flag --amqp-port", "SLUICE_AMQP_PORT", "sluice.toml: amqp.port") for error messages.
using Apply = std::function<void(Config&, const std::string& text, const std::string& source)>;

enum class Kind { String, Integer, Float };

struct Setting {
  std::string section;  // TOML table, "" for the top level
  std::string key;
  std::string env;
  std::string flag;  // "" when the setting has no flag (secrets)
  std::string help;
  Kind kind;
  Apply apply;

  std::string path() const { return section.empty() ? key : section + "." + key; }
};

[[noreturn]] void fail(const std::string& source, const std::string& problem) {
  throw ConfigError(fmt::format("{}: {}", source, problem));
}

std::uint64_t parse_uint(const std::string& text, std::uint64_t min, std::uint64_t max,
                         const std::string& source) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    fail(source, fmt::format("expected an integer from {} to {}, got '{}'", min, max, text));
  }
  return value;
}

template <class T>
Apply uint_field(T Config::*field, std::uint64_t min, std::uint64_t max) {
  return [=](Config& c, const std::string& text, const std::string& source) {
    c.*field = static_cast<T>(parse_uint(text, min, max, source));
  };
}

Apply fraction_field(double Config::*field) {
  return [=](Config& c, const std::string& text, const std::string& source) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !(value > 0 && value <= 1)) {
      fail(source, fmt::format("expected a fraction above 0 and at most 1, got '{}'", text));
    }
    c.*field = value;
  };
}

Apply string_field(std::string Config::*field) {
  return [=](Config& c, const std::string& text, const std::string& source) {
    if (text.empty()) fail(source, "must not be empty");
    c.*field = text;
  };
}

void apply_bind(Config& c, const std::string& text, const std::string& source) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) != 1 && inet_pton(AF_INET6, text.c_str(), buf) != 1) {
    fail(source, fmt::format("'{}' is not an IPv4 or IPv6 address", text));
  }
  c.bind = text;
}

void apply_log_level(Config& c, const std::string& text, const std::string& source) {
  if (!log::parse_level(text, c.log_level)) {
    fail(source, fmt::format("unknown log level '{}' (trace, debug, info, warn, error)", text));
  }
}

void apply_log_format(Config& c, const std::string& text, const std::string& source) {
  if (text == "text") {
    c.log_format = log::Format::Text;
  } else if (text == "json") {
    c.log_format = log::Format::Json;
  } else {
    fail(source, fmt::format("unknown log format '{}' (text, json)", text));
  }
}

constexpr std::uint64_t kMaxPort = 65535;
constexpr std::uint64_t kMaxShort = 65535;
constexpr std::uint64_t kMaxMessageSize = 512ull << 20;  // RabbitMQ's hard ceiling

// Every setting, once. Order is the order of --help.
const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      {"", "data_dir", "SLUICE_DATA_DIR", "--data-dir", "Directory for the broker's data",
       Kind::String, string_field(&Config::data_dir)},
      {"amqp", "bind", "SLUICE_BIND", "--bind", "Address the listeners bind to",
       Kind::String, apply_bind},
      {"amqp", "port", "SLUICE_AMQP_PORT", "--amqp-port", "AMQP 0-9-1 port", Kind::Integer,
       uint_field(&Config::amqp_port, 1, kMaxPort)},
      {"http", "port", "SLUICE_HTTP_PORT", "--http-port", "Management HTTP port", Kind::Integer,
       uint_field(&Config::http_port, 1, kMaxPort)},
      {"amqp", "heartbeat", "SLUICE_HEARTBEAT", "--heartbeat",
       "Heartbeat interval offered to clients, seconds (0 disables)", Kind::Integer,
       uint_field(&Config::heartbeat, 0, kMaxShort)},
      {"amqp", "frame_max", "SLUICE_FRAME_MAX", "--frame-max", "Largest frame, bytes",
       Kind::Integer, uint_field(&Config::frame_max, 4096, 1u << 30)},
      {"amqp", "channel_max", "SLUICE_CHANNEL_MAX", "--channel-max",
       "Most channels per connection", Kind::Integer,
       uint_field(&Config::channel_max, 1, kMaxShort)},
      {"amqp", "handshake_timeout", "SLUICE_HANDSHAKE_TIMEOUT", "--handshake-timeout",
       "Seconds a client has to finish the AMQP handshake", Kind::Integer,
       uint_field(&Config::handshake_timeout, 1, 3600)},
      {"amqp", "max_message_size", "SLUICE_MAX_MESSAGE_SIZE", "--max-message-size",
       "Largest message body accepted, bytes", Kind::Integer,
       uint_field(&Config::max_message_size, 1, kMaxMessageSize)},
      {"limits", "memory_high_watermark", "SLUICE_MEMORY_HIGH_WATERMARK",
       "--memory-high-watermark", "Block publishers above this fraction of RAM", Kind::Float,
       fraction_field(&Config::memory_high_watermark)},
      {"limits", "memory_limit", "SLUICE_MEMORY_LIMIT", "--memory-limit",
       "Block publishers above this many bytes of memory (overrides the fraction)",
       Kind::Integer, uint_field(&Config::memory_limit, 0, ~0ull)},
      {"limits", "disk_free_limit", "SLUICE_DISK_FREE_LIMIT", "--disk-free-limit",
       "Block publishers when less disk than this is free, bytes", Kind::Integer,
       uint_field(&Config::disk_free_limit, 0, ~0ull)},
      {"limits", "queue_resident_messages", "SLUICE_QUEUE_RESIDENT_MESSAGES",
       "--queue-resident-messages",
       "Ready messages a queue keeps in memory; the rest are paged out to disk",
       Kind::Integer, uint_field(&Config::queue_resident_messages, 1, ~0ull)},
      {"auth", "default_user", "SLUICE_DEFAULT_USER", "", "", Kind::String,
       string_field(&Config::default_user)},
      {"auth", "default_pass", "SLUICE_DEFAULT_PASS", "", "", Kind::String,
       string_field(&Config::default_pass)},
      {"log", "level", "SLUICE_LOG_LEVEL", "--log-level",
       "trace, debug, info, warn or error", Kind::String, apply_log_level},
      {"log", "format", "SLUICE_LOG_FORMAT", "--log-format", "text or json", Kind::String,
       apply_log_format},
  };
  return table;
}

const Setting* find_setting(const std::string& section, const std::string& key) {
  for (const auto& s : settings()) {
    if (s.section == section && s.key == key) return &s;
  }
  return nullptr;
}

// Converts a TOML value to the text form the setting parses, refusing the wrong type.
std::string toml_text(const Setting& s, const toml::node& node, const std::string& source) {
  if (s.kind == Kind::Integer) {
    if (auto v = node.value<std::int64_t>(); v && node.is_integer()) {
      if (*v < 0) fail(source, fmt::format("must not be negative, got {}", *v));
      return std::to_string(*v);
    }
    fail(source, "expected an integer");
  }
  if (s.kind == Kind::Float) {
    if (auto v = node.value<double>(); v && (node.is_floating_point() || node.is_integer())) {
      return fmt::format("{}", *v);
    }
    fail(source, "expected a number");
  }
  if (auto v = node.value<std::string>(); v && node.is_string()) return *v;
  fail(source, "expected a string");
}

void apply_toml_entry(Config& c, const std::string& file, const std::string& section,
                      const std::string& key, const toml::node& node) {
  const std::string path = section.empty() ? key : section + "." + key;
  const Setting* s = find_setting(section, key);
  if (s == nullptr) fail(file, fmt::format("unknown setting '{}'", path));
  const std::string source = fmt::format("{}: {}", file, path);
  s->apply(c, toml_text(*s, node, source), source);
}

void apply_toml_file(Config& c, const std::string& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw ConfigError(fmt::format("cannot read config file {}: {}", file,
                                  std::filesystem::exists(file, ec) ? "not a regular file"
                                                                    : "no such file"));
  }
  toml::table root;
  try {
    root = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw ConfigError(fmt::format("cannot read config file {}: {} (line {}, column {})", file,
                                  e.description(), where.line, where.column));
  }
  for (const auto& [key, node] : root) {
    const std::string k(key.str());
    if (const auto* table = node.as_table()) {
      for (const auto& [sub_key, sub_node] : *table) {
        apply_toml_entry(c, file, k, std::string(sub_key.str()), sub_node);
      }
    } else {
      apply_toml_entry(c, file, "", k, node);
    }
  }
}

void apply_environment(Config& c) {
  for (const auto& s : settings()) {
    if (const char* v = std::getenv(s.env.c_str()); v != nullptr) {
      s.apply(c, v, "environment variable " + s.env);
    }
  }
}

}  // namespace

LoadResult load(int argc, const char* const* argv) {
  CLI::App app{"Sluice: an AMQP 0-9-1 message broker", "sluice"};
  app.get_formatter()->column_width(36);
  std::string config_file;
  bool version = false;
  app.add_option("--config", config_file, "TOML configuration file (also SLUICE_CONFIG)");
  app.add_flag("--version", version, "Print the version and exit");
  std::map<std::string, std::string> flag_values;
  std::vector<std::pair<const Setting*, CLI::Option*>> flags;
  for (const auto& s : settings()) {
    if (s.flag.empty()) continue;
    flags.emplace_back(&s, app.add_option(s.flag, flag_values[s.flag], s.help));
  }

  LoadResult result;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    result.action = Action::ExitSuccess;
    result.output = app.help();
    return result;
  } catch (const CLI::ParseError& e) {
    throw ConfigError(fmt::format("command line: {} (see --help)", e.what()));
  }
  if (version) {
    result.action = Action::ExitSuccess;
#ifdef SLUICE_SANITIZED
    result.output = "sluice " SLUICE_VERSION " (built with AddressSanitizer)\n";
#else
    result.output = "sluice " SLUICE_VERSION "\n";
#endif
    return result;
  }

  // Lowest precedence first: file, then environment, then flags.
  Config& c = result.config;
  if (config_file.empty()) {
    if (const char* env = std::getenv("SLUICE_CONFIG"); env != nullptr) config_file = env;
  }
  if (!config_file.empty()) {
    apply_toml_file(c, config_file);
    c.config_file = config_file;
  }
  apply_environment(c);
  for (const auto& [setting, option] : flags) {
    if (option->count() > 0) {
      setting->apply(c, flag_values[setting->flag], "flag " + setting->flag);
    }
  }
  return result;
}

std::string describe_limits(const Config& c) {
  const std::string memory = c.memory_limit != 0
                                 ? fmt::format("memory_limit={}", c.memory_limit)
                                 : fmt::format("memory_high_watermark={}", c.memory_high_watermark);
  return fmt::format(
      "heartbeat={}s frame_max={} channel_max={} handshake_timeout={}s max_message_size={} {} "
      "disk_free_limit={}",
      c.heartbeat, c.frame_max, c.channel_max, c.handshake_timeout, c.max_message_size, memory,
      c.disk_free_limit);
}

}  // namespace sluice::config
