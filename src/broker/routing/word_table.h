#pragma once

// WordTable<T>: the literal children of one topic-trie node, a hash table from a word to an
// owned T (T must have a `std::string word` member holding its key).
//
// Open addressing with linear probing and backward-shift deletion, so there are no
// tombstones. A look-up touches the slot array, then the one candidate node, whose word it
// compares; the node is where routing goes next anyway. The word's hash is passed in, so
// route() hashes each routing-key word once however many nodes look it up. This replaced a
// single std::unordered_map keyed by (parent, word) for the whole trie, whose chained buckets
// cost two extra cache misses per look-up: with 100,000 bindings route() was five times slower
// (2.9 us against 0.58 us in bench/topic_routing_bench.cc).
// Not thread-safe; owned by its node.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

namespace sluice::broker {

template <class T>
class WordTable {
 public:
  static std::size_t hash_of(std::string_view word) { return std::hash<std::string_view>{}(word); }

  T* find(std::string_view word, std::size_t hash) const {
    if (size_ == 0) return nullptr;
    for (std::size_t i = hash & mask(); slots_[i].value; i = (i + 1) & mask()) {
      if (slots_[i].hash == hash && slots_[i].value->word == word) return slots_[i].value.get();
    }
    return nullptr;
  }

  // REQUIRES: no entry has value->word, and later look-ups of the word pass the same hash
  // (in practice always hash_of(value->word)).
  T* insert(std::size_t hash, std::unique_ptr<T> value) {
    // Keep the load at or below one half, so probes stay short.
    if (2 * (size_ + 1) > capacity_) rehash(capacity_ == 0 ? 2 : 2 * capacity_);
    T* raw = value.get();
    place(Slot{hash, std::move(value)});
    ++size_;
    return raw;
  }

  // Destroys the entry for `word`; returns false if there is none.
  bool erase(std::string_view word, std::size_t hash) {
    if (size_ == 0) return false;
    std::size_t i = hash & mask();
    while (slots_[i].value && !(slots_[i].hash == hash && slots_[i].value->word == word)) {
      i = (i + 1) & mask();
    }
    if (!slots_[i].value) return false;

    slots_[i].value.reset();
    close_gap(i);
    --size_;
    // Shrink when mostly empty, so a node that once had many children gives the memory back.
    if (capacity_ > 2 && 8 * size_ < capacity_) rehash(capacity_ / 2);
    return true;
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  struct Slot {
    std::size_t hash = 0;
    std::unique_ptr<T> value;  // null: the slot is free
  };

  std::size_t mask() const { return capacity_ - 1; }

  void place(Slot slot) {
    std::size_t i = slot.hash & mask();
    while (slots_[i].value) i = (i + 1) & mask();
    slots_[i] = std::move(slot);
  }

  // Backward-shift deletion: pull later entries of the probe run into the free slot `gap`
  // unless that would move one in front of its home slot.
  void close_gap(std::size_t gap) {
    for (std::size_t j = (gap + 1) & mask(); slots_[j].value; j = (j + 1) & mask()) {
      std::size_t home = slots_[j].hash & mask();
      bool home_in_gap_to_j = gap <= j ? (gap < home && home <= j) : (gap < home || home <= j);
      if (home_in_gap_to_j) continue;
      slots_[gap] = std::move(slots_[j]);
      gap = j;
    }
  }

  void rehash(std::size_t capacity) {
    std::unique_ptr<Slot[]> old = std::move(slots_);
    std::size_t old_capacity = capacity_;
    slots_ = std::make_unique<Slot[]>(capacity);
    capacity_ = capacity;
    for (std::size_t i = 0; i < old_capacity; ++i) {
      if (old[i].value) place(std::move(old[i]));
    }
  }

  std::unique_ptr<Slot[]> slots_;
  std::size_t capacity_ = 0;  // zero or a power of two
  std::size_t size_ = 0;
};

}  // namespace sluice::broker
