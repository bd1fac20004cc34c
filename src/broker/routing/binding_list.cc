#include "broker/routing/binding_list.h"

#include <algorithm>

namespace sluice::broker {

amqp::FieldTable canonical_arguments(const amqp::FieldTable& arguments) {
  amqp::FieldTable sorted = arguments;
  // std::string's operator< compares bytes as unsigned char, as Erlang compares binaries.
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return sorted;
}

}  // namespace sluice::broker
