#include "server/resource_monitor.h"

#include <malloc.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>

#include "amqp/connection.h"
#include "common/logging.h"

namespace sluice::server {
namespace {

std::uint64_t resident_bytes() {
  // /proc/self/statm: size resident shared text lib data dt, in pages.
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0;
  unsigned long long resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

// Free space for unprivileged writers, which is what the broker's files may use.
std::uint64_t free_disk_bytes(const std::string& path, bool& ok) {
  struct statvfs st {};
  ok = ::statvfs(path.c_str(), &st) == 0;
  return ok ? static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize : 0;
}

}  // namespace

ResourceMonitor::ResourceMonitor(asio::io_context& loop, broker::Broker& broker,
                                 amqp::ConnectionRegistry& registry, std::string data_dir,
                                 std::uint64_t memory_limit, std::uint64_t disk_free_limit)
    : timer_(loop),
      broker_(broker),
      registry_(registry),
      data_dir_(std::move(data_dir)),
      memory_limit_(memory_limit),
      disk_free_limit_(disk_free_limit) {}

std::uint64_t ResourceMonitor::memory_limit_from_fraction(double fraction) {
  const auto pages = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES));
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return static_cast<std::uint64_t>(static_cast<double>(pages * page) * fraction);
}

void ResourceMonitor::start() {
  check();
  schedule();
}

void ResourceMonitor::stop() { timer_.cancel(); }

void ResourceMonitor::schedule() {
  timer_.expires_after(kInterval);
  timer_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    check();
    schedule();
  });
}

void ResourceMonitor::check() {
  auto log = log::get("server");
  broker_.retry_stalled_queues();  // rides on this timer: a stalled read is rare
  // Under the alarm, hand memory freed by consumers back to the system first, so that the
  // alarm clears when the backlog drains, not when the allocator happens to shrink.
  if (memory_alarm_) ::malloc_trim(0);
  const std::uint64_t used = resident_bytes();
  const bool memory = memory_limit_ != 0 && used > memory_limit_;
  if (memory != memory_alarm_) {
    memory_alarm_ = memory;
    if (memory) {
      log->warn("memory alarm set: resident={} limit={}; blocking publishers", used,
                memory_limit_);
    } else {
      log->info("memory alarm cleared: resident={} limit={}", used, memory_limit_);
    }
  }

  bool measured = false;
  const std::uint64_t free = free_disk_bytes(data_dir_, measured);
  const bool disk = measured && free < disk_free_limit_;
  if (disk != disk_alarm_) {
    disk_alarm_ = disk;
    if (disk) {
      log->warn("disk alarm set: free={} limit={} dir={}; blocking publishers", free,
                disk_free_limit_, data_dir_);
    } else {
      log->info("disk alarm cleared: free={} limit={}", free, disk_free_limit_);
    }
  }

  const char* reason = memory ? "low on memory" : disk ? "low on disk space" : "";
  const bool was = broker_.resource_alarm();
  broker_.set_resource_alarm(reason);
  if (was && !broker_.resource_alarm()) {
    for (auto& c : registry_.snapshot()) c->resume_publishing();
  }
}

}  // namespace sluice::server
