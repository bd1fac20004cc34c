#pragma once

// TopicRouter: RabbitMQ's topic matching. Keys and patterns are split on '.' into words (""
// has zero words, "a..b" three); in a pattern '*' matches exactly one word and '#' zero or
// more.
//
// Patterns live in a trie over words. Each node has literal children (in a WordTable), at
// most one '*' child and one '#' child, and the bindings whose pattern ends there. bind and
// unbind walk one path: O(words). route() runs the trie as an automaton, one routing-key word
// at a time, over the set of nodes reached so far. That set never holds a node twice, so the
// work is bounded by words x reachable nodes however many '#' the patterns have. See
// README.md.

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "amqp/field_table.h"
#include "broker/routing/destination_index.h"
#include "broker/routing/router.h"

namespace sluice::broker {

class TopicRouter final : public Router {
 public:
  TopicRouter();
  ~TopicRouter() override;
  TopicRouter(const TopicRouter&) = delete;
  TopicRouter& operator=(const TopicRouter&) = delete;

  bool bind(BindingTarget* destination, std::string_view key,
            const amqp::FieldTable& arguments) override;
  bool unbind(BindingTarget* destination, std::string_view key,
              const amqp::FieldTable& arguments) override;
  void unbind_all(BindingTarget* destination) override;
  void route(std::string_view routing_key, const amqp::FieldTable* headers,
             std::vector<BindingTarget*>& out) const override;
  std::size_t binding_count() const override { return count_; }

  // Trie nodes, the root included; for tests that check unbinding frees the path.
  std::size_t node_count_for_test() const { return node_count_; }

 private:
  struct Node;
  struct MatchState;

  Node* find_path(std::string_view pattern) const;
  Node* make_path(std::string_view pattern);
  Node* make_child(Node* node, std::string_view word);
  void prune(Node* node);
  void detach(Node* node);

  void step(std::string_view word, MatchState& state) const;

  std::unique_ptr<Node> root_;
  DestinationIndex<Node> destinations_;
  std::size_t count_ = 0;
  std::size_t node_count_ = 1;
};

}  // namespace sluice::broker
