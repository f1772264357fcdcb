# racebench framed output, version 1: how a task on a swarm hands files back
# through its standard output (the one channel the manager relays from any
# node). Source this file, then for each file: rbx_emit NAME PATH; at the end:
# rbx_done. Lines that do not start with "RBX1 " are ordinary output.
# Needs a POSIX sh, wc, sha256sum, base64 (-w) and awk (coreutils or busybox).

RBX_COUNT=0

# rbx_emit NAME PATH: NAME is [A-Za-z0-9._/-]+, PATH a readable file.
rbx_emit() {
  rbx_size=$(wc -c <"$2") || return 1
  rbx_sum=$(sha256sum <"$2" | cut -d' ' -f1) || return 1
  echo "RBX1 BEGIN $1 $((rbx_size + 0)) $rbx_sum"
  base64 -w 3072 <"$2" | awk -v n="$1" '{ print "RBX1 DATA " n " " NR - 1 " " $0 }'
  echo "RBX1 END $1"
  RBX_COUNT=$((RBX_COUNT + 1))
}

# rbx_done: the trailer; without it the runner takes the output as cut short.
rbx_done() {
  echo "RBX1 DONE $RBX_COUNT"
}
