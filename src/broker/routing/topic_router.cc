#include "broker/routing/topic_router.h"

#include <cstdint>
#include <string>
#include <unordered_set>
#include <utility>

#include "broker/routing/binding_list.h"
#include "broker/routing/word_table.h"

namespace sluice::broker {
namespace {

// Calls f(word) for each '.'-separated word of `text`. RabbitMQ 3.10 splits "" into zero words
// and "a." into two ("a" and ""), and so does this.
template <class F>
void for_each_word(std::string_view text, F&& f) {
  if (text.empty()) return;
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) {
      f(text.substr(start));
      return;
    }
    f(text.substr(start, dot - start));
    start = dot + 1;
  }
}

enum class EdgeKind { Root, Literal, Star, Hash };

EdgeKind kind_of(std::string_view word) {
  if (word == "*") return EdgeKind::Star;
  if (word == "#") return EdgeKind::Hash;
  return EdgeKind::Literal;
}

}  // namespace

struct TopicRouter::Node {
  Node(Node* p, EdgeKind k, std::string_view w) : word(w), parent(p), kind(k) {}

  bool unused() const { return bindings.empty() && !star && !hash && literals.empty(); }

  // First, so that a look-up's word comparison reads the node's first cache line.
  const std::string word;  // empty except for literal nodes
  Node* const parent;
  const EdgeKind kind;
  WordTable<Node> literals;
  std::unique_ptr<Node> star;
  std::unique_ptr<Node> hash;
  BindingList<> bindings;
};

// The automaton's state between two words of the routing key. `current` holds the nodes
// reached through a literal or '*' edge after exactly the words seen so far; `hashes` holds
// every '#' node reached so far. A '#' node, once reached, stays reached (it absorbs any
// further word), so `hashes` only grows, and it is a set so that a '#' reachable along many
// paths (as in "#.#.#" or "#.a.#") is expanded once per word, not once per path.
struct TopicRouter::MatchState {
  static constexpr std::size_t kLinearMax = 32;

  bool add_hash(const Node* node) {
    if (hashes.size() < kLinearMax) {
      for (const Node* h : hashes) {
        if (h == node) return false;
      }
    } else {
      if (hash_set.empty()) hash_set.insert(hashes.begin(), hashes.end());
      if (!hash_set.insert(node).second) return false;
    }
    hashes.push_back(node);
    return true;
  }

  // Adds the '#' children reachable from `node` without consuming a word.
  void close_over_hashes(const Node* node) {
    for (const Node* h = node->hash.get(); h != nullptr && add_hash(h); h = h->hash.get()) {
    }
  }

  // The literal and '*' children of `node` that consume `word`.
  void advance(const Node* node, std::string_view word, std::size_t word_hash) {
    if (const Node* child = node->literals.find(word, word_hash)) next.push_back(child);
    if (node->star) next.push_back(node->star.get());
  }

  std::vector<const Node*> current;
  std::vector<const Node*> next;
  std::vector<const Node*> hashes;
  std::unordered_set<const Node*> hash_set;  // mirrors `hashes` once it is large
};

TopicRouter::TopicRouter() : root_(std::make_unique<Node>(nullptr, EdgeKind::Root, "")) {}

TopicRouter::~TopicRouter() = default;

bool TopicRouter::bind(BindingTarget* destination, std::string_view key,
                       const amqp::FieldTable& arguments) {
  Node* node = make_path(key);
  if (node->bindings.insert(destination, {}, canonical_arguments(arguments)) == nullptr) {
    return false;  // a duplicate: the path existed already, so there is nothing to prune
  }
  destinations_.add(destination, node);
  ++count_;
  return true;
}

bool TopicRouter::unbind(BindingTarget* destination, std::string_view key,
                         const amqp::FieldTable& arguments) {
  Node* node = find_path(key);
  if (node == nullptr) return false;
  if (!node->bindings.erase(destination, {}, canonical_arguments(arguments))) return false;

  destinations_.remove(destination, node);
  --count_;
  prune(node);
  return true;
}

void TopicRouter::unbind_all(BindingTarget* destination) {
  // NOTE: prune() only frees nodes without bindings, and every node in this list still holds
  // one of the destination's bindings until its turn comes, so none is freed under our feet.
  for (const auto& [node, bindings] : destinations_.take(destination)) {
    count_ -= node->bindings.erase_all(destination);
    prune(node);
  }
}

void TopicRouter::route(std::string_view routing_key, const amqp::FieldTable* /*headers*/,
                        std::vector<BindingTarget*>& out) const {
  MatchState state;
  state.current.push_back(root_.get());
  state.close_over_hashes(root_.get());

  for_each_word(routing_key, [&](std::string_view word) { step(word, state); });

  // Each node appears once in `current` or `hashes` (never both), so each binding is
  // reported once.
  for (const Node* node : state.current) node->bindings.append_destinations(out);
  for (const Node* node : state.hashes) node->bindings.append_destinations(out);
}

void TopicRouter::step(std::string_view word, MatchState& state) const {
  // Every reached node consumes the word through its literal and '*' edges. The '#' nodes
  // also consume it through their implicit self-loop, so they simply stay in `hashes`.
  std::size_t word_hash = WordTable<Node>::hash_of(word);
  state.next.clear();
  for (const Node* node : state.current) state.advance(node, word, word_hash);
  std::size_t hashes_before = state.hashes.size();
  for (std::size_t i = 0; i < hashes_before; ++i) {
    state.advance(state.hashes[i], word, word_hash);
  }

  std::swap(state.current, state.next);
  for (const Node* node : state.current) state.close_over_hashes(node);
}

TopicRouter::Node* TopicRouter::find_path(std::string_view pattern) const {
  Node* node = root_.get();
  for_each_word(pattern, [&](std::string_view word) {
    if (node == nullptr) return;
    switch (kind_of(word)) {
      case EdgeKind::Star:
        node = node->star.get();
        break;
      case EdgeKind::Hash:
        node = node->hash.get();
        break;
      default:
        node = node->literals.find(word, WordTable<Node>::hash_of(word));
        break;
    }
  });
  return node;
}

TopicRouter::Node* TopicRouter::make_path(std::string_view pattern) {
  Node* node = root_.get();
  for_each_word(pattern, [&](std::string_view word) { node = make_child(node, word); });
  return node;
}

TopicRouter::Node* TopicRouter::make_child(Node* node, std::string_view word) {
  EdgeKind kind = kind_of(word);
  if (kind == EdgeKind::Literal) {
    std::size_t word_hash = WordTable<Node>::hash_of(word);
    if (Node* child = node->literals.find(word, word_hash)) return child;
    ++node_count_;
    return node->literals.insert(word_hash, std::make_unique<Node>(node, kind, word));
  }

  std::unique_ptr<Node>& slot = kind == EdgeKind::Star ? node->star : node->hash;
  if (!slot) {
    slot = std::make_unique<Node>(node, kind, "");
    ++node_count_;
  }
  return slot.get();
}

void TopicRouter::prune(Node* node) {
  while (node->kind != EdgeKind::Root && node->unused()) {
    Node* parent = node->parent;
    detach(node);
    node = parent;
  }
}

// Frees `node`, which must be unused, by removing it from its parent.
void TopicRouter::detach(Node* node) {
  Node* parent = node->parent;
  --node_count_;
  switch (node->kind) {
    case EdgeKind::Star:
      parent->star.reset();
      return;
    case EdgeKind::Hash:
      parent->hash.reset();
      return;
    default: {
      // Copy the word first: the erase destroys the node that holds it.
      std::string word = node->word;
      parent->literals.erase(word, WordTable<Node>::hash_of(word));
      return;
    }
  }
}

}  // namespace sluice::broker
