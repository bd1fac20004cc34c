#pragma once

// BindingList: the bindings that share one place in a router (one direct key, one topic-trie
// node, or all of a fanout or headers exchange), kept in a flat vector so route() walks
// contiguous memory.
//
// A binding is identified, as in RabbitMQ, by (destination, key, arguments). Arguments are
// compared in canonical form (see canonical_arguments()). Lists that imply the key (direct,
// topic) store an empty key.
//
// Small lists find a binding by scanning. Once a list holds more than kIndexAbove bindings it
// also keeps, per destination, the positions of that destination's bindings, so bind, unbind
// and unbind_all stay O(1) amortised (plus the destination's own bindings) even when thousands
// of queues bind the same key. Not thread-safe; owned by its router.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "amqp/field_table.h"
#include "broker/routing/router.h"

namespace sluice::broker {

// RabbitMQ sorts binding arguments by key (a stable sort, top level only) before storing or
// comparing them, so {a=1, b=2} and {b=2, a=1} are the same binding; a table with a repeated
// key keeps those entries in wire order. RabbitMQ 3.10: binding twice with the two orders
// lists one binding, and unbinding with either order removes it.
amqp::FieldTable canonical_arguments(const amqp::FieldTable& arguments);

struct NoExtra {};

template <class Extra = NoExtra>
class BindingList {
 public:
  struct Entry {
    BindingTarget* destination;
    std::string key;
    amqp::FieldTable arguments;  // canonical
    Extra extra;
  };

  // Adds a binding unless it exists. Returns the new entry (valid until the next change), or
  // null if it was a duplicate. REQUIRES: `arguments` is canonical.
  Entry* insert(BindingTarget* destination, std::string_view key, amqp::FieldTable arguments,
                Extra extra = {});
  // Returns false if there was no such binding. REQUIRES: `arguments` is canonical.
  bool erase(BindingTarget* destination, std::string_view key, const amqp::FieldTable& arguments);
  // Removes every binding to `destination`; returns how many there were.
  std::size_t erase_all(BindingTarget* destination);

  const std::vector<Entry>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  void append_destinations(std::vector<BindingTarget*>& out) const {
    for (const Entry& e : entries_) out.push_back(e.destination);
  }

 private:
  static constexpr std::size_t kIndexAbove = 16;
  static constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);
  using Positions = std::vector<std::uint32_t>;

  std::size_t find(BindingTarget* destination, std::string_view key,
                   const amqp::FieldTable& arguments) const;
  bool same(const Entry& e, BindingTarget* destination, std::string_view key,
            const amqp::FieldTable& arguments) const {
    return e.destination == destination && e.key == key && e.arguments == arguments;
  }
  void erase_at(std::size_t i);
  void build_index();

  std::vector<Entry> entries_;
  // Only while the list is long; see the class comment. Behind a pointer because most lists
  // (one per direct key or topic-trie node) never need it.
  std::unique_ptr<std::unordered_map<BindingTarget*, Positions>> index_;
};

template <class Extra>
auto BindingList<Extra>::insert(BindingTarget* destination, std::string_view key,
                                amqp::FieldTable arguments, Extra extra) -> Entry* {
  if (find(destination, key, arguments) != kNotFound) return nullptr;

  entries_.push_back(Entry{destination, std::string(key), std::move(arguments), std::move(extra)});
  if (index_) {
    (*index_)[destination].push_back(static_cast<std::uint32_t>(entries_.size() - 1));
  } else if (entries_.size() > kIndexAbove) {
    build_index();
  }
  return &entries_.back();
}

template <class Extra>
bool BindingList<Extra>::erase(BindingTarget* destination, std::string_view key,
                               const amqp::FieldTable& arguments) {
  std::size_t i = find(destination, key, arguments);
  if (i == kNotFound) return false;
  erase_at(i);
  return true;
}

template <class Extra>
std::size_t BindingList<Extra>::erase_all(BindingTarget* destination) {
  if (!index_) {
    auto it = std::remove_if(entries_.begin(), entries_.end(),
                             [&](const Entry& e) { return e.destination == destination; });
    std::size_t removed = static_cast<std::size_t>(entries_.end() - it);
    entries_.erase(it, entries_.end());
    return removed;
  }

  auto it = index_->find(destination);
  if (it == index_->end()) return 0;
  // Highest position first: erase_at() moves the last entry into the hole, and by then the
  // last entry can no longer be one of this destination's.
  Positions mine = std::move(it->second);
  index_->erase(it);
  std::sort(mine.begin(), mine.end(), std::greater<>());
  for (std::uint32_t i : mine) erase_at(i);
  return mine.size();
}

template <class Extra>
std::size_t BindingList<Extra>::find(BindingTarget* destination, std::string_view key,
                                     const amqp::FieldTable& arguments) const {
  if (!index_) {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (same(entries_[i], destination, key, arguments)) return i;
    }
    return kNotFound;
  }
  auto it = index_->find(destination);
  if (it == index_->end()) return kNotFound;
  for (std::uint32_t i : it->second) {
    if (same(entries_[i], destination, key, arguments)) return i;
  }
  return kNotFound;
}

template <class Extra>
void BindingList<Extra>::erase_at(std::size_t i) {
  std::size_t last = entries_.size() - 1;
  if (index_) {
    // Forget position i, then re-point the entry that moves from `last` to `i`.
    // erase_all() has already dropped its destination's positions, hence the check.
    auto mine = index_->find(entries_[i].destination);
    if (mine != index_->end()) {
      std::erase(mine->second, static_cast<std::uint32_t>(i));
      if (mine->second.empty()) index_->erase(mine);
    }
    if (i != last) {
      Positions& moved = (*index_)[entries_[last].destination];
      std::replace(moved.begin(), moved.end(), static_cast<std::uint32_t>(last),
                   static_cast<std::uint32_t>(i));
    }
  }
  if (i != last) entries_[i] = std::move(entries_[last]);
  entries_.pop_back();

  // Hysteresis: drop the index well below the threshold, so a list hovering around it does
  // not rebuild on every change.
  if (index_ && entries_.size() <= kIndexAbove / 2) index_.reset();
}

template <class Extra>
void BindingList<Extra>::build_index() {
  index_ = std::make_unique<std::unordered_map<BindingTarget*, Positions>>();
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    (*index_)[entries_[i].destination].push_back(static_cast<std::uint32_t>(i));
  }
}

}  // namespace sluice::broker
