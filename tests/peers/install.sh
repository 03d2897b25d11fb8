#!/usr/bin/env bash
# Installs the real peers the integration tests start (Prometheus, node_exporter,
# Alertmanager, Ganglia, rrdtool, Icinga 2, Dovecot's IMAP server, Chromium and an emoji font) from
# Debian's packages when missing, and readies what the container tests need: a Docker engine,
# docker-compose, and a Debian base image.
set -euo pipefail
need=()
for pair in prometheus:prometheus prometheus-node-exporter:prometheus-node-exporter \
            prometheus-alertmanager:prometheus-alertmanager gmetad:gmetad gmond:ganglia-monitor \
            rrdtool:rrdtool chromium:chromium promtool:prometheus icinga2:icinga2-bin \
            dockerd:docker.io debootstrap:debootstrap docker-compose:docker-compose \
            dovecot:dovecot-imapd; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
# the browser test's screenshot shows the emoji pagerbot posts (status, alerts) rather than empty boxes
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing test peers: ${need[*]} (install them as root: apt-get install ${need[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
# Debian starts some of these as services on their default ports; the tests use their own ports,
# so the services are only stopped to keep the machine quiet.
for svc in prometheus prometheus-node-exporter prometheus-alertmanager gmetad ganglia-monitor dovecot; do
  service "$svc" stop >/dev/null 2>&1 || true
done

# --- the container tests (tests/container) ---
bash "$(dirname "$0")/docker.sh"
