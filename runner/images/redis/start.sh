#!/bin/sh
# Writes the pod's ACL (the password comes from REDIS_PASSWORD), then runs
# Redis. `default` may not reconfigure, replicate, migrate keys to other hosts,
# run scripts that outlive a test's reach (MODULE) or stop the server.
set -eu
: "${REDIS_PASSWORD:?racebench sets a password per pod}"
conf=/tmp/redis.conf
cp /etc/racebench/redis.conf "$conf"
printf 'user default on >%s ~* &* +@all -config -debug -module -migrate -replicaof -slaveof -sync -psync -failover -shutdown -monitor -acl -save -bgsave -bgrewriteaof -cluster\n' \
  "$REDIS_PASSWORD" >> "$conf"
unset REDIS_PASSWORD
exec redis-server "$conf"
