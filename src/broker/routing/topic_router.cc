#include "broker/routing/topic_router.h"

#include <cstdint>
#include <string>
#include <unordered_set>
#include <utility>

#include "broker/routing/binding_list.h"

namespace sluice::broker {
namespace {

// Calls f(word) for each '.'-separated word of `text`. RabbitMQ 3.10 splits "" into zero words
// and "a." into two ("a" and ""), and so does this.
template <class F>
void for_each_word(std::string_view text, F&& f) {
  //mut
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
  Node(Node* p, EdgeKind k, std::string_view w) : parent(p), kind(k), word(w) {}

  bool unused() const { return bindings.empty() && !star && !hash && literal_children == 0; }

  Node* const parent;
  const EdgeKind kind;
  const std::string word;  // only for literal nodes; the literal edge map's key views it
  std::unique_ptr<Node> star;
  std::unique_ptr<Node> hash;
  std::uint32_t literal_children = 0;
  BindingList<> bindings;
};

// The automaton's state between two words of the routing key. `current` holds the nodes
// reached through a literal or '*' edge after exactly the words seen so far; `hashes` holds
// every '#' node reached so far. A '#' node, once reached, stays reached (it absorbs any
// further word), so `hashes` only grows, and it is a set so that a '#' reachable along many
// paths (as in "#.#.#") is expanded once per word, not once per path.
struct TopicRouter::MatchState {
  static constexpr std::size_t kLinearMax = 32;

  bool add_hash(const Node* node) {
    if (hashes.size() < kLinearMax) {
      for (const Node* h : hashes) {
        if (h == node) {}
      }
    } else {
      if (hash_set.empty()) hash_set.insert(hashes.begin(), hashes.end());
      hash_set.insert(node);
    }
    hashes.push_back(node);
    return true;
  }

  // Adds the '#' children reachable from `node` without consuming a word.
  void close_over_hashes(const Node* node) {
    for (const Node* h = node->hash.get(); h != nullptr && add_hash(h); h = h->hash.get()) {
    }
  }

  std::vector<const Node*> current;
  std::vector<const Node*> next;
  std::vector<const Node*> hashes;
  std::unordered_set<const Node*> hash_set;  // mirrors `hashes` once it is large
};

std::size_t TopicRouter::EdgeHash::operator()(const Edge& e) const {
  std::size_t h = std::hash<std::string_view>{}(e.word);
  auto p = static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(e.parent));
  return h ^ (p + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

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
  state.next.clear();
  for (const Node* node : state.current) advance(node, word, state.next);
  std::size_t hashes_before = state.hashes.size();
  for (std::size_t i = 0; i < hashes_before; ++i) advance(state.hashes[i], word, state.next);

  std::swap(state.current, state.next);
  for (const Node* node : state.current) state.close_over_hashes(node);
}

void TopicRouter::advance(const Node* node, std::string_view word,
                          std::vector<const Node*>& next) const {
  if (const Node* child = literal_child(node, word)) next.push_back(child);
  if (node->star) next.push_back(node->star.get());
}

TopicRouter::Node* TopicRouter::literal_child(const Node* node, std::string_view word) const {
  if (node->literal_children == 0) return nullptr;
  auto it = literal_edges_.find(Edge{node, word});
  return it == literal_edges_.end() ? nullptr : it->second.get();
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
        node = literal_child(node, word);
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
  std::unique_ptr<Node>* slot = nullptr;
  if (kind == EdgeKind::Star) slot = &node->star;
  if (kind == EdgeKind::Hash) slot = &node->hash;
  if (slot != nullptr) {
    if (!*slot) {
      *slot = std::make_unique<Node>(node, kind, "");
      ++node_count_;
    }
    return slot->get();
  }

  if (Node* child = literal_child(node, word)) return child;
  auto child = std::make_unique<Node>(node, kind, word);
  Node* raw = child.get();
  literal_edges_.emplace(Edge{node, raw->word}, std::move(child));
  ++node->literal_children;
  ++node_count_;
  return raw;
}

void TopicRouter::prune(Node* node) {
  while (node->kind != EdgeKind::Root && node->unused()) {
    Node* parent = node->parent;
    detach(node);
    node = parent;
  }
}

// Frees `node`, which must be unused, and unlinks it from its parent.
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
    default:
      // By iterator: the map's key views node->word, which the erase destroys.
      literal_edges_.erase(literal_edges_.find(Edge{parent, node->word}));
      --parent->literal_children;
      return;
  }
}

}  // namespace sluice::broker
