// A mergeable latency histogram in microseconds: exact below 128 us, then 64 buckets per power of
// two (under 1.6% error), up to ~70 minutes. Fixed size, so worker processes can send theirs to the
// parent as text and percentiles over every subscriber come out of one merge.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace moqt::bench {

class Histogram {
 public:
  static constexpr size_t kBuckets = 128 + 26 * 64;

  void add(uint64_t us) {
    ++counts_[index(us)];
    ++count_;
    max_ = std::max(max_, us);
  }
  void merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
  }
  uint64_t count() const { return count_; }
  // In milliseconds; p in [0, 100]. 100 is the exact maximum.
  double percentile_ms(double p) const {
    if (count_ == 0) return 0;
    if (p >= 100) return double(max_) / 1000.0;
    const uint64_t rank = std::min<uint64_t>(count_ - 1, uint64_t(p / 100.0 * double(count_)));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return double(std::min<uint64_t>(middle(i), max_)) / 1000.0;
    }
    return double(max_) / 1000.0;
  }
  // "index:count,..." of the non-empty buckets, then ";max".
  std::string encode() const {
    std::string s;
    for (size_t i = 0; i < kBuckets; ++i)
      if (counts_[i]) s += std::to_string(i) + ":" + std::to_string(counts_[i]) + ",";
    return s + ";" + std::to_string(max_);
  }
  static bool decode(const std::string& s, Histogram* h) {
    size_t pos = 0;
    while (pos < s.size() && s[pos] != ';') {
      const size_t colon = s.find(':', pos), comma = s.find(',', pos);
      if (colon == std::string::npos || comma == std::string::npos || colon > comma) return false;
      const size_t i = std::stoull(s.substr(pos, colon - pos));
      const uint64_t n = std::stoull(s.substr(colon + 1, comma - colon - 1));
      if (i >= kBuckets) return false;
      h->counts_[i] += n;
      h->count_ += n;
      pos = comma + 1;
    }
    if (pos >= s.size()) return false;
    h->max_ = std::max<uint64_t>(h->max_, std::stoull(s.substr(pos + 1)));
    return true;
  }

 private:
  static size_t index(uint64_t v) {
    if (v < 128) return size_t(v);
    const int e = std::min(63 - __builtin_clzll(v), 32);  // >= 7
    const int shift = e - 6;
    return 128 + size_t(e - 7) * 64 + size_t(std::min<uint64_t>(v >> shift, 127) - 64);
  }
  static uint64_t middle(size_t i) {
    if (i < 128) return i;
    const size_t e = (i - 128) / 64 + 7, shift = e - 6;
    const uint64_t low = (uint64_t((i - 128) % 64) + 64) << shift;
    return low + (uint64_t(1) << shift) / 2;
  }

  std::vector<uint64_t> counts_ = std::vector<uint64_t>(kBuckets);
  uint64_t count_ = 0, max_ = 0;
};

}  // namespace moqt::bench
