#pragma once

// VirtualHost: the exchanges and queues of one vhost, and the one place where they change.
//
// Every declare, delete, bind, unbind and purge goes through a method here and, when it
// changes something, reports a DefinitionEvent to the observer (where the audit trail and
// the durable definitions store hook in). The observer runs before the change is visible and
// may refuse it: a durable declare fails, rather than being acknowledged, if it could not be
// written to disk. Publishing asks route() for the destination queues.
//
// Used only on the broker loop; not thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/exchange.h"
#include "broker/queue.h"
#include "common/result.h"

namespace sluice::broker {

// Who asked: for exclusive-queue ownership, audit events and error messages.
struct Actor {
  std::string user;
  std::uint64_t connection_id = 0;
};

struct DefinitionEvent {
  enum class Kind {
    ExchangeDeclared,
    ExchangeDeleted,
    QueueDeclared,
    QueueDeleted,
    QueuePurged,
    Bound,
    Unbound,
  };
  Kind kind;
  const std::string& vhost;
  // Exchange events: the exchange. Binding events: the source exchange.
  const ExchangeSettings* exchange = nullptr;
  // Queue events: the queue (the observer may set its store_id). Bindings to a queue: it.
  QueueSettings* queue = nullptr;
  // Bindings to an exchange: the destination exchange.
  const ExchangeSettings* destination_exchange = nullptr;
  const std::string* key = nullptr;               // bindings only
  const amqp::FieldTable* arguments = nullptr;    // bindings only
  const Actor* actor = nullptr;  // null for the broker's own actions (auto-delete, recovery)
};

struct QueueDeclared {
  QueuePtr queue;
  std::size_t message_count = 0;
  std::size_t consumer_count = 0;
};

class VirtualHost {
 public:
  using Observer = std::function<Result<void>(DefinitionEvent&)>;

  // Creates the default exchange and the predeclared amq.* exchanges.
  explicit VirtualHost(std::string name);

  const std::string& name() const { return name_; }
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // --- Exchanges ------------------------------------------------------------------------
  // `type_name` is the client's string; an unknown one is command_invalid.
  Result<ExchangePtr> declare_exchange(ExchangeSettings settings, std::string_view type_name,
                                       bool passive, const Actor& actor);
  Result<void> delete_exchange(const std::string& name, bool if_unused, const Actor& actor);
  ExchangePtr find_exchange(const std::string& name) const;

  // --- Queues ---------------------------------------------------------------------------
  // An empty name asks for a server-generated "amq.gen-..." name.
  Result<QueueDeclared> declare_queue(QueueSettings settings, bool passive, const Actor& actor);
  Result<std::size_t> delete_queue(const std::string& name, bool if_unused, bool if_empty,
                                   const Actor& actor);
  Result<std::size_t> purge_queue(const std::string& name, const Actor& actor);
  // A queue the actor may use: not_found, or resource_locked for another's exclusive queue.
  Result<QueuePtr> queue_for(const std::string& name, const Actor& actor) const;
  // For the broker's own deletions: auto-delete after the last consumer, exclusive owners.
  // `actor` is null when the broker itself decided.
  Result<void> delete_queue_internal(const QueuePtr& queue, const Actor* actor = nullptr);

  // --- Bindings -------------------------------------------------------------------------
  Result<void> bind_queue(const std::string& queue, const std::string& exchange,
                          const std::string& key, const amqp::FieldTable& arguments,
                          const Actor& actor);
  Result<void> unbind_queue(const std::string& queue, const std::string& exchange,
                            const std::string& key, const amqp::FieldTable& arguments,
                            const Actor& actor);
  Result<void> bind_exchange(const std::string& destination, const std::string& source,
                             const std::string& key, const amqp::FieldTable& arguments,
                             const Actor& actor);
  Result<void> unbind_exchange(const std::string& destination, const std::string& source,
                               const std::string& key, const amqp::FieldTable& arguments,
                               const Actor& actor);

  // --- Publishing -----------------------------------------------------------------------
  // Appends the queues a message published to `exchange` with `keys` reaches (through
  // exchange-to-exchange bindings and alternate exchanges), each once. The exchange must
  // exist (callers check with find_exchange first, to report not_found).
  void route(const Exchange& exchange, const std::vector<std::string_view>& keys,
             const amqp::FieldTable* headers, std::vector<QueuePtr>& out);

  // The connection went away: its exclusive queues go with it.
  void connection_closed(std::uint64_t connection_id);

  std::size_t queue_count() const { return queues_.size(); }

  // Queues created from now on page out to this log; stored ones (store_id != 0) also
  // record acks in it.
  void set_message_log(store::MessageLog* log) { log_ = log; }
  const std::map<std::string, QueuePtr, std::less<>>& queues() const { return queues_; }
  // The stored queue with this id, or null.
  QueuePtr find_queue_by_store_id(std::uint64_t store_id) const;
  std::size_t exchange_count() const { return exchanges_.size(); }

 private:
  Result<void> notify(DefinitionEvent event);
  Result<void> notify_binding(DefinitionEvent::Kind kind, const Exchange& source,
                              BindingTarget* destination, const std::string& key,
                              const amqp::FieldTable& arguments, const Actor* actor);
  Result<ExchangePtr> exchange_for_binding(const std::string& name) const;
  Result<void> bind(Exchange& source, BindingTarget* destination,
                    const std::string& destination_name, const std::string& key,
                    const amqp::FieldTable& arguments, const Actor& actor);
  Result<void> unbind(const ExchangePtr& source, BindingTarget* destination,
                      const std::string& destination_name, const std::string& key,
                      const amqp::FieldTable& arguments, const Actor& actor);
  static Result<void> check_binding_arguments(const Exchange& source,
                                              const amqp::FieldTable& arguments);
  void remove_bindings_to(BindingTarget* destination);
  void maybe_auto_delete(const ExchangePtr& exchange);
  void route_exchange(const Exchange& exchange, const std::vector<std::string_view>& keys,
                      const amqp::FieldTable* headers, std::vector<QueuePtr>& out, int depth);
  std::string generate_queue_name();

  std::string name_;
  std::map<std::string, ExchangePtr, std::less<>> exchanges_;
  std::map<std::string, QueuePtr, std::less<>> queues_;
  Observer observer_;
  store::MessageLog* log_ = nullptr;
  std::uint64_t route_epoch_ = 0;
};

}  // namespace sluice::broker
