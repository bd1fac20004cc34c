#include "tools/perf/amqp_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "amqp/reply_code.h"

namespace sluice::perf {
namespace {

namespace m = amqp::method;

// Room for a few maximum-size frames, so one read can bring many small ones.
constexpr std::size_t kReadBufferSize = 512 * 1024;
// Compact the read buffer when less than this is free at its end.
constexpr std::size_t kMinReadRoom = 2 * kPreferredFrameMax;
constexpr std::uint16_t kChannelMax = 16;

std::uint16_t read_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

std::string describe_close(std::uint16_t code, const std::string& text, std::uint16_t class_id,
                           std::uint16_t method_id) {
  const std::string_view name = amqp::reply_code_name(static_cast<amqp::ReplyCode>(code));
  std::string s = fmt::format("{} {}", code, name);
  // RabbitMQ starts its reply texts with the code's name ("NOT_FOUND - no queue 'x'").
  std::string_view detail = text;
  if (detail.starts_with(name)) detail.remove_prefix(name.size());
  if (detail.starts_with(" - ")) detail.remove_prefix(3);
  if (!detail.empty()) s += fmt::format(" - {}", detail);
  if (class_id != 0) s += fmt::format(" (in reply to {})", amqp::method_name(class_id, method_id));
  return s;
}

amqp::FieldTable client_properties(const ConnectionParams& params) {
  amqp::FieldTable capabilities{
      {"publisher_confirms", true},           {"basic.nack", true},
      {"consumer_cancel_notify", true},       {"connection.blocked", true},
      {"authentication_failure_close", true},
  };
  return amqp::FieldTable{
      {"product", "sluice-perf"},
      {"version", SLUICE_VERSION},
      {"platform", "C++"},
      {"connection_name", params.connection_name},
      {"capabilities", std::move(capabilities)},
  };
}

}  // namespace

AmqpClient::AmqpClient(TcpSocket socket, ConnectionParams params)
    : socket_(std::move(socket)), params_(std::move(params)), in_(kReadBufferSize) {}

AmqpClient AmqpClient::connect(const ConnectionParams& params) {
  TcpSocket socket = TcpSocket::connect(params.host, params.port, Clock::now() + kRpcTimeout);
  AmqpClient client(std::move(socket), params);
  client.handshake();
  client.open_channel();
  return client;
}

void AmqpClient::handshake() {
  static constexpr std::uint8_t kProtocolHeader[] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
  const auto deadline = Clock::now() + kRpcTimeout;
  out_.insert(out_.end(), std::begin(kProtocolHeader), std::end(kProtocolHeader));
  if (!flush(deadline)) throw AmqpError(0, "timed out sending the protocol header");

  amqp::Method start = wait_method(0, deadline);
  const auto* s = std::get_if<m::ConnectionStart>(&start);
  if (s == nullptr) throw AmqpError(0, "broker did not send connection.start");
  if (s->mechanisms.find("PLAIN") == std::string::npos) {
    throw AmqpError(0, "broker does not offer PLAIN (offers: " + s->mechanisms + ")");
  }

  m::ConnectionStartOk start_ok;
  start_ok.client_properties = client_properties(params_);
  start_ok.mechanism = "PLAIN";
  start_ok.response = std::string(1, '\0') + params_.user + '\0' + params_.password;
  amqp::append_method_frame(out_, 0, start_ok);
  if (!flush(deadline)) throw AmqpError(0, "timed out sending connection.start-ok");

  // A broker that rejects the login may just drop the connection instead of closing it.
  amqp::Method tune_method;
  try {
    tune_method = wait_method(0, deadline);
  } catch (const AmqpError&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw AmqpError(0, std::string(e.what()) + " during login (wrong user or password?)");
  }
  const auto* tune = std::get_if<m::ConnectionTune>(&tune_method);
  if (tune == nullptr) throw AmqpError(0, "broker did not send connection.tune");

  m::ConnectionTuneOk tune_ok;
  tune_ok.channel_max =
      tune->channel_max == 0 ? kChannelMax : std::min(tune->channel_max, kChannelMax);
  tune_ok.frame_max =
      tune->frame_max == 0 ? kPreferredFrameMax : std::min(tune->frame_max, kPreferredFrameMax);
  tune_ok.heartbeat = 0;
  frame_max_ = tune_ok.frame_max;
  amqp::append_method_frame(out_, 0, tune_ok);

  m::ConnectionOpen open;
  open.virtual_host = params_.vhost;
  call<m::ConnectionOpenOk>(0, open);
}

void AmqpClient::open_channel() { call<m::ChannelOpenOk>(kChannel, m::ChannelOpen{}); }

void AmqpClient::reopen_channel() { open_channel(); }

template <class Reply, class Request>
Reply AmqpClient::call(std::uint16_t channel, const Request& request) {
  const auto deadline = Clock::now() + kRpcTimeout;
  amqp::append_method_frame(out_, channel, request);
  if (!flush(deadline)) throw AmqpError(0, fmt::format("timed out sending {}", Request::kName));
  for (;;) {
    amqp::Method reply = wait_method(channel, deadline);
    if (auto* r = std::get_if<Reply>(&reply)) return std::move(*r);
    // Anything else on the channel (a delivery racing a declare, say) is not ours to handle.
  }
}

amqp::Method AmqpClient::wait_method(std::uint16_t channel, Clock::time_point deadline) {
  for (;;) {
    while (auto frame = next_frame()) {
      if (frame->type != amqp::FrameType::Method || frame->channel != channel) continue;
      auto decoded = amqp::decode_method(frame->payload);
      if (!decoded) throw AmqpError(0, "undecodable method: " + decoded.error().detail);
      return std::move(decoded).value();
    }
    if (!receive(deadline) && Clock::now() >= deadline) {
      throw AmqpError(0, "timed out waiting for the broker's reply");
    }
  }
}

bool AmqpClient::flush(Clock::time_point deadline) {
  if (out_.empty()) return true;
  const std::size_t n = socket_.write(out_.data(), out_.size(), deadline);
  out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(n));
  return out_.empty();
}

void AmqpClient::append_ack(std::uint64_t delivery_tag, bool multiple) {
  amqp::append_method_frame(out_, kChannel, m::BasicAck{delivery_tag, multiple});
}

bool AmqpClient::receive(Clock::time_point deadline) {
  // Keep unparsed bytes (at most a partial frame plus frames not yet walked) and make room.
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_.size() - in_end_ < kMinReadRoom) {
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  const std::size_t n = socket_.read(in_.data() + in_end_, in_.size() - in_end_, deadline);
  in_end_ += n;
  return n > 0;
}

std::optional<amqp::Frame> AmqpClient::next_frame() {
  if (in_begin_ == in_end_) return std::nullopt;
  const ByteSpan pending(in_.data() + in_begin_, in_end_ - in_begin_);
  amqp::FrameParse parsed = amqp::parse_frame(pending, frame_max_);
  switch (parsed.status) {
    case amqp::FrameParse::Status::NeedMore:
      return std::nullopt;
    case amqp::FrameParse::Status::Failed:
      throw AmqpError(0, "bad frame from the broker: " + parsed.error.detail);
    case amqp::FrameParse::Status::Complete:
      break;
  }
  in_begin_ += parsed.consumed;
  if (parsed.frame.type == amqp::FrameType::Method) check_close(parsed.frame);
  return parsed.frame;
}

void AmqpClient::check_close(const amqp::Frame& frame) {
  // Peek at the ids so that the common case (a delivery or an ack) decodes nothing here.
  if (frame.payload.size() < 4) return;
  const std::uint16_t class_id = read_u16(frame.payload.data());
  const std::uint16_t method_id = read_u16(frame.payload.data() + 2);
  const bool connection_close =
      class_id == m::ConnectionClose::kClassId && method_id == m::ConnectionClose::kMethodId;
  const bool channel_close =
      class_id == m::ChannelClose::kClassId && method_id == m::ChannelClose::kMethodId;
  const bool blocked =
      class_id == m::ConnectionBlocked::kClassId && method_id == m::ConnectionBlocked::kMethodId;
  if (!connection_close && !channel_close && !blocked) return;

  auto decoded = amqp::decode_method(frame.payload);
  if (!decoded) throw AmqpError(0, "undecodable close from the broker");
  if (auto* c = std::get_if<m::ConnectionClose>(&*decoded)) {
    amqp::append_method_frame(out_, 0, m::ConnectionCloseOk{});
    flush(Clock::now() + kCloseTimeout);
    socket_.close();
    throw AmqpError(c->reply_code,
                    "broker closed the connection: " +
                        describe_close(c->reply_code, c->reply_text, c->class_id, c->method_id));
  }
  if (auto* c = std::get_if<m::ChannelClose>(&*decoded)) {
    amqp::append_method_frame(out_, frame.channel, m::ChannelCloseOk{});
    flush(Clock::now() + kCloseTimeout);
    throw AmqpError(c->reply_code,
                    "broker closed the channel: " +
                        describe_close(c->reply_code, c->reply_text, c->class_id, c->method_id));
  }
  const auto& b = std::get<m::ConnectionBlocked>(*decoded);
  throw AmqpError(0, "broker blocked publishing (resource alarm: " + b.reason + ")");
}

void AmqpClient::declare_queue(const std::string& name, bool durable) {
  m::QueueDeclare declare;
  declare.queue = name;
  declare.durable = durable;
  call<m::QueueDeclareOk>(kChannel, declare);
}

std::uint32_t AmqpClient::delete_queue(const std::string& name) {
  m::QueueDelete del;
  del.queue = name;
  return call<m::QueueDeleteOk>(kChannel, del).message_count;
}

void AmqpClient::declare_exchange(const std::string& name, const std::string& type, bool durable) {
  m::ExchangeDeclare declare;
  declare.exchange = name;
  declare.type = type;
  declare.durable = durable;
  call<m::ExchangeDeclareOk>(kChannel, declare);
}

void AmqpClient::delete_exchange(const std::string& name) {
  m::ExchangeDelete del;
  del.exchange = name;
  call<m::ExchangeDeleteOk>(kChannel, del);
}

void AmqpClient::bind_queue(const std::string& queue, const std::string& exchange,
                            const std::string& routing_key) {
  m::QueueBind bind;
  bind.queue = queue;
  bind.exchange = exchange;
  bind.routing_key = routing_key;
  call<m::QueueBindOk>(kChannel, bind);
}

void AmqpClient::qos(std::uint16_t prefetch_count) {
  m::BasicQos qos;
  qos.prefetch_count = prefetch_count;
  call<m::BasicQosOk>(kChannel, qos);
}

std::string AmqpClient::consume(const std::string& queue, bool no_ack) {
  m::BasicConsume consume;
  consume.queue = queue;
  consume.no_ack = no_ack;
  return call<m::BasicConsumeOk>(kChannel, consume).consumer_tag;
}

void AmqpClient::confirm_select() { call<m::ConfirmSelectOk>(kChannel, m::ConfirmSelect{}); }

void AmqpClient::close(Clock::duration timeout) {
  if (!socket_.is_open()) return;
  try {
    const auto deadline = Clock::now() + timeout;
    // Unwritten bytes may end in the middle of a frame; a close after them would be garbage.
    if (flush(deadline)) {
      m::ConnectionClose close;
      close.reply_code = 200;
      close.reply_text = "sluice-perf done";
      amqp::append_method_frame(out_, 0, close);
      if (flush(deadline)) {
        for (;;) {
          amqp::Method reply = wait_method(0, deadline);
          if (std::holds_alternative<m::ConnectionCloseOk>(reply)) break;
        }
      }
    }
  } catch (const std::exception&) {
    // The broker went first, or is too slow to answer: the socket closes below either way.
  }
  socket_.close();
}

}  // namespace sluice::perf
