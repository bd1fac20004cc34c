// Writes the seed corpus of the frame fuzzer: small byte streams of valid frames, as clients
// and the broker send them, built with the codec itself.
//
//   cmake --build build-fuzz --target fuzz_make_seeds
//   ./build-fuzz/bin/fuzz_make_seeds tests/fuzz/corpus/frame
//
// The seeds are committed; run this again only to change them, and commit the result.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>

#include "amqp/frame.h"
#include "amqp/methods.h"
#include "amqp/properties.h"

namespace sluice::amqp {
namespace {

using namespace std::string_literals;

// Appends frames to one stream.
class Stream {
 public:
  template <class M>
  Stream& method(std::uint16_t channel, const M& m) {
    append_method_frame(bytes_, channel, m);
    return *this;
  }
  Stream& content(std::uint16_t channel, ContentHeader header, std::string_view body,
                  std::uint32_t frame_max = 131072) {
    header.body_size = body.size();
    const auto* p = reinterpret_cast<const std::uint8_t*>(body.data());
    append_content(bytes_, channel, header, ByteSpan(p, body.size()), frame_max);
    return *this;
  }
  Stream& heartbeat() {
    append_heartbeat(bytes_);
    return *this;
  }
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
};

FieldTable client_properties() {
  return {{"product", "pika"s},
          {"version", "1.3.2"s},
          {"platform", "Python 3.11.2"s},
          {"capabilities", FieldTable{{"authentication_failure_close", true},
                                      {"basic.nack", true},
                                      {"connection.blocked", true},
                                      {"consumer_cancel_notify", true},
                                      {"publisher_confirms", true}}},
          {"information", "See http://pika.rtfd.org"s}};
}

FieldTable server_properties() {
  return {{"capabilities", FieldTable{{"publisher_confirms", true},
                                      {"exchange_exchange_bindings", true},
                                      {"basic.nack", true},
                                      {"per_consumer_qos", true}}},
          {"cluster_name", "sluice@localhost"s},
          {"product", "Sluice"s},
          {"version", "0.1.0"s}};
}

// x-arguments covering every field type, as declare calls carry them.
FieldTable queue_arguments() {
  return {{"x-queue-type", "classic"s},
          {"x-max-length", std::int32_t{1000}},
          {"x-message-ttl", std::int64_t{60000}},
          {"x-expires", std::uint32_t{3600000}},
          {"x-max-priority", std::uint8_t{10}},
          {"x-dead-letter-exchange", "dlx"s},
          {"x-overflow", "reject-publish"s},
          {"x-single-active-consumer", false},
          {"small", std::int8_t{-3}},
          {"short", std::int16_t{-300}},
          {"ushort", std::uint16_t{65000}},
          {"float", 0.25f},
          {"double", -1e300},
          {"decimal", Decimal{2, 31415}},
          {"stamp", Timestamp{1700000000}},
          {"blob", ByteArray{"\x00\x01\xff"s}},
          {"nothing", Void{}},
          {"list", FieldArray{std::int32_t{1}, "two"s, FieldArray{Void{}}, FieldTable{}}},
          {"nested", FieldTable{{"deeper", FieldTable{{"deepest", true}}}}}};
}

ContentHeader every_property() {
  ContentHeader h;
  BasicProperties& p = h.properties;
  p.content_type = "application/json";
  p.content_encoding = "utf-8";
  p.headers = FieldTable{
      {"x-death", FieldArray{FieldTable{{"count", std::int64_t{1}}, {"reason", "rejected"s}}}},
      {"x-retry", std::int32_t{2}}};
  p.delivery_mode = 2;
  p.priority = 5;
  p.correlation_id = "c0ffee";
  p.reply_to = "amq.rabbitmq.reply-to";
  p.expiration = "60000";
  p.message_id = "m-1";
  p.timestamp = 1700000000;
  p.type = "order.created";
  p.user_id = "guest";
  p.app_id = "shop";
  p.cluster_id = "";
  return h;
}

method::BasicPublish publish(std::string exchange, std::string routing_key) {
  method::BasicPublish m;
  m.exchange = std::move(exchange);
  m.routing_key = std::move(routing_key);
  return m;
}

// One stream holding every method with its default values.
template <std::size_t... I>
Stream every_method(std::index_sequence<I...>) {
  Stream s;
  (s.method(1, std::variant_alternative_t<I, Method>{}), ...);
  return s;
}

void add_connection_seeds(std::map<std::string, Stream>& seeds) {
  seeds["connection-start"].method(
      0, method::ConnectionStart{0, 9, server_properties(), "PLAIN AMQPLAIN", "en_US"});
  seeds["connection-start-ok"].method(
      0, method::ConnectionStartOk{client_properties(), "PLAIN", "\0guest\0guest"s, "en_US"});
  seeds["connection-secure"]
      .method(0, method::ConnectionSecure{"challenge"})
      .method(0, method::ConnectionSecureOk{"response"});
  seeds["connection-tune"].method(0, method::ConnectionTune{2047, 131072, 60});
  seeds["connection-tune-ok"].method(0, method::ConnectionTuneOk{2047, 131072, 60});
  seeds["connection-open"]
      .method(0, method::ConnectionOpen{"/", "", false})
      .method(0, method::ConnectionOpenOk{});
  seeds["connection-close"].method(
      0,
      method::ConnectionClose{320, "CONNECTION_FORCED - broker forced connection closure", 0, 0});
  seeds["connection-close-ok"].method(0, method::ConnectionCloseOk{});
  seeds["connection-blocked"]
      .method(0, method::ConnectionBlocked{"low on memory"})
      .method(0, method::ConnectionUnblocked{});
  seeds["connection-update-secret"]
      .method(0, method::ConnectionUpdateSecret{"token", "expiry"})
      .method(0, method::ConnectionUpdateSecretOk{});
}

void add_channel_seeds(std::map<std::string, Stream>& seeds) {
  seeds["channel-open"].method(1, method::ChannelOpen{}).method(1, method::ChannelOpenOk{});
  seeds["channel-flow"]
      .method(1, method::ChannelFlow{false})
      .method(1, method::ChannelFlowOk{false});
  seeds["channel-close"].method(
      1, method::ChannelClose{404, "NOT_FOUND - no queue 'missing' in vhost '/'", 50, 10});
  seeds["access-request"].method(1, method::AccessRequest{}).method(1, method::AccessRequestOk{});
  seeds["exchange-declare"].method(
      1, method::ExchangeDeclare{0, "events", "topic", false, true, false, false, false,
                                 FieldTable{{"alternate-exchange", "unrouted"s}}});
  seeds["exchange-bind-delete"]
      .method(1, method::ExchangeBind{0, "dest", "src", "a.#", false, {}})
      .method(1, method::ExchangeUnbind{0, "dest", "src", "a.#", true, {}})
      .method(1, method::ExchangeDelete{0, "events", true, false});
}

void add_queue_seeds(std::map<std::string, Stream>& seeds) {
  seeds["queue-declare"].method(
      1, method::QueueDeclare{0, "orders", false, true, false, false, false, queue_arguments()});
  seeds["queue-declare-ok"].method(1, method::QueueDeclareOk{"amq.gen-JzTY20BRgKO", 12, 1});
  seeds["queue-bind"].method(1,
                             method::QueueBind{0, "orders", "amq.headers", "", false,
                                               FieldTable{{"x-match", "any"s}, {"region", "eu"s}}});
  seeds["queue-purge-delete"]
      .method(1, method::QueuePurge{0, "orders", false})
      .method(1, method::QueuePurgeOk{3})
      .method(1, method::QueueDelete{0, "orders", true, true, false})
      .method(1, method::QueueDeleteOk{0});
  seeds["queue-unbind"].method(1, method::QueueUnbind{0, "orders", "amq.topic", "a.*", {}});
}

void add_basic_seeds(std::map<std::string, Stream>& seeds) {
  seeds["basic-qos"].method(1, method::BasicQos{0, 100, false});
  seeds["basic-consume"]
      .method(1, method::BasicConsume{0, "orders", "", false, false, false, false,
                                      FieldTable{{"x-priority", std::int32_t{5}}}})
      .method(1, method::BasicConsumeOk{"amq.ctag-abc"});
  seeds["basic-cancel"]
      .method(1, method::BasicCancel{"amq.ctag-abc", false})
      .method(1, method::BasicCancelOk{"amq.ctag-abc"});
  seeds["basic-publish-all-properties"]
      .method(1, publish("events", "order.created"))
      .content(1, every_property(), R"({"id": 42, "total": 9.99})");
  seeds["basic-publish-no-properties"].method(1, publish("", "orders")).content(1, {}, "");
  seeds["basic-publish-split-body"]
      .method(1, publish("", "big"))
      .content(1, {}, std::string(10000, 'x'), 4096);
  seeds["basic-deliver"]
      .method(1, method::BasicDeliver{"amq.ctag-abc", 1, false, "events", "order.created"})
      .content(1, every_property(), "hello");
  seeds["basic-get"]
      .method(1, method::BasicGet{0, "orders", false})
      .method(1, method::BasicGetOk{7, true, "", "orders", 2})
      .content(1, {}, "payload")
      .method(1, method::BasicGetEmpty{});
  seeds["basic-return"]
      .method(1, method::BasicReturn{312, "NO_ROUTE", "events", "nowhere"})
      .content(1, every_property(), "returned");
  seeds["basic-ack"].method(1, method::BasicAck{1, false}).method(1, method::BasicAck{42, true});
  seeds["basic-nack-reject"]
      .method(1, method::BasicNack{5, true, true})
      .method(1, method::BasicReject{6, false});
  seeds["basic-recover"]
      .method(1, method::BasicRecover{true})
      .method(1, method::BasicRecoverOk{})
      .method(1, method::BasicRecoverAsync{false});
  seeds["tx"]
      .method(1, method::TxSelect{})
      .method(1, method::TxSelectOk{})
      .method(1, method::TxCommit{})
      .method(1, method::TxCommitOk{})
      .method(1, method::TxRollback{})
      .method(1, method::TxRollbackOk{});
  seeds["confirm-select"]
      .method(1, method::ConfirmSelect{false})
      .method(1, method::ConfirmSelectOk{});
}

void add_stream_seeds(std::map<std::string, Stream>& seeds) {
  seeds["heartbeat"].heartbeat();
  seeds["client-session"]
      .method(0,
              method::ConnectionStartOk{client_properties(), "PLAIN", "\0guest\0guest"s, "en_US"})
      .method(0, method::ConnectionTuneOk{2047, 131072, 60})
      .method(0, method::ConnectionOpen{})
      .method(1, method::ChannelOpen{})
      .method(1, method::ConfirmSelect{})
      .method(1, method::QueueDeclare{0, "tasks", false, true, false, false, false, {}})
      .method(1, publish("", "tasks"))
      .content(1, every_property(), "work")
      .heartbeat()
      .method(1, method::ChannelClose{200, "", 0, 0})
      .method(0, method::ConnectionClose{200, "Normal shutdown", 0, 0});
  seeds["every-method-default"] =
      every_method(std::make_index_sequence<std::variant_size_v<Method>>());
}

}  // namespace
}  // namespace sluice::amqp

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  using namespace sluice::amqp;
  std::map<std::string, Stream> seeds;
  add_connection_seeds(seeds);
  add_channel_seeds(seeds);
  add_queue_seeds(seeds);
  add_basic_seeds(seeds);
  add_stream_seeds(seeds);

  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  for (const auto& [name, stream] : seeds) {
    std::ofstream out(dir / (name + ".bin"), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(stream.bytes().data()),
              static_cast<std::streamsize>(stream.bytes().size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
      return 1;
    }
  }
  std::printf("wrote %zu seeds to %s\n", seeds.size(), dir.c_str());
  return 0;
}
