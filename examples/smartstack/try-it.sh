#!/usr/bin/env bash
# From SmartStack to hitless, end to end: a synapse + nerve pair for one service, imported into
# one hitless config, run against a real ZooKeeper (docs/migrating-from-smartstack.md).
#   ZK            a ZooKeeper to use                     (default 127.0.0.1:2181)
#   APP_PORT      where the example's app listens        (default 8081)
#   SYNAPSE_PORT  where synapse's HAProxy served the app (default 3213)
#   OFFSET        hitless listens at SYNAPSE_PORT+OFFSET, beside synapse (default 10000)
set -euo pipefail
ZK=${ZK:-127.0.0.1:2181}
APP_PORT=${APP_PORT:-8081}
SYNAPSE_PORT=${SYNAPSE_PORT:-3213}
OFFSET=${OFFSET:-10000}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# 1. synapse on the client hosts: the app, found in ZooKeeper, on a local port.
cat > "$WORK/synapse.conf.json" <<EOF
{
  "services": {
    "web": {
      "discovery": { "method": "zookeeper", "hosts": ["$ZK"], "path": "/nerve/services/web/services" },
      "haproxy": {
        "port": $SYNAPSE_PORT,
        "server_options": "check inter 2s rise 3 fall 2",
        "listen": ["mode http", "option httpchk GET /health"]
      }
    }
  },
  "haproxy": {
    "reload_command": "service haproxy reload",
    "config_file_path": "/etc/haproxy/haproxy.cfg",
    "global": ["daemon", "maxconn 4096"],
    "defaults": ["timeout connect 5s", "timeout client 1m", "timeout server 1m"]
  }
}
EOF

# 2. nerve on the app's hosts: announce the app while its health check passes.
cat > "$WORK/nerve.conf.json" <<EOF
{
  "instance_id": "app-1",
  "services": {
    "web": {
      "host": "127.0.0.1",
      "port": $APP_PORT,
      "zk_hosts": ["$ZK"],
      "zk_path": "/nerve/services/web/services",
      "check_interval": 1,
      "checks": [{ "type": "http", "uri": "/health", "timeout": 0.5, "rise": 2, "fall": 2 }]
    }
  }
}
EOF

# 3. The app: any HTTP server will do; this one says hello on every path.
node -e "require('http').createServer((q, s) => s.end('hello from the app\n')).listen($APP_PORT, '127.0.0.1')" &
PIDS+=($!)

# 4. One command, one config: synapse's services and nerve's registration. What was not carried
#    over is listed on stderr, with why and what to do instead.
hitless import synapse "$WORK/synapse.conf.json" --nerve "$WORK/nerve.conf.json" \
  --port-offset "$OFFSET" --admin "unix:$WORK/admin.sock" > "$WORK/hitless.yaml"
hitless validate "$WORK/hitless.yaml"
cat "$WORK/hitless.yaml"

# 5. hitless registers the app (nerve's part) and serves it (synapse's part), beside synapse.
hitless run --config "$WORK/hitless.yaml" --drain 1s &
PIDS+=($!)

# 6. Through hitless to the app, once the app has registered (rise 2 checks, a second apart).
for _ in $(seq 1 100); do
  if curl -fs "http://127.0.0.1:$((SYNAPSE_PORT + OFFSET))/"; then
    hitless status --admin "unix:$WORK/admin.sock"
    exit 0
  fi
  sleep 0.2
done
echo "no answer through hitless on port $((SYNAPSE_PORT + OFFSET))" >&2
exit 1
