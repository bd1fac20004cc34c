// sluice: the broker daemon. Parses configuration, starts the server, waits for SIGINT or
// SIGTERM, shuts down cleanly. Exit codes: 0 clean, 1 start-up failure, 2 bad configuration.

#include <csignal>
#include <cstdio>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include "common/logging.h"
#include "config/config.h"
#include "server/server.h"

namespace {

constexpr int kExitStartupFailure = 1;
constexpr int kExitBadConfig = 2;

}  // namespace

int main(int argc, char** argv) {
  using namespace sluice;

  config::LoadResult loaded;
  try {
    loaded = config::load(argc, argv);
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "sluice: configuration error: %s\n", e.what());
    return kExitBadConfig;
  }
  if (loaded.action == config::Action::ExitSuccess) {
    std::fputs(loaded.output.c_str(), stdout);
    return 0;
  }

  log::init(loaded.config.log_level, loaded.config.log_format);
  auto logger = log::get("server");

  // Install the handlers before any thread starts, so no signal meets its default action.
  asio::io_context signals_loop(1);
  asio::signal_set signals(signals_loop, SIGINT, SIGTERM);
  std::signal(SIGPIPE, SIG_IGN);

  server::Server server(std::move(loaded.config));
  if (auto started = server.start(); !started) {
    logger->error("start-up failed: {}", started.error().detail);
    return kExitStartupFailure;
  }

  signals.async_wait([&](const std::error_code& ec, int signal) {
    if (!ec) logger->info("received {}, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
  });
  signals_loop.run();
  server.stop();
  return 0;
}
