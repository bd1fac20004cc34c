#pragma once

// The broker's configuration: one plain struct, filled from a TOML file, then SLUICE_*
// environment variables, then command-line flags (later sources win).
//
// Loading happens once at start-up, before any thread exists, and may throw ConfigError; the
// caller prints the message and exits. Every setting is described once, in config.cc's table,
// which drives the TOML keys, environment variables, flags and --help text alike.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/common.h>

#include "common/logging.h"

namespace sluice::config {

struct Config {
  std::string config_file;  // empty when none was given
  std::string data_dir = "sluice-data";

  // Listeners.
  std::string bind = "0.0.0.0";
  std::uint16_t amqp_port = 5672;
  std::uint16_t http_port = 15672;

  // AMQP limits offered in connection.tune, and the handshake deadline.
  std::uint32_t heartbeat = 60;         // seconds, 0 disables
  std::uint32_t frame_max = 131072;     // bytes, whole frame
  std::uint32_t channel_max = 2047;
  std::uint32_t handshake_timeout = 10;  // seconds
  std::uint64_t max_message_size = 128ull << 20;

  // Resource alarms (as RabbitMQ 4): past either, publishing connections are blocked.
  double memory_high_watermark = 0.6;    // fraction of physical memory
  std::uint64_t memory_limit = 0;        // absolute bytes; overrides the fraction when set
  std::uint64_t disk_free_limit = 50'000'000;  // bytes free on the data directory's disk
  // Ready messages a queue keeps in memory; later ones are paged out to the message log.
  std::uint64_t queue_resident_messages = 10000;

  // Default identity, until users and permissions have their own store.
  std::string default_user = "guest";
  std::string default_pass = "guest";

  // Process.
  spdlog::level::level_enum log_level = spdlog::level::info;
  log::Format log_format = log::Format::Text;
};

// A configuration problem; what() names the source, the setting and what is wrong with it.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the command line asked for besides a configuration.
enum class Action { Run, ExitSuccess };

struct LoadResult {
  Action action = Action::Run;
  Config config;
  std::string output;  // --help or --version text when action is ExitSuccess
};

// Parses argv and the environment (envp-style lookup through getenv) and reads the TOML file
// named by --config or SLUICE_CONFIG. Throws ConfigError.
LoadResult load(int argc, const char* const* argv);

// Human-readable one-line summary of the limits in force, for the start-up log.
std::string describe_limits(const Config& config);

}  // namespace sluice::config
