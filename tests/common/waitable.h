// Test state written by loop-thread callbacks and awaited by the test thread: `set` changes it
// under the lock and wakes waiters; `wait` blocks until a predicate holds or the time is up.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace moqt::test {

struct Waitable {
  std::mutex mu;
  std::condition_variable cv;
  template <typename F>
  void set(F f) {
    std::lock_guard<std::mutex> l(mu);
    f();
    cv.notify_all();
  }
  template <typename P>
  bool wait(P p, std::chrono::milliseconds t = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, t, p);
  }
};

}  // namespace moqt::test
