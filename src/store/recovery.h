#pragma once

// Recovery: replays a message-log directory at open, and repairs what a crash left.
//
// It reads every segment in id order. The first bad record of a segment (torn, checksum
// mismatch, bad length, unknown type, payload that does not parse) ends that segment: the
// file is truncated there, the drop is logged at error level, and replay goes on with the next
// segment. A segment whose header is bad is renamed to *.corrupt, never deleted; one that is
// shorter than a header and is the newest is a torn creation and is removed. Before touching
// anything, every header is checked for a newer format version, which refuses the directory.
//
// Used by MessageLog::open(); a free function so it can be tested on its own. Single-threaded.

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "store/file.h"
#include "store/log_format.h"

namespace sluice::store {

// A durable queue's live messages, by record offset, in log order.
struct RecoveredQueue {
  std::vector<OffsetRun> runs;
  std::uint64_t messages = 0;  // offsets in all runs
  // The first this many may have been delivered before: all of them after a crash; after a
  // clean stop, those up to the highest message id the queue had delivered (delivered_upto).
  std::uint64_t delivered_before = 0;
  MessageId delivered_upto = 0;
};

struct RecoveryStats {
  std::uint64_t segments = 0;       // segment files replayed
  std::uint64_t records = 0;        // good records read
  std::uint64_t live_messages = 0;  // (message, queue) pairs not acked or purged
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_dropped = 0;  // cut off by truncation
  std::uint64_t segments_truncated = 0;
  std::uint64_t segments_moved_aside = 0;
  std::uint64_t segments_deleted = 0;  // no live message left; filled in by MessageLog::open
  bool clean_stop = false;             // the log ends with a CleanStop record
  std::chrono::milliseconds elapsed{0};
};

struct Recovered {
  // Per queue, its live (un-acked) messages in log order. A message stored for two queues
  // appears in both, at the same offset.
  std::unordered_map<QueueId, RecoveredQueue> queues;
  // The largest message id in any record kept (messages and acks); the owner resumes after it.
  MessageId max_message_id = 0;
  RecoveryStats stats;
};

// Per-segment bookkeeping that decides when a segment file may go.
struct SegmentState {
  // Queue references to messages in this segment that are not acked yet.
  std::uint64_t live = 0;
  // Older segments that hold messages this segment acks (or purges). This segment must stay
  // until they are gone, or their acks would be lost and acked messages would come back.
  std::set<SegmentId> ack_targets;
};

struct RecoveryResult {
  Recovered recovered;
  std::map<SegmentId, SegmentState> segments;  // every segment kept, in id order
  SegmentId next_segment = 1;                  // higher than any id seen, corrupt ones included
};

struct RecoveryOptions {
  std::uint64_t progress_bytes = 256ull << 20;  // an info line every this many bytes read
};

// REQUIRES: nothing else uses `dir` while this runs.
Result<RecoveryResult> recover(Directory& dir, const RecoveryOptions& options);

}  // namespace sluice::store
