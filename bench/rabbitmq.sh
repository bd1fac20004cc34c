#!/usr/bin/env bash
# Starts or stops a private RabbitMQ node for the benchmark, isolated from any other node on the
# machine: its own node name, ports, HOME (and so Erlang cookie), data and log directories.
#
#   bench/rabbitmq.sh start DIR   # DIR is created if missing; prints nothing on success
#   bench/rabbitmq.sh stop DIR
#
# Both listeners bind 127.0.0.1 only. Ports: BENCH_RABBITMQ_PORT (AMQP, default 27672) and
# BENCH_RABBITMQ_DIST_PORT (Erlang distribution, default 27673). The node runs RabbitMQ's
# defaults with no plugins, so the comparison is with RabbitMQ as Debian ships it.
set -euo pipefail

cmd=${1:?usage: rabbitmq.sh start|stop DIR}
dir=${2:?usage: rabbitmq.sh start|stop DIR}
port=${BENCH_RABBITMQ_PORT:-27672}
dist_port=${BENCH_RABBITMQ_DIST_PORT:-27673}
node=${BENCH_RABBITMQ_NODE:-bench@localhost}

# Debian's /usr/sbin wrappers switch to the rabbitmq user, which drops HOME (and with it the
# private Erlang cookie) and cannot write a root-owned temp dir; call the real scripts.
bin=${BENCH_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}

rabbit_env() {
  env HOME="$dir" RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
    RABBITMQ_NODENAME="$node" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT="$dist_port" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    "$@"
}

case "$cmd" in
  start)
    mkdir -p "$dir/mnesia" "$dir/log"
    echo '[].' >"$dir/enabled_plugins"
    # An empty config file keeps a system-wide /etc/rabbitmq/rabbitmq.conf out of the run.
    : >"$dir/rabbitmq.conf"
    rabbit_env "$bin/rabbitmq-server" -detached
    # `wait` first waits for the pid file (the node may not be registered yet), then for the
    # broker application to start.
    if ! rabbit_env timeout 120 "$bin/rabbitmqctl" -q -n "$node" wait --timeout 100 \
        "$dir/rabbitmq.pid" >/dev/null; then
      echo "rabbitmq.sh: node $node did not start; see $dir/log" >&2
      exit 1
    fi
    ;;
  stop)
    # Given the pid file, stop also waits for the Erlang VM to exit.
    rabbit_env timeout 60 "$bin/rabbitmqctl" -q -n "$node" stop "$dir/rabbitmq.pid" \
      >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: rabbitmq.sh start|stop DIR" >&2
    exit 2
    ;;
esac
