#pragma once

// Logging setup: one named spdlog logger per subsystem, sharing one sink.
//
// Lines are "LEVEL time logger message" by default, or one JSON object per line with
// LogFormat::Json. Messages put their fixed context first (conn=, ch=, vhost=, queue=) and
// write values as key=value. Never log payloads or credentials.

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace sluice::log {

enum class Format { Text, Json };

// Creates the subsystem loggers. Call once at start-up, before any other thread exists.
void init(spdlog::level::level_enum level, Format format);

// Returns the logger for a subsystem ("amqp", "net", "broker", "store", "server", "config").
// Falls back to the default logger before init(), so unit tests need no set-up.
std::shared_ptr<spdlog::logger> get(std::string_view subsystem);

// Parses "trace", "debug", "info", "warn"/"warning", "error", "critical", "off".
bool parse_level(std::string_view text, spdlog::level::level_enum& out);

}  // namespace sluice::log
