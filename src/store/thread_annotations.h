#pragma once

// Clang thread-safety attributes and an annotated mutex. Under GCC the attributes expand to
// nothing; a Clang build with -Wthread-safety checks every GUARDED_BY member access.
//
// NOTE: std::mutex in libstdc++ carries no capability attribute, so annotations on it are not
// checked. Mutex below is a thin wrapper that does carry it.
// TODO: move to src/common/ once a second subsystem wants it; safe for now because only the
// store includes it.

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define SLUICE_TSA(x) __attribute__((x))
#else
#define SLUICE_TSA(x)
#endif

#define CAPABILITY(x) SLUICE_TSA(capability(x))
#define SCOPED_CAPABILITY SLUICE_TSA(scoped_lockable)
#define GUARDED_BY(x) SLUICE_TSA(guarded_by(x))
#define REQUIRES(...) SLUICE_TSA(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) SLUICE_TSA(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) SLUICE_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) SLUICE_TSA(release_capability(__VA_ARGS__))

namespace sluice::store {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { m_.lock(); }
  void unlock() RELEASE() { m_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex m_;
};

// Holds a Mutex for its scope; wait() releases it while blocked on a condition variable.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) ACQUIRE(m) : lock_(m.m_) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  template <class Predicate>
  void wait(std::condition_variable& cv, Predicate ready) {
    cv.wait(lock_, ready);
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace sluice::store
