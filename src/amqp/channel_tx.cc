// Channel: transactions (tx class) and publisher confirms (confirm class).

#include "amqp/channel.h"
#include "amqp/connection.h"
#include "amqp/reply_code.h"
#include "broker/vhost.h"

namespace sluice::amqp {

Result<void> Channel::on_tx_method(const Method& method) {
  if (std::holds_alternative<method::TxSelect>(method)) {
    if (confirm_mode_) {
      return amqp_error(ReplyCode::PreconditionFailed,
                        "cannot switch from confirm to tx mode");
    }
    tx_mode_ = true;
    connection_.send_method(id_, method::TxSelectOk{});
    return ok();
  }
  const bool is_commit = std::holds_alternative<method::TxCommit>(method);
  if (!is_commit && !std::holds_alternative<method::TxRollback>(method)) return unimplemented();
  if (!tx_mode_) {
    return amqp_error(ReplyCode::PreconditionFailed, "channel is not transactional");
  }
  if (is_commit) {
    if (auto r = commit(); !r) return r;
    connection_.send_method(id_, method::TxCommitOk{});
  } else {
    tx_publishes_.clear();
    tx_settles_.clear();
    connection_.send_method(id_, method::TxRollbackOk{});
  }
  return ok();
}

// Applies the transaction's publishes, then its acknowledgements, in the order received.
Result<void> Channel::commit() {
  std::vector<TxPublish> publishes;
  publishes.swap(tx_publishes_);
  std::vector<TxSettle> settles;
  settles.swap(tx_settles_);
  tx_mode_ = false;  // settle() and route_and_enqueue() apply immediately while committing
  for (const TxPublish& p : publishes) {
    auto exchange = vhost().find_exchange(p.message->exchange);
    if (auto r = route_and_enqueue(p.message, exchange.get(), p.keys, p.mandatory); !r) {
      tx_mode_ = true;
      return r;
    }
  }
  Result<void> result = ok();
  for (const TxSettle& s : settles) {
    result = settle(s.tag, s.multiple, s.requeue, s.ack);
    if (!result) break;
  }
  tx_mode_ = true;
  return result;
}

Result<void> Channel::on_confirm_method(const Method& method) {
  const auto* select = std::get_if<method::ConfirmSelect>(&method);
  if (select == nullptr) return unimplemented();
  if (tx_mode_) {
    return amqp_error(ReplyCode::PreconditionFailed, "cannot switch from tx to confirm mode");
  }
  confirm_mode_ = true;
  if (!select->nowait) connection_.send_method(id_, method::ConfirmSelectOk{});
  return ok();
}

}  // namespace sluice::amqp
